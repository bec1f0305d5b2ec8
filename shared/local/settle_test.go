package local

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aos-project/aos/internal/testengine"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/statemachine"
)

// A function that fails ends the operation through the state machine's settle step: the real
// ASL, run by the embedded runner, with apply-node failing as a store conflict would make it.
// No cluster is needed: nothing gets applied.
func TestAFailedFunctionSettlesTheStack(t *testing.T) {
	e := testengine.New(t)
	st := e.Store
	ctx := context.Background()
	src := "format: aos/v1\nname: s\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
	name, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	fns := e.Functions()
	m, err := statemachine.Load(statemachine.StackDefinition, map[string]statemachine.Handler{
		ResValidate:       adapt(fns[engine.FnValidate]),
		ResPlan:           adapt(fns[engine.FnPlan]),
		ResCheckReady:     adapt(fns[engine.FnCheckReady]),
		ResSettle:         adapt(fns[engine.FnSettle]),
		ResStartExecution: func(context.Context, []byte) ([]byte, error) { return []byte(`{}`), nil },
		ResApplyNode: func(context.Context, []byte) ([]byte, error) {
			return nil, errors.New(`node "a": version conflict: someone else changed it first`)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	x := m.NewExecution(name + "-create")
	_, runErr := x.Run(ctx, []byte(`{"stack":"`+name+`","operation":"`+op+`"}`))
	var se *statemachine.Error
	if !errors.As(runErr, &se) || se.Name != "errorString" || se.Cause != `node "a": version conflict: someone else changed it first` {
		t.Fatalf("the execution fails with the function's error: %#v", runErr)
	}
	rec, err := st.GetStack(ctx, name)
	if err != nil || rec.Status != engine.StackCreateFailed || rec.Lease != nil || rec.Reason != `create failed: node "a": version conflict: someone else changed it first` {
		t.Fatalf("the stack after the failure: %+v %v", rec, err)
	}
	// Nothing is left in progress: the next up proceeds.
	if _, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{TemplateRequest: engine.TemplateRequest{Template: src}}}); err != nil || op != engine.OpCreate {
		t.Fatalf("the next up: %s %v", op, err)
	}
}

// What no Catch takes ends the stack too: a plan step whose answer lacks what the state
// machine reads makes its Choice state fail with States.Runtime, which ASL cannot catch.
func TestAnUncaughtFailureSettlesTheStack(t *testing.T) {
	e := testengine.New(t)
	st := e.Store
	ctx := context.Background()
	src := "format: aos/v1\nname: u\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
	name, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := execute(ctx, e, name+"-create", engine.OpRequest{Stack: name, Operation: op}, map[string]statemachine.Handler{
		engine.FnPlan: func(context.Context, []byte) ([]byte, error) { return []byte(`{"inFlight": 1}`), nil },
	})
	var se *statemachine.Error
	if err != nil || !errors.As(res.Err, &se) || se.Name != "States.Runtime" {
		t.Fatalf("the execution: %v %#v", err, res.Err)
	}
	rec, err := st.GetStack(ctx, name)
	if err != nil || rec.Status != engine.StackCreateFailed || rec.Lease != nil || !strings.Contains(rec.Reason, "create failed: state \"Decide\": Invalid path '$.check.done'") {
		t.Fatalf("the stack after an uncaught failure: %s %q lease %v (%v)", rec.Status, rec.Reason, rec.Lease, err)
	}
}
