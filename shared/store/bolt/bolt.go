// Package bolt is the embedded state store: one bbolt file, the default for the `aos` CLI and
// `aos serve`. It keeps the same rules as the DynamoDB store: single-item conditional writes
// on a version attribute.
package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/aos-project/aos/shared/engine"
)

var (
	bucketStacks = []byte("stacks")
	bucketNodes  = []byte("nodes")
	bucketEvents = []byte("events")
)

// Store is a bbolt-backed engine.Store.
type Store struct{ db *bbolt.DB }

var _ engine.Store = (*Store)(nil)

// Open opens (creating if needed) the store file at path.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state store directory: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("the state file %s is in use by another aos process: one aos command at a time per state file (wait for it, or use another --state)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening state store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketStacks, bucketNodes, bucketEvents} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising state store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func nodeKey(stack, id string) []byte { return []byte(stack + "\x00" + id) }

// get reads one JSON item into v; ErrNotFound when absent.
func get(tx *bbolt.Tx, bucket, key []byte, v any) error {
	data := tx.Bucket(bucket).Get(key)
	if data == nil {
		return engine.ErrNotFound
	}
	return json.Unmarshal(data, v)
}

// putVersioned writes v if the stored item's version equals expect (0: absent).
func putVersioned(tx *bbolt.Tx, bucket, key []byte, expect int64, v any, setVersion func(int64)) error {
	var cur struct {
		Version int64 `json:"version"`
	}
	data := tx.Bucket(bucket).Get(key)
	if data != nil {
		if err := json.Unmarshal(data, &cur); err != nil {
			return err
		}
	}
	if cur.Version != expect {
		return fmt.Errorf("%w (stored version %d, expected %d)", engine.ErrVersionConflict, cur.Version, expect)
	}
	setVersion(expect + 1)
	out, err := json.Marshal(v)
	if err != nil {
		setVersion(expect)
		return err
	}
	return tx.Bucket(bucket).Put(key, out)
}

func (s *Store) GetStack(_ context.Context, name string) (*engine.StackRecord, error) {
	var r engine.StackRecord
	err := s.db.View(func(tx *bbolt.Tx) error { return get(tx, bucketStacks, []byte(name), &r) })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Store) ListStacks(_ context.Context) ([]*engine.StackRecord, error) {
	var out []*engine.StackRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketStacks).ForEach(func(k, v []byte) error {
			var r engine.StackRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("stack %q: %w", k, err)
			}
			out = append(out, &r)
			return nil
		})
	})
	return out, err
}

func (s *Store) DeleteStack(_ context.Context, name string) error {
	prefix := []byte(name + "\x00")
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketStacks).Delete([]byte(name)); err != nil {
			return err
		}
		c := tx.Bucket(bucketNodes).Cursor()
		for k, _ := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) PutStack(_ context.Context, r *engine.StackRecord, expect int64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return putVersioned(tx, bucketStacks, []byte(r.Name), expect, r, func(v int64) { r.Version = v })
	})
}

func (s *Store) GetNode(_ context.Context, stack, id string) (*engine.NodeRecord, error) {
	var r engine.NodeRecord
	err := s.db.View(func(tx *bbolt.Tx) error { return get(tx, bucketNodes, nodeKey(stack, id), &r) })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Store) PutNode(_ context.Context, r *engine.NodeRecord, expect int64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return putVersioned(tx, bucketNodes, nodeKey(r.Stack, r.ID), expect, r, func(v int64) { r.Version = v })
	})
}

func (s *Store) ListNodes(_ context.Context, stack string) ([]*engine.NodeRecord, error) {
	var out []*engine.NodeRecord
	prefix := []byte(stack + "\x00")
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketNodes).Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			var r engine.NodeRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("node %q: %w", k[len(prefix):], err)
			}
			out = append(out, &r)
		}
		return nil
	})
	return out, err
}

func (s *Store) AppendEvent(_ context.Context, e *engine.Event) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte(e.Stack))
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = int64(seq)
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put(binary.BigEndian.AppendUint64(nil, seq), data)
	})
}

func (s *Store) ListEvents(_ context.Context, stack string, after int64) ([]*engine.Event, error) {
	var out []*engine.Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(stack))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(after)+1)); k != nil; k, v = c.Next() {
			var e engine.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, &e)
		}
		return nil
	})
	return out, err
}
