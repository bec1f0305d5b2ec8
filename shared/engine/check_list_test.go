package engine_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/store/bolt"
)

// Check-ready reads the store's own READY records and gets copies of the rest, which it may
// change without changing what the store hands anyone else.
func TestACheckSharesOnlyTheRecordsItDoesNotChange(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for id, status := range map[string]engine.NodeStatus{"ready": engine.NodeReady, "waiting": engine.NodeWaiting, "pending": engine.NodePending} {
		if err := st.PutNode(ctx, &engine.NodeRecord{Stack: "s", ID: id, Status: status}, 0); err != nil {
			t.Fatal(err)
		}
	}
	e := &engine.Engine{Store: st}
	got, err := e.ListForCheck(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	shared, _ := st.ListNodesShared(ctx, "s")
	for i, n := range got {
		if same := n == shared[i]; same != (n.Status == engine.NodeReady) {
			t.Errorf("%s (%s): shared with the store %v, want %v", n.ID, n.Status, same, !same)
		}
		if n.Status != engine.NodeReady { // the check's own copy: its to change
			n.Reason = "changed by the check"
		}
	}
	for _, n := range shared {
		if n.Reason != "" {
			t.Errorf("the check's change to its copy of %s reached the store's record", n.ID)
		}
	}

	// A store that cannot share gives copies of every record.
	e.Store = struct{ engine.Store }{st}
	if got, err = e.ListForCheck(ctx, "s"); err != nil || len(got) != 3 {
		t.Fatalf("ListForCheck on a store that does not share: %d records, %v", len(got), err)
	}
	for i, n := range got {
		if n == shared[i] {
			t.Errorf("%s: shared by a store that does not share", n.ID)
		}
	}
}
