// Package metered counts the requests an engine makes of its store: the cost side of a
// stack operation (each one is a DynamoDB request on AWS), reported by `aos up -o json` and
// make bench.
package metered

import (
	"context"
	"sync/atomic"

	"github.com/aos-project/aos/shared/engine"
)

// Store wraps an engine.Store and counts its read and write requests.
type Store struct {
	engine.Store
	reads, writes atomic.Int64
}

// Wrap counts the requests made of s.
func Wrap(s engine.Store) *Store { return &Store{Store: s} }

// Counts returns the read and write requests so far.
func (s *Store) Counts() (reads, writes int64) { return s.reads.Load(), s.writes.Load() }

func (s *Store) GetStack(ctx context.Context, name string) (*engine.StackRecord, error) {
	s.reads.Add(1)
	return s.Store.GetStack(ctx, name)
}

func (s *Store) PageStacks(ctx context.Context, after string, limit int) ([]*engine.StackRecord, error) {
	s.reads.Add(1)
	return s.Store.PageStacks(ctx, after, limit)
}

func (s *Store) ListStacks(ctx context.Context) ([]*engine.StackRecord, error) {
	s.reads.Add(1)
	return s.Store.ListStacks(ctx)
}

func (s *Store) DeleteStack(ctx context.Context, name string) error {
	s.writes.Add(1)
	return s.Store.DeleteStack(ctx, name)
}

func (s *Store) PutStack(ctx context.Context, r *engine.StackRecord, expect int64) error {
	s.writes.Add(1)
	return s.Store.PutStack(ctx, r, expect)
}

func (s *Store) GetNode(ctx context.Context, stack, id string) (*engine.NodeRecord, error) {
	s.reads.Add(1)
	return s.Store.GetNode(ctx, stack, id)
}

func (s *Store) PutNode(ctx context.Context, n *engine.NodeRecord, expect int64) error {
	s.writes.Add(1)
	return s.Store.PutNode(ctx, n, expect)
}

func (s *Store) PutNodes(ctx context.Context, nodes []*engine.NodeRecord) error {
	s.writes.Add(1)
	return s.Store.PutNodes(ctx, nodes)
}

func (s *Store) ListNodes(ctx context.Context, stack string) ([]*engine.NodeRecord, error) {
	s.reads.Add(1)
	return s.Store.ListNodes(ctx, stack)
}

// ListNodesShared passes on the store's shared listing (engine's sharedLister), or lists
// copies when it has none.
func (s *Store) ListNodesShared(ctx context.Context, stack string) ([]*engine.NodeRecord, error) {
	s.reads.Add(1)
	if l, ok := s.Store.(interface {
		ListNodesShared(context.Context, string) ([]*engine.NodeRecord, error)
	}); ok {
		return l.ListNodesShared(ctx, stack)
	}
	return s.Store.ListNodes(ctx, stack)
}

func (s *Store) PutRevision(ctx context.Context, stack string, r *engine.Revision) error {
	s.writes.Add(1)
	return s.Store.PutRevision(ctx, stack, r)
}

func (s *Store) ListRevisions(ctx context.Context, stack string) ([]*engine.Revision, error) {
	s.reads.Add(1)
	return s.Store.ListRevisions(ctx, stack)
}

func (s *Store) AppendEvent(ctx context.Context, e *engine.Event) error {
	s.writes.Add(1)
	return s.Store.AppendEvent(ctx, e)
}

func (s *Store) ListEvents(ctx context.Context, stack string, after int64, limit int) ([]*engine.Event, error) {
	s.reads.Add(1)
	return s.Store.ListEvents(ctx, stack, after, limit)
}

// AppendEvents is one write where the store appends several events at once, else one per
// event.
func (s *Store) AppendEvents(ctx context.Context, evs []*engine.Event) error {
	if b, ok := s.Store.(interface {
		AppendEvents(context.Context, []*engine.Event) error
	}); ok {
		s.writes.Add(1)
		return b.AppendEvents(ctx, evs)
	}
	for _, e := range evs {
		if err := s.AppendEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}
