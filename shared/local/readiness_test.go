package local

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
)

// ready.when holds READY back until it is true (here: until someone approves the Deployment
// by annotating it, which the built-in rules know nothing of); ready.failWhen fails a node
// the moment its expression holds, not at its ten-minute timeout, and an update that trips
// it rolls back.
const failFast = `format: aos/v1
name: failfast
inputs:
  broken: {type: string, default: "no"}
nodes:
  web:
    ready:
      timeout: 10m
      when: self.status.?readyReplicas.orValue(0) >= 2 && self.metadata.?annotations['example.com/approved'].orValue('') == 'yes'
      failWhen: self.metadata.?annotations['example.com/broken'].orValue('no') == 'yes'
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web, annotations: {example.com/broken: "${inputs.broken}"}}
      spec:
        replicas: 2
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1s}}
          spec: {containers: [{name: c, image: x}]}
`

func TestReadinessExpressions(t *testing.T) {
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("failfast-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	up := func(broken string) (*Result, time.Duration) {
		t.Helper()
		_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
			TemplateRequest: engine.TemplateRequest{Template: failFast, RawParams: map[string]string{"broken": broken}}}})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := Run(ctx, e, stack, op)
		if err != nil {
			t.Fatal(err)
		}
		return res, time.Since(start)
	}
	created := make(chan *Result, 1)
	go func() { res, _ := up("no"); created <- res }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		n, err := e.Store.GetNode(ctx, stack, "web")
		if err == nil && n.Reason == "ConditionNotMet" && strings.Contains(n.Message, "waiting for ready.when") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web never waited for ready.when: %+v %v", n, err)
		}
	}
	if st, _ := e.Store.GetStack(ctx, stack); st.Status != engine.StackCreateInProgress {
		t.Fatalf("the stack did not wait for ready.when: %s", st.Status)
	}
	patch := []byte(`{"metadata":{"annotations":{"example.com/approved":"yes"}}}`)
	if _, err := cs.AppsV1().Deployments(stack).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := <-created; res.Err != nil {
		t.Fatalf("create: %v", res.Err)
	}

	res, took := up("yes")
	st, _ := e.Store.GetStack(ctx, stack)
	if res.Err == nil || st.Status != engine.StackRollbackComplete {
		t.Fatalf("an update that trips failWhen: %v, %s", res.Err, st.Status)
	}
	if took > time.Minute {
		t.Fatalf("failWhen took %s: it should fail at once, not at the 10m timeout", took)
	}
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	var failed *engine.Event
	for _, ev := range evs {
		if ev.Node == "web" && ev.Status == string(engine.NodeFailed) {
			failed = ev
		}
	}
	if failed == nil || failed.Reason != "FailWhen" || !strings.Contains(failed.Message, "example.com/broken") {
		t.Fatalf("the failure event: %+v", failed)
	}
	d, _ := cs.AppsV1().Deployments(stack).Get(ctx, "web", metav1.GetOptions{})
	if d.Annotations["example.com/broken"] != "no" {
		t.Fatalf("not rolled back: %v", d.Annotations)
	}
	t.Logf("failed and rolled back in %s", took.Round(time.Millisecond))
}
