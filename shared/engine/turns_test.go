package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/local"
)

// A turn starts at most maxStartable nodes, so that the state machine's payloads stay under
// AWS's 256 KiB whatever the stack's size; the nodes left over start at the next turn at
// once, not after a watch on what is in flight. Here turns of 4, four slow Deployments (the
// first turn: their ids sort first) and 12 ConfigMaps: every Map runs at most 4 applies, and
// every ConfigMap is READY well before the Deployments are.
func TestTurnsAreBoundedAndLeftoversDoNotWait(t *testing.T) {
	defer engine.SetMaxStartable(4)()
	e, _ := newEngine(t, "bolt")
	e.MaxWait = 30 * time.Second
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("turns-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := `format: aos/v1
name: turns
nodes:
  a-slow:
    count: 4
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "slow-${index}"}
      spec: {replicas: 1, selector: {matchLabels: {app: "slow-${index}"}}, template: {metadata: {labels: {app: "slow-${index}"}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 8s}}, spec: {containers: [{name: c, image: x}]}}}
  cm:
    count: 12
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: "cm-${index}"}}
`
	res := createThroughTheStateMachine(t, e, stack, src)
	maps := mapIterations(res)
	total := 0
	for _, n := range maps {
		if n > 4 {
			t.Fatalf("a turn applied %d nodes (turns %v), over the bound of 4", n, maps)
		}
		total += n
	}
	if total != 16 {
		t.Fatalf("%d applies in turns %v, want 16", total, maps)
	}
	nodes, _ := e.Store.ListNodes(ctx, stack)
	var slow time.Time
	var lastCM time.Time
	for _, n := range nodes {
		switch {
		case strings.HasPrefix(n.ID, "a-slow") && (slow.IsZero() || n.ReadyAt.Before(slow)):
			slow = n.ReadyAt
		case strings.HasPrefix(n.ID, "cm") && n.ReadyAt.After(lastCM):
			lastCM = n.ReadyAt
		}
	}
	if slow.Sub(lastCM) < 4*time.Second {
		t.Fatalf("the last ConfigMap was READY at %s, the first slow Deployment at %s: leftovers waited on what was in flight", lastCM.Format(time.StampMilli), slow.Format(time.StampMilli))
	}
}

// An execution that nears the history quota continues in a fresh one: here executions may
// plan 80 events and turns start 4 nodes, so 16 ConfigMaps take several executions, each
// within its budget, named after the first, and the stack ends as one operation would.
func TestExecutionsContinueBeforeTheHistoryQuota(t *testing.T) {
	defer engine.SetMaxStartable(4)()
	defer engine.SetHistoryBudget(80)()
	e, _ := newEngine(t, "dynamodb")
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("cont-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := "format: aos/v1\nname: cont\nnodes:\n  cm:\n    count: 16\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: \"cm-${index}\"}}\n"
	_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{op, engine.OpDelete} {
		res, err := local.Execute(ctx, e, stack+"-"+o, engine.OpRequest{Stack: stack, Operation: o})
		if err != nil || res.Err != nil {
			t.Fatalf("%s: %v %v", o, err, res.Err)
		}
		// The plan counts what a turn will cost; the runner counts what AWS would record.
		if res.Executions < 3 || res.HistoryEvents > 80+30 {
			t.Fatalf("%s: %d execution(s), at most %d events in one", o, res.Executions, res.HistoryEvents)
		}
		st, _ := e.Store.GetStack(ctx, stack)
		if want := map[string]engine.StackStatus{op: engine.StackCreateComplete, engine.OpDelete: engine.StackDeleteComplete}[o]; st.Status != want || st.Lease != nil {
			t.Fatalf("%s: the stack is %s, lease %+v", o, st.Status, st.Lease)
		}
		t.Logf("%s: %d executions, at most %d history events in one", o, res.Executions, res.HistoryEvents)
	}
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	var names []string
	for _, ev := range evs {
		if ev.Reason == "Continued" {
			names = append(names, ev.Message)
		}
	}
	if len(names) < 4 || !strings.Contains(names[0], stack+"-create-c2 continues") || !strings.Contains(names[1], stack+"-create-c3 continues") {
		t.Fatalf("continuations: %q", names)
	}
}

// createThroughTheStateMachine submits a create of src as stack and runs it through the
// embedded state machine to its end, failing the test if it does not succeed.
func createThroughTheStateMachine(t *testing.T, e *engine.Engine, stack, src string) *local.Result {
	t.Helper()
	ctx := context.Background()
	_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := local.RunOp(ctx, e, engine.OpRequest{Stack: stack, Operation: op})
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	return res
}

// mapIterations are the iterations of each ApplyReady state (each an apply-node call), from
// the execution's history.
func mapIterations(res *local.Result) []int {
	var maps []int
	for _, ev := range res.History {
		switch {
		case ev.Type == "StateEntered" && ev.State == "ApplyReady":
			maps = append(maps, 0)
		case ev.Type == "StateEntered" && ev.State == "ApplyNode":
			maps[len(maps)-1]++
		}
	}
	return maps
}
