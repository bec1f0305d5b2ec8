package local

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
)

const slow = `format: aos/v1
name: slow
inputs:
  delay: {type: string, default: 1ms}
  message: {type: string, default: one}
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {m: "${inputs.message}"}}
  app:
    dependsOn: [config]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app}
      spec:
        replicas: 1
        selector: {matchLabels: {app: app}}
        template:
          metadata: {labels: {app: app}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: "${inputs.delay}"}}
          spec: {containers: [{name: c, image: x}]}
  tail:
    dependsOn: [app]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: tail}}
  extra:
    count: 17
    dependsOn: [config]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: "extra-${index}"}, data: {m: "${inputs.message}"}}
`

// createSlow creates a stack of the slow template and returns it, with the submit of an
// update of it.
func createSlow(t *testing.T, e *engine.Engine, prefix string) (string, func(params map[string]any) string) {
	t.Helper()
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	submit := func(params map[string]any) string {
		t.Helper()
		_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: slow, Params: params}}})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	if res, err := RunOp(ctx, e, engine.OpRequest{Stack: stack, Operation: submit(nil)}); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	return stack, submit
}

// aos cancel during a 20-node update: nothing new starts, what is in flight settles, the
// update fails and rolls back to the last good revision.
func TestCancelRollsAnUpdateBack(t *testing.T) {
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack, submit := createSlow(t, e, "cancel")
	done := make(chan *Result, 1)
	op := submit(map[string]any{"delay": "6s", "message": "two"})
	go func() {
		res, _ := RunOp(ctx, e, engine.OpRequest{Stack: stack, Operation: op})
		done <- res
	}()
	// Cancel once the slow Deployment is in flight.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, err := e.Store.GetNode(ctx, stack, "app")
		if err == nil && n.Status == engine.NodeWaiting && n.Revision == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the update never applied app: %+v %v", n, err)
		}
	}
	if _, err := e.Cancel(ctx, stack); err != nil {
		t.Fatal(err)
	}
	var res *Result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the cancelled update did not end")
	}
	st, _ := e.Store.GetStack(ctx, stack)
	if res.Err == nil || st.Status != engine.StackRollbackComplete || st.CancelRequested || st.Lease != nil {
		t.Fatalf("after cancel: %s %q cancel %v lease %v (run %v)", st.Status, st.Reason, st.CancelRequested, st.Lease, res.Err)
	}
	for _, name := range []string{"config", "extra-0", "extra-16"} {
		cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, name, metav1.GetOptions{})
		if err != nil || cm.Data["m"] != "one" {
			t.Fatalf("%s after the rollback: %v %v", name, cm.Data, err)
		}
	}
	// Nothing to cancel now.
	if _, err := e.Cancel(ctx, stack); err == nil {
		t.Fatal("cancelling a settled stack succeeded")
	}
}

// A generateName node gets a new object each time its manifest changes; the one it replaces
// is deleted, so three updates leave one object, not four.
func TestGenerateNameNodeLeavesOneObject(t *testing.T) {
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("gen-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := "format: aos/v1\nname: gen\ninputs:\n  v: {type: string, default: a}\nnodes:\n  run:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {generateName: run-}, data: {v: \"${inputs.v}\"}}\n"
	for _, v := range []string{"a", "b", "c", "d"} {
		_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src, Params: map[string]any{"v": v}}}})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := RunOp(ctx, e, engine.OpRequest{Stack: stack, Operation: op}); err != nil || res.Err != nil {
			t.Fatalf("v=%s: %v %v", v, err, res.Err)
		}
	}
	list, err := cs.CoreV1().ConfigMaps(stack).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, "run-") {
			runs = append(runs, cm.Name+"="+cm.Data["v"])
		}
	}
	if len(runs) != 1 || !strings.HasSuffix(runs[0], "=d") {
		t.Fatalf("objects of the generateName node after three updates: %v", runs)
	}
}

// On AWS a schedule starts the stack machine itself (EventBridge Scheduler's target is the
// state machine, not the API). Firing every second during a long update, each rebuild
// execution is refused by its plan step, settles as ScheduledRebuildSkipped, and the update
// completes untouched.
func TestScheduledRebuildsDuringAnUpdateAreSkipped(t *testing.T) {
	e := newEngine(t)
	e.Holder = "aws-step-functions" // every execution runs as one holder, as on AWS
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack, submit := createSlow(t, e, "sched")
	done := make(chan *Result, 1)
	op := submit(map[string]any{"delay": "5s", "message": "two"})
	go func() {
		res, _ := Execute(ctx, e, stack+"-update-r2", engine.OpRequest{Stack: stack, Operation: op})
		done <- res
	}()
	// A firing that lands as the update ends may find the stack free and rebuild it: that is
	// the schedule working. What must never happen is a rebuild beginning before the update
	// completed.
	fired, refused := 0, 0
	var res *Result
	deadline := time.After(60 * time.Second)
	for tick := time.NewTicker(time.Second); res == nil; {
		select {
		case res = <-done:
			continue
		default:
		}
		select {
		case res = <-done:
		case <-tick.C:
			fired++
			r, err := Execute(ctx, e, fmt.Sprintf("%s-rebuild-s%d", stack, fired), engine.OpRequest{Stack: stack, Operation: engine.OpRebuild, OnFailure: "keep"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Err != nil {
				refused++
			}
		case <-deadline:
			t.Fatal("the update did not end")
		}
	}
	if res.Err != nil {
		t.Fatalf("the update: %v", res.Err)
	}
	revs, _ := e.Store.ListRevisions(ctx, stack)
	if len(revs) < 2 || revs[1].Number != 2 || revs[1].Status != engine.StackUpdateComplete {
		t.Fatalf("revision 2: %+v", revs)
	}
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	skipped, completed := 0, false
	for _, ev := range evs {
		switch {
		case ev.Reason == "ScheduledRebuildSkipped":
			skipped++
		case ev.Node == "" && ev.Status == string(engine.StackUpdateComplete):
			completed = true
		case ev.Status == string(engine.StackDeleteInProgress) && !completed:
			t.Fatalf("a scheduled rebuild began deleting during the update: %+v", ev)
		}
	}
	if refused < 3 || skipped != refused {
		t.Fatalf("%d firings, %d refused, %d recorded as ScheduledRebuildSkipped", fired, refused, skipped)
	}
	cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "extra-3", metav1.GetOptions{})
	if err != nil || cm.Data["m"] != "two" {
		t.Fatalf("extra-3 after the update: %v %v", cm.Data, err)
	}
}
