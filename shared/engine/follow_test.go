package engine

import (
	"slices"
	"testing"
)

// What a follower may start once some nodes are READY is decide's rule, restricted to the
// dependents it looks at.
func TestUnblocked(t *testing.T) {
	rec := func(id string, st NodeStatus, deps ...string) *NodeRecord {
		return &NodeRecord{ID: id, Status: st, DependsOn: deps}
	}
	recs := map[string]*NodeRecord{
		"a":       rec("a", NodeReady),
		"b":       rec("b", NodeWaiting),
		"s":       rec("s", NodeSkipped),
		"one":     rec("one", NodePending, "a"),
		"both":    rec("both", NodePending, "a", "b"),
		"skipped": rec("skipped", NodePending, "a", "s"),
		"started": rec("started", NodeWaiting, "a"),
		"dropped": {ID: "dropped", Status: NodePending, DependsOn: []string{"a"}, Remove: true},
		"stacks":  {ID: "stacks", Status: NodePending, DependsOn: []string{"a"}, Stacks: []string{"other"}},
		"unknown": rec("unknown", NodePending, "a", "nowhere"),
	}
	got := unblocked([]string{"one", "both", "skipped", "started", "dropped", "stacks", "unknown", "one", "missing"}, recs)
	if want := []string{"one", "skipped"}; !slices.Equal(got, want) {
		t.Fatalf("unblocked = %v, want %v", got, want)
	}
	recs["b"].Status = NodeReady
	if got := unblocked([]string{"both"}, recs); !slices.Equal(got, []string{"both"}) {
		t.Fatalf("both dependencies READY: %v", got)
	}
}

func TestMayStart(t *testing.T) {
	st := &StackRecord{Status: StackUpdateInProgress, Revision: 3}
	if !mayStart(st) {
		t.Fatal("an update in progress may start nodes")
	}
	st.Failing = failingKey(st)
	if mayStart(st) {
		t.Fatal("a node failed in this update: nothing new starts")
	}
	// The rollback that follows is another operation.
	st.Status = StackRollbackInProgress
	if !mayStart(st) {
		t.Fatal("the rollback after a failed update may start nodes")
	}
	st.CancelRequested = true
	if mayStart(st) {
		t.Fatal("cancelled: nothing new starts")
	}
	if mayStart(&StackRecord{Status: StackDeleteInProgress}) {
		t.Fatal("a delete is not followed")
	}
}
