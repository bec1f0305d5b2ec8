package bolt

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aos-project/aos/shared/engine"
)

func sharedStore(t *testing.T, verify bool) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.verifyShared = verify
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		n := &engine.NodeRecord{Stack: "s", ID: id, Status: engine.NodeReady,
			Manifest: map[string]any{"kind": "ConfigMap", "data": map[string]any{"k": "v"}}}
		if err := s.PutNode(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// A shared record stays the one every listing returns until it is written again; then the
// listing returns a new one, and whoever holds the old one still reads what it was.
func TestASharedRecordIsKeptUntilItIsWrittenAgain(t *testing.T) {
	s, ctx := sharedStore(t, false), context.Background()
	first, err := s.ListNodesShared(ctx, "s")
	if err != nil || len(first) != 2 {
		t.Fatalf("ListNodesShared = %d records, %v", len(first), err)
	}
	again, _ := s.ListNodesShared(ctx, "s")
	if again[0] != first[0] || again[1] != first[1] {
		t.Fatal("a listing of unchanged records decoded them again, or copied them")
	}
	own := *first[1]
	own.Status, own.Reason = engine.NodeFailed, "Changed"
	if err := s.PutNode(ctx, &own, own.Version); err != nil {
		t.Fatal(err)
	}
	after, _ := s.ListNodesShared(ctx, "s")
	if after[0] != first[0] {
		t.Error("a record nobody wrote was decoded again")
	}
	if after[1] == first[1] || after[1].Status != engine.NodeFailed || after[1].Reason != "Changed" {
		t.Fatalf("after a write the listing returned %+v, want the written record", after[1])
	}
	if first[1].Status != engine.NodeReady || first[1].Reason != "" {
		t.Fatalf("the record a caller held changed under it: %+v", first[1])
	}
	copied, _ := s.ListNodes(ctx, "s")
	if copied[0] == first[0] {
		t.Fatal("ListNodes returned the shared record, not a copy")
	}
}

// With verification on, a caller that changes a shared record, or a map a copy shares with
// the store, is told at the next read, by field name and without the values.
func TestVerificationCatchesAChangedSharedRecord(t *testing.T) {
	s, ctx := sharedStore(t, true), context.Background()
	shared, err := s.ListNodesShared(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	shared[0].Reason = "secret-ish"
	_, err = s.ListNodesShared(ctx, "s")
	if err == nil || !strings.Contains(err.Error(), `"s\x00a"`) || !strings.Contains(err.Error(), "(fields reason)") {
		t.Fatalf("after a shared record was changed: %v", err)
	}
	if strings.Contains(err.Error(), "secret-ish") {
		t.Fatalf("the error carries the record's values: %v", err)
	}

	s = sharedStore(t, true)
	n, err := s.GetNode(ctx, "s", "b")
	if err != nil {
		t.Fatal(err)
	}
	n.Manifest["data"].(map[string]any)["k"] = "changed in place"
	if _, err := s.ListNodes(ctx, "s"); err == nil || !strings.Contains(err.Error(), "(fields manifest)") {
		t.Fatalf("after a copy's map was changed in place: %v", err)
	}
}
