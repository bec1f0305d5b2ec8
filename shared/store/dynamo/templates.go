package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aos-project/aos/shared/engine"
)

// A stack record holds its template and the last good revision's, and every revision record
// holds one: a large template would be written again with every record that carries it. A
// template over inlineTemplate bytes is stored once, as a blob named by its digest, and each
// record carries the digest ("tpl" for a stack's or a revision's template, "prevTpl" for the
// last good revision's in a stack record): one copy per distinct template, however many
// records name it. Templates never change under a digest, so each process keeps the ones it
// has read.
const inlineTemplate = 32 << 10

type templateCache struct {
	mu      sync.Mutex
	text    map[string]string
	written map[string]bool // digests this process has stored
}

// maxCached bounds the cache; it starts afresh past it.
const maxCached = 64

func (c *templateCache) get(digest string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.text[digest]
	return t, ok
}

func (c *templateCache) put(digest, text string, written bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.text == nil || len(c.text) >= maxCached {
		c.text, c.written = map[string]string{}, map[string]bool{}
	}
	c.text[digest] = text
	if written {
		c.written[digest] = true
	}
}

func (c *templateCache) stored(digest string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written[digest]
}

// storeTemplate moves a large template out of a record: it stores the blob (once per
// process and digest) and returns the digest to put in the item, or "" for a template kept
// inline.
func (s *Store) storeTemplate(ctx context.Context, stack string, text *string) (string, error) {
	if len(*text) <= inlineTemplate {
		return "", nil
	}
	sum := sha256.Sum256([]byte(*text))
	digest := hex.EncodeToString(sum[:])
	if !s.templates.stored(digest) {
		if err := s.writeBlob(ctx, stack, digest, []byte(*text)); err != nil {
			return "", err
		}
		s.templates.put(digest, *text, true)
	}
	*text = ""
	return digest, nil
}

// loadTemplate reads a template a record names by digest.
func (s *Store) loadTemplate(ctx context.Context, stack, digest string) (string, error) {
	if t, ok := s.templates.get(digest); ok {
		return t, nil
	}
	data, err := s.readBlob(ctx, stack, digest)
	if err != nil {
		return "", fmt.Errorf("template of stack %s: %w", stack, err)
	}
	s.templates.put(digest, string(data), false)
	return string(data), nil
}

// outline is a copy of a record with its large templates moved out, and the item attributes
// that name them.
func (s *Store) outline(ctx context.Context, stack string, v any) (any, map[string]types.AttributeValue, error) {
	attrs := map[string]types.AttributeValue{}
	set := func(name string, text *string) error {
		digest, err := s.storeTemplate(ctx, stack, text)
		if digest != "" {
			attrs[name] = &types.AttributeValueMemberS{Value: digest}
		}
		return err
	}
	switch r := v.(type) {
	case *engine.StackRecord:
		c := *r
		if err := set("tpl", &c.Template); err != nil {
			return nil, nil, err
		}
		if r.Previous != nil {
			p := *r.Previous
			c.Previous = &p
			if err := set("prevTpl", &p.Template); err != nil {
				return nil, nil, err
			}
		}
		return &c, attrs, nil
	case *engine.Revision:
		c := *r
		if err := set("tpl", &c.Template); err != nil {
			return nil, nil, err
		}
		return &c, attrs, nil
	}
	return v, attrs, nil
}

// inline puts back the templates an item names into the record read from it.
func (s *Store) inline(ctx context.Context, stack string, item map[string]types.AttributeValue, v any) error {
	load := func(name string, into *string) error {
		a, ok := item[name].(*types.AttributeValueMemberS)
		if !ok {
			return nil
		}
		t, err := s.loadTemplate(ctx, stack, a.Value)
		*into = t
		return err
	}
	switch r := v.(type) {
	case *engine.StackRecord:
		if err := load("tpl", &r.Template); err != nil {
			return err
		}
		if r.Previous != nil {
			return load("prevTpl", &r.Previous.Template)
		}
	case *engine.Revision:
		return load("tpl", &r.Template)
	}
	return nil
}
