package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aos-project/aos/shared/refs"
)

// stacksOnly is a Store that holds stack records only: enough for the decisions over other
// stacks' states, which read nothing else.
type stacksOnly struct {
	Store
	stacks map[string]*StackRecord
}

func (s stacksOnly) GetStack(_ context.Context, name string) (*StackRecord, error) {
	if st, ok := s.stacks[name]; ok {
		return st, nil
	}
	return nil, ErrNotFound
}

// A node that reads a stack in progress is held back, and the check waits rather than spins;
// once that stack settles the node starts. Nodes that read nothing, or settled stacks, start
// at once.
func TestNodesWaitForTheStacksTheyRead(t *testing.T) {
	db := &StackRecord{Name: "db", Status: StackUpdateInProgress, Outputs: map[string]any{"host": "db.svc"}}
	e := &Engine{Store: stacksOnly{stacks: map[string]*StackRecord{"db": db, "cache": {Name: "cache", Status: StackCreateComplete}}}}
	app := &StackRecord{Name: "app"}
	nodes := []*NodeRecord{{ID: "web", Stacks: []string{"db"}}, {ID: "worker", Stacks: []string{"cache"}}, {ID: "cfg"}}
	resp := CheckResponse{Startable: []string{"web", "worker", "cfg"}}
	e.holdForStacks(context.Background(), app, index(nodes), &resp)
	if !slices.Equal(resp.Startable, []string{"worker", "cfg"}) || resp.Pending != 1 || resp.WaitSeconds != 0 {
		t.Fatalf("db in progress: startable %v, pending %d, wait %d", resp.Startable, resp.Pending, resp.WaitSeconds)
	}
	resp = CheckResponse{Startable: []string{"web"}}
	e.holdForStacks(context.Background(), app, index(nodes), &resp)
	if len(resp.Startable) != 0 || resp.WaitSeconds < 1 {
		t.Fatalf("only the held node: want no start and a wait, got %v wait %d", resp.Startable, resp.WaitSeconds)
	}
	db.Status = StackUpdateComplete
	resp = CheckResponse{Startable: []string{"web"}}
	e.holdForStacks(context.Background(), app, index(nodes), &resp)
	if !slices.Equal(resp.Startable, []string{"web"}) {
		t.Fatalf("db settled: %v", resp.Startable)
	}
}

func TestReadableStack(t *testing.T) {
	stacks := map[string]*StackRecord{
		"db":    {Name: "db", Status: StackCreateComplete, Outputs: map[string]any{"host": "db.svc", "password": "(sensitive)"}},
		"gone":  {Name: "gone", Status: StackDeleteComplete},
		"other": {Name: "other", Status: StackCreateComplete, Project: "team-b"},
	}
	e := &Engine{Store: stacksOnly{stacks: stacks}}
	app := &StackRecord{Name: "app"}
	for _, c := range []struct{ stack, output, want string }{
		{"db", "host", ""},
		{"db", "hots", `stack "db" has no output "hots" (it has: host, password)`},
		{"db", "password", "is sensitive, so it is never stored"},
		{"nope", "x", `stack "nope" does not exist`},
		{"gone", "x", `stack "gone" is DELETE_COMPLETE: it has no outputs to read`},
		{"other", "x", `belongs to project "team-b"; a stack reads outputs only of stacks in its own project ("default")`},
		{"app", "x", "is this stack"},
	} {
		sc := newScope(app, nil, -1)
		err := e.seeStacks(context.Background(), app, []string{c.stack}, sc)
		var v any
		if err == nil {
			v, err = sc.lookup(refOf(t, "${stacks."+c.stack+".outputs."+c.output+"}"))
		}
		switch {
		case c.want == "" && (err != nil || v != "db.svc"):
			t.Errorf("%s.%s: %v %v", c.stack, c.output, v, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s.%s: want %q, got %v", c.stack, c.output, c.want, err)
		}
	}
}

func refOf(t *testing.T, s string) *refs.Ref {
	t.Helper()
	e, err := refs.Parse(s)
	if err != nil || len(e.Refs()) != 1 {
		t.Fatalf("%s: %v", s, err)
	}
	return e.Refs()[0]
}
