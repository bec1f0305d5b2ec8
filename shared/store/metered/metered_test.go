package metered

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/store/bolt"
	"github.com/aos-project/aos/shared/store/storetest"
)

// The wrapper is a Store like any other, and counts what passes through it.
func TestConformanceAndCounts(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engine.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return Wrap(s)
	})
	s, _ := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	m := Wrap(s)
	ctx := context.Background()
	_ = m.PutStack(ctx, &engine.StackRecord{Name: "a"}, 0)
	_ = m.AppendEvent(ctx, &engine.Event{Stack: "a"})
	_, _ = m.GetStack(ctx, "a")
	_, _ = m.ListNodes(ctx, "a")
	_, _ = m.ListEvents(ctx, "a", 0, 0)
	if r, w := m.Counts(); r != 3 || w != 2 {
		t.Fatalf("counts: %d reads, %d writes; want 3, 2", r, w)
	}
}
