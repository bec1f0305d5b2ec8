package engine

import (
	"slices"
	"testing"
	"time"
)

// The check after a Map tells the applies it was handed that left their event to it: not a
// node a follower applied (it told its own), nor one that is no longer WAITING.
func TestUntold(t *testing.T) {
	nodes := []*NodeRecord{
		{ID: "a", Status: NodeWaiting, Untold: true},
		{ID: "followed", Status: NodeWaiting},
		{ID: "failed", Status: NodeFailed, Untold: true},
		{ID: "other", Status: NodeWaiting, Untold: true},
		{ID: "on-apply", Status: NodeReady, Untold: true, AppliedReason: "Applied"},
		{ID: "judged", Status: NodeReady, Untold: true}, // READY by a check: told then
	}
	var got []string
	for _, n := range untold(nodes, []string{"a", "followed", "failed", "on-apply", "judged"}) {
		got = append(got, n.ID)
	}
	if !slices.Equal(got, []string{"a", "on-apply"}) {
		t.Fatalf("untold %v, want [a on-apply]", got)
	}
	if untold(nodes, nil) != nil {
		t.Fatal("a check after a Wait tells nothing")
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
