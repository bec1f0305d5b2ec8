package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
)

// driveDelete plays the state machine's delete loop.
func driveDelete(t *testing.T, e *engine.Engine, stack string) engine.CheckResponse {
	t.Helper()
	ctx := context.Background()
	resp, err := e.StartDelete(ctx, engine.CheckRequest{Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	for turns := 0; !resp.Done && !(resp.Failure && resp.InFlight == 0) && turns < 100; turns++ {
		var wg sync.WaitGroup
		for _, id := range resp.Startable {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// apply-node deletes while the stack is being deleted.
				if _, err := e.ApplyNode(ctx, engine.NodeRequest{Stack: stack, Node: id}); err != nil {
					t.Errorf("delete %s: %v", id, err)
				}
			}()
		}
		wg.Wait()
		if resp, err = e.CheckReady(ctx, engine.CheckRequest{Stack: stack}); err != nil {
			t.Fatal(err)
		}
	}
	return resp
}

const chain = `format: aos/v1
name: chain
inputs:
  keep: {type: boolean, default: false}
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {a: b}}
  app:
    dependsOn: [config]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app}
      spec: {replicas: 2, selector: {matchLabels: {app: app}}, template: {metadata: {labels: {app: app}}, spec: {containers: [{name: c, image: x}]}}}
  report:
    dependsOn: [app]
    deletePolicy: retain
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: report}, data: {x: y}}
`

func TestDeleteRunsInReverseOrderAndKeepsRetainedObjects(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("chain-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	created, err := e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: chain}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := drive(t, e, stack, created.Ready); !resp.Done {
		t.Fatalf("create: %+v", resp)
	}
	resp := driveDelete(t, e, stack)
	if !resp.Done || resp.Status != engine.StackDeleteComplete {
		t.Fatalf("delete: %+v", resp)
	}
	// Events give the order: report (retained) before app before config.
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	var order []string
	for _, ev := range evs {
		if ev.Status == string(engine.NodeDeleted) {
			order = append(order, ev.Node)
		}
	}
	if fmt.Sprint(order) != "[report app config]" {
		t.Fatalf("deletion order %v, want [report app config]", order)
	}
	if _, err := cs.AppsV1().Deployments(stack).Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment after delete: %v", err)
	}
	if pods, _ := cs.CoreV1().Pods(stack).List(ctx, metav1.ListOptions{}); len(pods.Items) != 0 {
		t.Fatalf("%d pods left: delete must wait for the Deployment's pods", len(pods.Items))
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "report", metav1.GetOptions{}); err != nil {
		t.Fatalf("retained configmap: %v", err)
	}
	// The namespace stays because it holds a retained object.
	if _, err := cs.CoreV1().Namespaces().Get(ctx, stack, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace with a retained object: %v", err)
	}
	if _, err := e.StartDelete(ctx, engine.CheckRequest{Stack: stack}); err == nil {
		t.Fatal("deleting a deleted stack succeeded")
	}
}

func TestDeleteRemovesTheStackNamespace(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("gone-%d", time.Now().UnixNano()%100000)
	src := "format: aos/v1\nname: gone\nnodes:\n  cm:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}}\n"
	created, err := e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	drive(t, e, stack, created.Ready)
	if resp := driveDelete(t, e, stack); !resp.Done {
		t.Fatalf("delete: %+v", resp)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, stack, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("stack namespace after delete: %v", err)
	}
}

// A namespace the stack created is deleted only when nothing else lives in it: a ConfigMap
// another tool put there keeps it, and an event says so.
func TestDeleteKeepsANamespaceOthersUse(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("shared-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := "format: aos/v1\nname: shared\nnodes:\n  cm:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}}\n"
	created, err := e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	drive(t, e, stack, created.Ready)
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "foreign"}, Data: map[string]string{"owner": "someone else"}}
	if _, err := cs.CoreV1().ConfigMaps(stack).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if resp := driveDelete(t, e, stack); !resp.Done || resp.Status != engine.StackDeleteComplete {
		t.Fatalf("delete: %+v", resp)
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "foreign", metav1.GetOptions{}); err != nil {
		t.Fatalf("the foreign ConfigMap after the delete: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "cm", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the stack's own ConfigMap after the delete: %v", err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, stack, metav1.GetOptions{})
	if err != nil || ns.DeletionTimestamp != nil {
		t.Fatalf("the namespace after the delete: %v %v", ns, err)
	}
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	kept := false
	for _, ev := range evs {
		kept = kept || ev.Reason == "NamespaceKept" && strings.Contains(ev.Message, "ConfigMap/foreign")
	}
	if !kept {
		t.Fatalf("no event says why the namespace stays: %+v", evs)
	}
}
