package bolt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/aos-project/aos/shared/engine"
)

// A stack record holds its template and the last good revision's, and every revision record
// holds one, so N stacks of a batch from one 1 MiB template wrote it about 3N times. A
// template over inlineTemplate bytes is stored once in bucketTemplates, under its digest, and
// the record holds outlinedPrefix+digest in its place. YAML and JSON text never holds a NUL,
// so no template can be mistaken for one; records written before this keep their text.
const (
	inlineTemplate = 32 << 10
	outlinedPrefix = "\x00aos-template-sha256:"
)

var bucketTemplates = []byte("templates")

func outline(tx *bbolt.Tx, text string) (string, error) {
	if len(text) <= inlineTemplate {
		return text, nil
	}
	sum := sha256.Sum256([]byte(text))
	digest := hex.EncodeToString(sum[:])
	b := tx.Bucket(bucketTemplates)
	if b.Get([]byte(digest)) == nil {
		if err := b.Put([]byte(digest), []byte(text)); err != nil {
			return "", err
		}
	}
	return outlinedPrefix + digest, nil
}

func inline(tx *bbolt.Tx, text string) (string, error) {
	digest, ok := strings.CutPrefix(text, outlinedPrefix)
	if !ok {
		return text, nil
	}
	data := tx.Bucket(bucketTemplates).Get([]byte(digest))
	if data == nil {
		return "", fmt.Errorf("template %s is missing from the state file", digest)
	}
	return string(data), nil
}

// outlineStack is the record as stored: a copy with its large templates outlined.
func outlineStack(tx *bbolt.Tx, r *engine.StackRecord) (*engine.StackRecord, error) {
	c := copyStack(r)
	var err error
	if c.Template, err = outline(tx, c.Template); err != nil {
		return nil, err
	}
	if c.Previous != nil {
		if c.Previous.Template, err = outline(tx, c.Previous.Template); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// inlineStack puts a stored record's templates back, in place.
func inlineStack(tx *bbolt.Tx, r *engine.StackRecord) error {
	var err error
	if r.Template, err = inline(tx, r.Template); err != nil {
		return fmt.Errorf("stack %q: %w", r.Name, err)
	}
	if r.Previous != nil {
		if r.Previous.Template, err = inline(tx, r.Previous.Template); err != nil {
			return fmt.Errorf("stack %q: %w", r.Name, err)
		}
	}
	return nil
}
