package engine

import (
	"slices"
	"testing"
	"time"
)

// The check after a Map tells the applies it was handed that left their event to it: not a
// node a follower applied (it told its own), nor one that is no longer WAITING. It tells the
// READY events the check before it left, of the ids that check reported READY: not those of
// nodes READY on their apply, which the check handed them told already.
func TestUntold(t *testing.T) {
	nodes := []*NodeRecord{
		{ID: "a", Status: NodeWaiting, Untold: true},
		{ID: "followed", Status: NodeWaiting},
		{ID: "failed", Status: NodeFailed, Untold: true},
		{ID: "other", Status: NodeWaiting, Untold: true},
		{ID: "on-apply", Status: NodeReady, Untold: true, AppliedReason: "Applied"},
		{ID: "judged", Status: NodeReady, Untold: true}, // READY by the last check, left to this one
		{ID: "followed-ready", Status: NodeReady},       // READY by a follower: told then
		{ID: "judged-elsewhere", Status: NodeReady, Untold: true},
	}
	ids := func(ns []*NodeRecord) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	all := []string{"a", "followed", "failed", "on-apply", "judged", "followed-ready"}
	if got := ids(untold(nodes, all, nil)); !slices.Equal(got, []string{"a", "on-apply"}) {
		t.Errorf("of the applied: untold %v, want [a on-apply]", got)
	}
	if got := ids(untold(nodes, nil, all)); !slices.Equal(got, []string{"judged"}) {
		t.Errorf("of the readied: untold %v, want [judged]", got)
	}
	if got := ids(untold(nodes, []string{"a"}, []string{"on-apply", "judged"})); !slices.Equal(got, []string{"a", "judged"}) {
		t.Errorf("of both: untold %v, want [a judged]", got)
	}
	if untold(nodes, nil, nil) != nil {
		t.Fatal("a check handed no ids tells nothing")
	}
}

// A resumed operation tells what a dead runner recorded but never told: a transition with no
// event of its status since it happened. Earlier operations' nodes are left alone.
func TestUnheard(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	nodes := []*NodeRecord{
		{ID: "told", Revision: 2, Status: NodeReady, ReadyAt: at(5)},
		{ID: "lost", Revision: 2, Status: NodeReady, ReadyAt: at(6)},
		{ID: "waiting", Revision: 2, Status: NodeWaiting, AppliedAt: at(7)},
		{ID: "again", Revision: 2, Status: NodeReady, ReadyAt: at(8)},
		{ID: "old", Revision: 1, Status: NodeReady, ReadyAt: at(1)},
		{ID: "pending", Revision: 2, Status: NodePending},
	}
	evs := []*Event{
		{Node: "told", Status: "READY", Time: at(5)},
		{Node: "lost", Status: "WAITING", Time: at(4)},
		{Node: "again", Status: "READY", Time: at(3)}, // an earlier READY, before an update
	}
	var got []string
	for _, n := range unheard(nodes, evs, 2) {
		got = append(got, n.ID)
	}
	if !slices.Equal(got, []string{"lost", "waiting", "again"}) {
		t.Fatalf("unheard %v, want [lost waiting again]", got)
	}
}
