package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
)

// A turn wider than the Map runs at once (40 iterations on AWS) starts every node at once:
// the Map's items are batches, at most 40, and apply-node applies a batch side by side.
// Here 46 ConfigMaps, all startable at the plan: one Map of 40 iterations applies them all.
func TestAWideTurnIsOneMapOfBatches(t *testing.T) {
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("wide-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := "format: aos/v1\nname: wide\nnodes:\n  cm:\n    count: 46\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: \"cm-${index}\"}}\n"
	res := createThroughTheStateMachine(t, e, stack, src)
	maps := mapIterations(res)
	if len(maps) != 1 || maps[0] != engine.MapConcurrency {
		t.Fatalf("Map iterations per turn %v, want one turn of %d", maps, engine.MapConcurrency)
	}
	if n := res.Invocations[engine.FnApplyNode]; n != int64(engine.MapConcurrency) {
		t.Fatalf("apply-node called %d times, want %d (one a batch)", n, engine.MapConcurrency)
	}
	nodes, _ := e.Store.ListNodes(ctx, stack)
	for _, n := range nodes {
		if n.Status != engine.NodeReady {
			t.Fatalf("node %s is %s", n.ID, n.Status)
		}
	}
	if len(nodes) != 46 {
		t.Fatalf("%d nodes, want 46", len(nodes))
	}
	// Each WAITING and READY event was told, a batch's like a single node's.
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	ready := 0
	for _, ev := range evs {
		if ev.Node != "" && ev.Status == string(engine.NodeReady) {
			ready++
		}
	}
	if ready != 46 {
		t.Fatalf("%d READY events, want 46", ready)
	}
}

// A batch tries every node: one that cannot be applied does not stop the others, and the
// batch's error is the first node's, unwrapped (Step Functions matches a Retry or Catch by
// its type). A request that names a node and a batch is refused before anything runs.
func TestABatchTriesEveryNodeAndReportsTheFirstError(t *testing.T) {
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("batch-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := "format: aos/v1\nname: batch\nnodes:\n  cm:\n    count: 2\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: \"cm-${index}\"}}\n"
	if _, err := e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ApplyNode(ctx, engine.NodeRequest{Stack: stack, Node: "cm-0", Nodes: []string{"cm-1"}}); err == nil || !strings.Contains(err.Error(), "one or the other") {
		t.Fatalf("a node and a batch: %v", err)
	}
	if n, _ := e.Store.GetNode(ctx, stack, "cm-1"); n.Status != engine.NodePending {
		t.Fatalf("after a refused request cm-1 is %s, want PENDING", n.Status)
	}
	resp, err := e.ApplyNode(ctx, engine.NodeRequest{Stack: stack, Nodes: []string{"nope-a", "cm-0", "nope-b", "cm-1"}})
	if !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), `"nope-a"`) {
		t.Fatalf("the batch's error: %v, want nope-a's not found", err)
	}
	if len(resp.Nodes) != 4 || resp.Nodes[1].Status != engine.NodeReady || resp.Nodes[3].Status != engine.NodeReady {
		t.Fatalf("the batch's answers: %+v", resp.Nodes)
	}
	for _, id := range []string{"cm-0", "cm-1"} {
		if n, _ := e.Store.GetNode(ctx, stack, id); n.Status != engine.NodeReady {
			t.Fatalf("%s is %s, want READY", id, n.Status)
		}
	}
}
