package local

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
)

const v1 = `format: aos/v1
name: upd
inputs:
  greeting: {type: string, default: hello}
nodes:
  config:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: config}
      data: {greeting: "${inputs.greeting}"}
  app:
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app}
      spec:
        replicas: 1
        selector: {matchLabels: {app: app}}
        template:
          metadata: {labels: {app: app}}
          spec: {containers: [{name: c, image: x, env: [{name: CONFIG, value: "${nodes.config.metadata.name}"}]}]}
  old-extra:
    dependsOn: [app]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: old-extra}}
  old-tail:
    dependsOn: [old-extra]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: old-tail}}
`

// v2 changes config's data, keeps app as it was, drops old-extra and old-tail, adds new-extra.
const v2 = `format: aos/v1
name: upd
inputs:
  greeting: {type: string, default: hello}
nodes:
  config:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: config}
      data: {greeting: "${inputs.greeting}", extra: "yes"}
  app:
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app}
      spec:
        replicas: 1
        selector: {matchLabels: {app: app}}
        template:
          metadata: {labels: {app: app}}
          spec: {containers: [{name: c, image: x, env: [{name: CONFIG, value: "${nodes.config.metadata.name}"}]}]}
  new-extra:
    dependsOn: [app]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: new-extra}}
`

func TestUpdateTouchesOnlyWhatChanged(t *testing.T) {
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("upd-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	submit := func(src string) string {
		t.Helper()
		_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(ctx, e, stack, op)
		if err != nil || res.Err != nil {
			nodes, _ := e.Store.ListNodes(ctx, stack)
			for _, n := range nodes {
				t.Logf("%s %s %s %s", n.ID, n.Status, n.Reason, n.Message)
			}
			t.Fatalf("%s: %v %v", op, err, res.Err)
		}
		return op
	}
	if op := submit(v1); op != engine.OpCreate {
		t.Fatalf("first up ran %s", op)
	}
	app0, _ := cs.AppsV1().Deployments(stack).Get(ctx, "app", metav1.GetOptions{})
	cfg0, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{})

	if op := submit(v2); op != engine.OpUpdate {
		t.Fatalf("second up ran %s", op)
	}
	st, _ := e.Store.GetStack(ctx, stack)
	if st.Status != engine.StackUpdateComplete || st.Revision != 2 || st.Previous == nil || st.Previous.Number != 1 {
		t.Fatalf("stack after update: %s rev %d previous %+v", st.Status, st.Revision, st.Previous)
	}
	app1, _ := cs.AppsV1().Deployments(stack).Get(ctx, "app", metav1.GetOptions{})
	if app1.ResourceVersion != app0.ResourceVersion {
		t.Fatalf("unchanged Deployment was written: resourceVersion %s -> %s", app0.ResourceVersion, app1.ResourceVersion)
	}
	cfg1, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{})
	if cfg1.Data["extra"] != "yes" || cfg1.UID != cfg0.UID {
		t.Fatalf("config not updated in place: %v", cfg1.Data)
	}
	for _, gone := range []string{"old-extra", "old-tail"} {
		if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, gone, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("%s after update: %v", gone, err)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "new-extra", metav1.GetOptions{}); err != nil {
		t.Fatalf("new-extra: %v", err)
	}
	// Removed nodes went last, in reverse order: old-tail before old-extra, after new-extra was READY.
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	var order []string
	for _, ev := range evs {
		if ev.Status == string(engine.NodeDeleted) || ev.Status == string(engine.NodeReady) && ev.Node == "new-extra" {
			order = append(order, ev.Node)
		}
	}
	if fmt.Sprint(order) != "[new-extra old-tail old-extra]" {
		t.Fatalf("order %v", order)
	}
	// The whole stack still deletes cleanly afterwards.
	if res, err := Run(ctx, e, stack, engine.OpDelete); err != nil || res.Err != nil {
		t.Fatalf("delete: %v %v", err, res.Err)
	}
}

// v3 changes config, breaks app (a Deployment without a selector is invalid), adds a node.
const v3 = `format: aos/v1
name: upd
inputs:
  greeting: {type: string, default: hello}
nodes:
  config:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: config}
      data: {greeting: "changed", more: "data"}
  app:
    dependsOn: [config]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app}
      spec:
        replicas: 3
        template:
          metadata: {labels: {app: app}}
          spec: {containers: [{name: c, image: y}]}
  added:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: added}}
`

func TestFailedUpdateRollsBack(t *testing.T) {
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("rb-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	up := func(src, onFailure string) (*Result, string) {
		t.Helper()
		_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunOp(ctx, e, engine.OpRequest{Stack: stack, Operation: op, OnFailure: onFailure})
		if err != nil {
			t.Fatal(err)
		}
		return res, op
	}
	if res, _ := up(v1, ""); res.Err != nil {
		t.Fatal(res.Err)
	}
	cfg0, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{})
	app0, _ := cs.AppsV1().Deployments(stack).Get(ctx, "app", metav1.GetOptions{})

	res, _ := up(v3, "rollback")
	var se interface{ Error() string } = res.Err
	if se == nil || !strings.Contains(se.Error(), "UpdateRolledBack") {
		t.Fatalf("execution after a failed update: %v", res.Err)
	}
	st, _ := e.Store.GetStack(ctx, stack)
	if st.Status != engine.StackRollbackComplete {
		t.Fatalf("status %s (%s)", st.Status, st.Reason)
	}
	cfg1, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{})
	if !reflect.DeepEqual(cfg1.Data, cfg0.Data) {
		t.Fatalf("config data after rollback = %v, want %v", cfg1.Data, cfg0.Data)
	}
	app1, _ := cs.AppsV1().Deployments(stack).Get(ctx, "app", metav1.GetOptions{})
	if !reflect.DeepEqual(app1.Spec, app0.Spec) {
		t.Fatalf("app spec changed by a rolled-back update")
	}
	if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "added", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("node added by the failed update still exists: %v", err)
	}
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	var sawFail, sawRollback bool
	for _, ev := range evs {
		sawFail = sawFail || ev.Node == "app" && ev.Status == "FAILED" && strings.Contains(ev.Message, "spec.selector: Required value")
		sawRollback = sawRollback || ev.Status == string(engine.StackRollbackInProgress) && strings.Contains(ev.Message, "back to revision 1")
	}
	if !sawFail || !sawRollback {
		t.Fatalf("events lack the failure (%v) or the rollback (%v)", sawFail, sawRollback)
	}

	// With keep, the failed update stays for inspection, and a manual rollback restores it.
	res, _ = up(v3, "keep")
	st, _ = e.Store.GetStack(ctx, stack)
	if res.Err == nil || st.Status != engine.StackUpdateFailed || !strings.Contains(st.Reason, `node "app"`) {
		t.Fatalf("keep: %v, %s %q", res.Err, st.Status, st.Reason)
	}
	if cfg, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{}); cfg.Data["greeting"] != "changed" {
		t.Fatalf("keep rolled back anyway: %v", cfg.Data)
	}
	res, err := RunOp(ctx, e, engine.OpRequest{Stack: stack, Operation: engine.OpRollback})
	if err != nil || res.Err != nil {
		t.Fatalf("manual rollback: %v %v", err, res.Err)
	}
	cfg2, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{})
	if !reflect.DeepEqual(cfg2.Data, cfg0.Data) {
		t.Fatalf("config after manual rollback = %v", cfg2.Data)
	}
}
