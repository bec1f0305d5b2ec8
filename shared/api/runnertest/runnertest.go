// Package runnertest is the conformance suite of api.Runner: every way AOS starts an operation
// (Step Functions on AWS, the embedded runner of aos serve) passes the same tests.
package runnertest

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/aos-project/aos/shared/api"
	"github.com/aos-project/aos/shared/engine"
)

// Machines an execution runs.
const (
	StackMachine = "stack"
	BatchMachine = "batch"
)

// Execution is one execution a Runner started, as its backend saw it.
type Execution struct {
	Machine string // StackMachine or BatchMachine
	Name    string
	Input   json.RawMessage // the state machine's input
}

// Harness is one implementation under test and a view of what it started.
type Harness struct {
	Runner api.Runner
	// Started returns the executions started so far. An execution the backend has not
	// finished yet counts; a runner that starts in the background may take a moment.
	Started func() []Execution
	// Release lets every started execution run to its end (a backend whose executions are
	// not in this process does nothing).
	Release func()
}

// Run runs the suite; newHarness gives each test a fresh implementation.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("Start runs the operation it was given, as the execution it was named", func(t *testing.T) {
		h := newHarness(t)
		defer h.Release()
		op := engine.OpRequest{Stack: "shop", Operation: engine.OpUpdate, OnFailure: "keep"}
		returns(t, func() error { return h.Runner.Start(context.Background(), op, "shop-update-r3") })
		got := wait(t, h, 1)
		var in engine.OpRequest
		if err := json.Unmarshal(got[0].Input, &in); err != nil || in != op {
			t.Fatalf("input %s (%v), want %+v", got[0].Input, err, op)
		}
		if got[0].Machine != StackMachine || got[0].Name != "shop-update-r3" {
			t.Fatalf("started %s %q, want the stack machine as shop-update-r3", got[0].Machine, got[0].Name)
		}
	})
	t.Run("operations of different names all run", func(t *testing.T) {
		h := newHarness(t)
		defer h.Release()
		for _, name := range []string{"a-create-r1", "b-create-r1", "a-delete-r2"} {
			returns(t, func() error {
				return h.Runner.Start(context.Background(), engine.OpRequest{Stack: name[:1], Operation: engine.OpCreate}, name)
			})
		}
		var names []string
		for _, x := range wait(t, h, 3) {
			names = append(names, x.Name)
		}
		sort.Strings(names)
		if want := []string{"a-create-r1", "a-delete-r2", "b-create-r1"}; !reflect.DeepEqual(names, want) {
			t.Fatalf("executions %v, want %v", names, want)
		}
	})
	t.Run("a name runs once: starting it again is not an error and starts nothing", func(t *testing.T) {
		h := newHarness(t)
		defer h.Release()
		op := engine.OpRequest{Stack: "shop", Operation: engine.OpDelete, OnFailure: "keep"}
		for range 3 {
			returns(t, func() error { return h.Runner.Start(context.Background(), op, "shop-delete-r2-v9") })
		}
		time.Sleep(50 * time.Millisecond) // a second execution would have shown by now
		wait(t, h, 1)
	})
	t.Run("StartBatch runs the batch machine on the batch, as batch-<id>", func(t *testing.T) {
		h := newHarness(t)
		defer h.Release()
		in := &engine.BatchInput{Batch: "load", Concurrency: 2, Items: []engine.OpRequest{{Stack: "load-0", Operation: engine.OpCreate, OnFailure: "keep"}, {Stack: "load-1", Operation: engine.OpCreate, OnFailure: "keep"}}}
		returns(t, func() error { return h.Runner.StartBatch(context.Background(), in) })
		got := wait(t, h, 1)
		var back engine.BatchInput
		if err := json.Unmarshal(got[0].Input, &back); err != nil || !reflect.DeepEqual(&back, in) {
			t.Fatalf("input %s (%v), want %+v", got[0].Input, err, in)
		}
		if got[0].Machine != BatchMachine || got[0].Name != "batch-load" {
			t.Fatalf("started %s %q, want the batch machine as batch-load", got[0].Machine, got[0].Name)
		}
	})
}

// returns calls start, which must return (without error) before the execution it starts has
// been let finish: starting an operation never waits for it.
func returns(t *testing.T, start func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- start() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the start is still waiting for an execution that has not been let finish")
	}
}

func wait(t *testing.T, h Harness, n int) []Execution {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := h.Started()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("%d execution(s) started, want %d: %+v", len(got), n, got)
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}
