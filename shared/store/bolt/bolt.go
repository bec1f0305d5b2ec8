// Package bolt is the embedded state store: one bbolt file, the default for the `aos` CLI and
// `aos serve`. It keeps the same rules as the DynamoDB store: single-item conditional writes
// on a version attribute.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aos-project/aos/shared/engine"
)

var (
	bucketStacks = []byte("stacks")
	bucketNodes  = []byte("nodes")
	bucketEvents = []byte("events")
	bucketRevs   = []byte("revisions")
)

// Store is a bbolt-backed engine.Store. The file is open only while this process uses it
// (file.go), so a second aos process — `aos status` beside a running `aos up`, or a second
// `aos up` that must be told the stack is busy — gets its turn between writes instead of
// waiting for the whole operation.
type Store struct {
	path    string
	timeout time.Duration

	mu       sync.Mutex
	db       *bbolt.DB
	users    int
	closed   bool
	openedAt time.Time
	idle     *time.Timer // closes the file after linger without a transaction
	bell     *os.File    // <file>.wait: rung while waiting for the file (file.go)

	// stacks caches decoded stack records by name with the bytes they were decoded from: a
	// stack record carries its template, and every apply-node reads it, so a 1,000-node stack
	// decoded its template a thousand times. Reusing the decoded record while the stored
	// bytes are unchanged costs a comparison instead.
	cacheMu sync.Mutex
	stacks  map[string]*cachedStack
	// nodes does the same for node records: check-ready lists every node of the stack at
	// each turn, and decoding them all was most of its CPU at 4,000 nodes. Both maps hold
	// pointers: reading a 600-byte value out of a map copied it to the heap, 6 MB a turn at
	// 10,000 nodes.
	nodes map[string]*cachedNode
	// verifyShared: check at each use that no decoding changed since it was made (shared.go).
	verifyShared bool
}

type cachedNode struct {
	raw []byte
	rec engine.NodeRecord
	// sealed is rec encoded when it was decoded, kept only when the store verifies that no
	// caller changes a decoding it shares (shared.go).
	sealed []byte
}

// decodeNode decodes a node record into r, or copies the last decoding of the same bytes. The
// record is the caller's: its slices are clipped, so an append copies them.
func (s *Store) decodeNode(key, data []byte, r *engine.NodeRecord) error {
	c, err := s.cachedNode(key, data)
	if err != nil {
		return err
	}
	*r = *c
	return nil
}

// cachedNode returns the decoding of a node record's bytes, decoding them only when they
// differ from the last ones seen under key. A decoding is never changed once made: a record
// written again gets a new one, so a caller holding the old one (ListNodesShared) keeps it
// intact.
func (s *Store) cachedNode(key, data []byte) (*engine.NodeRecord, error) {
	s.cacheMu.Lock()
	c, ok := s.nodes[string(key)]
	s.cacheMu.Unlock()
	if !ok || !bytes.Equal(c.raw, data) {
		c = &cachedNode{raw: bytes.Clone(data)}
		if err := json.Unmarshal(data, &c.rec); err != nil {
			return nil, err
		}
		r := &c.rec
		r.DependsOn, r.Objects, r.Keep, r.TextRefs, r.Sensitive, r.Stacks, r.Outputs, r.Conds =
			slices.Clip(r.DependsOn), slices.Clip(r.Objects), slices.Clip(r.Keep), slices.Clip(r.TextRefs),
			slices.Clip(r.Sensitive), slices.Clip(r.Stacks), slices.Clip(r.Outputs), slices.Clip(r.Conds)
		if err := s.seal(c); err != nil {
			return nil, err
		}
		s.cacheMu.Lock()
		if s.nodes == nil {
			s.nodes = map[string]*cachedNode{}
		}
		s.nodes[string(key)] = c
		s.cacheMu.Unlock()
	} else if err := s.verify(key, c); err != nil {
		return nil, err
	}
	return &c.rec, nil
}

type cachedStack struct {
	raw []byte
	rec engine.StackRecord
}

// copyStack returns a record callers may change: its pointer fields are copied; its maps are
// only ever replaced, never changed in place.
func copyStack(r *engine.StackRecord) *engine.StackRecord {
	c := *r
	if r.Lease != nil {
		l := *r.Lease
		c.Lease = &l
	}
	if r.Previous != nil {
		p := *r.Previous
		c.Previous = &p
	}
	if r.Schedule != nil {
		s := *r.Schedule
		c.Schedule = &s
	}
	return &c
}

var _ engine.Store = (*Store)(nil)

// DefaultLockTimeout is how long a transaction waits for another process's transaction.
const DefaultLockTimeout = 10 * time.Second

// Open opens (creating if needed) the store file at path.
func Open(path string) (*Store, error) { return OpenTimeout(path, DefaultLockTimeout) }

// OpenTimeout is Open with the time a transaction waits for the file lock.
func OpenTimeout(path string, lockTimeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state store directory: %w", err)
	}
	s := &Store{path: path, timeout: lockTimeout, verifyShared: os.Getenv(EnvVerifyShared) != ""}
	err := s.update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketStacks, bucketNodes, bucketEvents, bucketRevs, bucketTemplates} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("initialising state store: %w", err)
	}
	return s, nil
}

func (s *Store) view(fn func(*bbolt.Tx) error) error {
	db, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	return db.View(fn)
}

func (s *Store) update(fn func(*bbolt.Tx) error) error {
	db, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	return db.Update(fn)
}

// batchDelay is how long a write waits for others to share its commit. Each commit is an
// fdatasync, and an apply turn writes from up to 40 goroutines at once: one commit for many
// writes made a 1,000-node stack's run several times cheaper in system time than one each.
const batchDelay = 2 * time.Millisecond

// batch is update for the writes the engine makes many of at once (node records, events):
// concurrent calls share one transaction and one commit (bbolt's DB.Batch). fn may run more
// than once — a batch that fails is rolled back and each fn run again alone — so it must
// only write through tx.
func (s *Store) batch(fn func(*bbolt.Tx) error) error {
	db, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release()
	return db.Batch(fn)
}

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
	var out *engine.StackRecord
	err := s.view(func(tx *bbolt.Tx) error {
		data := tx.Bucket(bucketStacks).Get([]byte(name))
		if data == nil {
			return engine.ErrNotFound
		}
		s.cacheMu.Lock()
		defer s.cacheMu.Unlock()
		if c, ok := s.stacks[name]; ok && bytes.Equal(c.raw, data) {
			out = copyStack(&c.rec)
			return nil
		}
		var r engine.StackRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return err
		}
		if err := inlineStack(tx, &r); err != nil {
			return err
		}
		if s.stacks == nil {
			s.stacks = map[string]*cachedStack{}
		}
		// data lives in bbolt's memory map only for the transaction: keep a copy.
		s.stacks[name] = &cachedStack{raw: bytes.Clone(data), rec: r}
		out = copyStack(&r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) ListStacks(_ context.Context) ([]*engine.StackRecord, error) {
	var out []*engine.StackRecord
	err := s.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketStacks).ForEach(func(k, v []byte) error {
			r, err := decodeStack(tx, k, v)
			if err == nil {
				out = append(out, r)
			}
			return err
		})
	})
	return out, err
}

func (s *Store) PageStacks(_ context.Context, after string, limit int) ([]*engine.StackRecord, error) {
	var out []*engine.StackRecord
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketStacks).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			r, err := decodeStack(tx, k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// decodeStack reads a stored stack record, its templates put back.
func decodeStack(tx *bbolt.Tx, k, v []byte) (*engine.StackRecord, error) {
	var r engine.StackRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("stack %q: %w", k, err)
	}
	return &r, inlineStack(tx, &r)
}

func (s *Store) DeleteStack(_ context.Context, name string) error {
	prefix := []byte(name + "\x00")
	s.cacheMu.Lock()
	for k := range s.nodes {
		if strings.HasPrefix(k, string(prefix)) {
			delete(s.nodes, k)
		}
	}
	s.cacheMu.Unlock()
	return s.update(func(tx *bbolt.Tx) error {
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
	return s.update(func(tx *bbolt.Tx) error {
		stored, err := outlineStack(tx, r)
		if err != nil {
			return err
		}
		return putVersioned(tx, bucketStacks, []byte(r.Name), expect, stored, func(v int64) { r.Version, stored.Version = v, v })
	})
}

func (s *Store) GetNode(_ context.Context, stack, id string) (*engine.NodeRecord, error) {
	var r *engine.NodeRecord
	err := s.view(func(tx *bbolt.Tx) error {
		key := nodeKey(stack, id)
		data := tx.Bucket(bucketNodes).Get(key)
		if data == nil {
			return engine.ErrNotFound
		}
		r = new(engine.NodeRecord)
		return s.decodeNode(key, data, r)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Store) PutNode(_ context.Context, r *engine.NodeRecord, expect int64) error {
	err := s.batch(func(tx *bbolt.Tx) error {
		return putVersioned(tx, bucketNodes, nodeKey(r.Stack, r.ID), expect, r, func(v int64) { r.Version = v })
	})
	if err != nil {
		r.Version = expect // a run that a rolled-back batch counted does not stand
	}
	return err
}

// PutNodes writes the records in one transaction, each conditional on its version: all or
// none.
func (s *Store) PutNodes(_ context.Context, nodes []*engine.NodeRecord) error {
	expect := make([]int64, len(nodes))
	for i, n := range nodes {
		expect[i] = n.Version
	}
	// bbolt may run fn again (alone, if another function of its batch fails): each run
	// starts from the versions the caller gave.
	err := s.batch(func(tx *bbolt.Tx) error {
		for i, n := range nodes {
			if err := putVersioned(tx, bucketNodes, nodeKey(n.Stack, n.ID), expect[i], n, func(v int64) { n.Version = v }); err != nil {
				return fmt.Errorf("node %s/%s: %w; none of the %d records written", n.Stack, n.ID, err, len(nodes))
			}
		}
		return nil
	})
	if err != nil {
		for i, n := range nodes {
			n.Version = expect[i]
		}
	}
	return err
}

func (s *Store) ListNodes(_ context.Context, stack string) ([]*engine.NodeRecord, error) {
	return s.listNodes(stack, func(c *engine.NodeRecord) *engine.NodeRecord {
		r := *c
		return &r
	})
}

// listNodes lists a stack's records in id order, each the cached decoding (cachedNode) as
// take returns it.
func (s *Store) listNodes(stack string, take func(*engine.NodeRecord) *engine.NodeRecord) ([]*engine.NodeRecord, error) {
	var out []*engine.NodeRecord
	prefix := []byte(stack + "\x00")
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketNodes).Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			r, err := s.cachedNode(k, v)
			if err != nil {
				return fmt.Errorf("node %q: %w", k[len(prefix):], err)
			}
			out = append(out, take(r))
		}
		return nil
	})
	return out, err
}

func (s *Store) AppendEvent(ctx context.Context, e *engine.Event) error {
	return s.AppendEvents(ctx, []*engine.Event{e})
}

// AppendEvents appends events in order in one transaction: check-ready records a turn's
// transitions with one commit.
func (s *Store) AppendEvents(_ context.Context, evs []*engine.Event) error {
	return s.batch(func(tx *bbolt.Tx) error {
		for _, e := range evs {
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
			if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), data); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) ListEvents(_ context.Context, stack string, after int64, limit int) ([]*engine.Event, error) {
	var out []*engine.Event
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(stack))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(after)+1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
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

func (s *Store) PutRevision(_ context.Context, stack string, r *engine.Revision) error {
	return s.update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bucketRevs).CreateBucketIfNotExists([]byte(stack))
		if err != nil {
			return err
		}
		stored := *r
		if stored.Template, err = outline(tx, r.Template); err != nil {
			return err
		}
		data, err := json.Marshal(&stored)
		if err != nil {
			return err
		}
		return b.Put(binary.BigEndian.AppendUint64(nil, uint64(r.Number)), data)
	})
}

func (s *Store) ListRevisions(_ context.Context, stack string) ([]*engine.Revision, error) {
	var out []*engine.Revision
	err := s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRevs).Bucket([]byte(stack))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var r engine.Revision
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			var err error
			if r.Template, err = inline(tx, r.Template); err != nil {
				return fmt.Errorf("stack %q revision %d: %w", stack, r.Number, err)
			}
			out = append(out, &r)
			return nil
		})
	})
	return out, err
}
