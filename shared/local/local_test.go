package local

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/store/bolt"
	"github.com/aos-project/aos/statemachine"
)

func newEngine(t *testing.T) *engine.Engine {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, _ := secrets.LoadOrCreate(filepath.Join(dir, "key"))
	c, err := kube.New(testcluster.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Engine{Store: st, Sealer: sealer, MaxWait: 5 * time.Second,
		Kube: func(context.Context, kube.Access) (*kube.Client, error) { return c, nil }}
}

const fan = `format: aos/v1
name: fan
nodes:
  root:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: root}}
  leaf:
    count: 6
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "leaf-${index}"}
      spec: {replicas: 1, selector: {matchLabels: {app: "leaf-${index}"}},
             template: {metadata: {labels: {app: "leaf-${index}"}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1s}},
                        spec: {containers: [{name: c, image: x, env: [{name: ROOT, value: "${nodes.root.metadata.uid}"}]}]}}}
`

// The same ASL definition Step Functions runs, executed in-process against the local cluster.
func TestCreateAndDeleteThroughTheStateMachine(t *testing.T) {
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("fan-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: fan}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := Run(ctx, e, stack, engine.OpCreate)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	took := time.Since(start)
	st, _ := e.Store.GetStack(ctx, stack)
	if st.Status != engine.StackCreateComplete {
		t.Fatalf("status %s (%s)", st.Status, st.Reason)
	}
	turns := 0
	for _, ev := range res.History {
		if ev.Type == "StateEntered" && ev.State == "CheckReady" {
			turns++
		}
	}
	// 7 nodes: billed transitions are about 2 per node (one ApplyNode each, a share of the
	// Map) plus 3 per loop turn (Decide, ApplyReady or Wait, CheckReady) plus the 3 at the ends.
	t.Logf("create: %v, %d transitions, %d check-ready turns", took.Round(time.Millisecond), res.Transitions, turns)
	if limit := int64(3*7 + 3*turns + 3); res.Transitions > limit {
		t.Errorf("%d transitions; want at most %d", res.Transitions, limit)
	}
	// Makespan against the critical path is measured by make bench; here: readiness was
	// watched (a few turns), not polled.
	if turns > 8 {
		t.Errorf("%d check-ready turns for a 1 s critical path", turns)
	}
	if _, err := Run(ctx, e, stack, engine.OpDelete); err != nil {
		t.Fatal(err)
	}
	st, _ = e.Store.GetStack(ctx, stack)
	if st.Status != engine.StackDeleteComplete {
		t.Fatalf("after delete: %s (%s)", st.Status, st.Reason)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, stack, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace after delete: %v", err)
	}
}

func TestFailedNodeEndsTheExecutionInFail(t *testing.T) {
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("failing-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := "format: aos/v1\nname: f\nnodes:\n  bad:\n    manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: bad}, spec: {template: {spec: {containers: [{name: c, image: x}]}}}}\n"
	if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}}); err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, e, stack, engine.OpCreate)
	if err != nil {
		t.Fatal(err)
	}
	se, ok := res.Err.(*statemachine.Error)
	if !ok || se.Name != "NodeFailed" {
		t.Fatalf("execution error = %v", res.Err)
	}
	st, _ := e.Store.GetStack(ctx, stack)
	if st.Status != engine.StackCreateFailed || !strings.Contains(st.Reason, "spec.selector: Required value") {
		t.Fatalf("stack = %s %q", st.Status, st.Reason)
	}
}
