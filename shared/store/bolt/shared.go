package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aos-project/aos/shared/engine"
)

// ListNodesShared is ListNodes without the copies: it returns the store's own decodings, which
// every caller shares until a record is written again (and then gets a new one). Check-ready
// lists the whole stack at every turn and changes only the records still in flight; copying
// every record for it was over a third of the bytes a 1,000-node `aos up` allocated.
//
// The records must not be changed, not even a field of a map or slice they hold: copy one
// (c := *n) to change its fields. With EnvVerifyShared set, the store checks that at every
// use.
func (s *Store) ListNodesShared(_ context.Context, stack string) ([]*engine.NodeRecord, error) {
	return s.listNodes(stack, func(c *engine.NodeRecord) *engine.NodeRecord { return c })
}

// EnvVerifyShared, when set, makes the store encode each decoding it makes and check it
// against that encoding whenever it hands the decoding out again: a caller that changed a
// shared record (or a map or slice in a copy of one) fails loudly instead of corrupting what
// the next caller reads. make test sets it; it costs an encoding per record read.
const EnvVerifyShared = "AOS_STORE_VERIFY_SHARED"

// seal keeps c's encoding, when the store verifies.
func (s *Store) seal(c *cachedNode) error {
	if !s.verifyShared {
		return nil
	}
	b, err := json.Marshal(&c.rec)
	c.sealed = b
	return err
}

// verify reports a decoding that changed since seal.
func (s *Store) verify(key []byte, c *cachedNode) error {
	if !s.verifyShared {
		return nil
	}
	b, err := json.Marshal(&c.rec)
	if err != nil {
		return err
	}
	if !bytes.Equal(b, c.sealed) {
		return fmt.Errorf("node record %q: a caller changed the store's cached decoding of it (fields %s), which other callers share (ListNodesShared; or a map or slice of a copy): copy a record, and its maps and slices, before changing them", key, changedFields(b, c.sealed))
	}
	return nil
}

// changedFields names the top-level fields whose encodings differ: the names, not the values,
// so that the error carries nothing the record holds.
func changedFields(a, b []byte) string {
	var x, y map[string]json.RawMessage
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	var out []string
	for k, v := range x {
		if !bytes.Equal(v, y[k]) {
			out = append(out, k)
		}
	}
	for k := range y {
		if _, ok := x[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
