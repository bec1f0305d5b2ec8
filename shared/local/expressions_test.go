package local

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/template"
)

// CEL inside ${…}, deployed: a count from an expression over an input list, each copy
// reading its element; a whole-value expression keeping its type (replicas); arithmetic on a
// live value of another node, which makes the edge; a when from an expression.
const withExpressions = `format: aos/v1
name: exprs
inputs:
  env: {type: string, default: dev, enum: [dev, prod]}
  tenants: {type: array, items: {type: string}, default: [acme, globex, initech]}
  regions:
    type: array
    default: [{name: eu, zone: eu-west-1a}, {name: us, zone: us-east-1b}, {name: ap, zone: ap-south-1c}]
nodes:
  db-svc:
    manifest:
      apiVersion: v1
      kind: Service
      metadata: {name: db}
      spec: {selector: {app: db}, ports: [{port: 5432}]}
  tenant:
    count: ${size(inputs.tenants)}
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "tenant-${inputs.tenants[index].lowerAscii()}"}
      data:
        tenant: ${inputs.tenants[index]}
        db: "${nodes.db-svc.spec.clusterIP}:${nodes.db-svc.spec.ports[0].port + 1}"
        tier: '${inputs.env == "prod" ? "gold" : "standard"}'
  web:
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        replicas: '${inputs.env == "prod" ? 3 : 1}' 
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}}
          spec: {containers: [{name: c, image: x}]}
  region:
    forEach: {in: '${inputs.regions}', name: '${each.value.name}'}
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "region-${each.value.name}"}
      data: {zone: "${each.value.zone}", place: "${each.index} of ${size(inputs.regions)}"}
  prod-only:
    when: '${inputs.env == "prod" && size(inputs.tenants) > 2}' 
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: prod-only}}
outputs:
  tenants: ${inputs.tenants.map(t, t.upperAscii()).join(",")}
`

func TestExpressionsDeploy(t *testing.T) {
	r, probs := template.Validate("exprs.yaml", []byte(withExpressions), template.Params{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if deps := r.Graph.DependsOn("tenant-1"); len(deps) != 1 || deps[0] != "db-svc" {
		t.Fatalf("the expression's node reference is not an edge: %v", deps)
	}
	if len(r.Instances) != 8 || len(r.Skipped) != 1 || r.Skipped[0] != "prod-only" {
		t.Fatalf("count and when from expressions: %d instances, skipped %v", len(r.Instances), r.Skipped)
	}
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("exprs-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: withExpressions}}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := Run(ctx, e, stack, op); err != nil || res.Err != nil {
		nodes, _ := e.Store.ListNodes(ctx, stack)
		for _, n := range nodes {
			t.Logf("%s %s %s %s", n.ID, n.Status, n.Reason, n.Message)
		}
		t.Fatalf("create: %v %v", err, res.Err)
	}
	svc, _ := cs.CoreV1().Services(stack).Get(ctx, "db", metav1.GetOptions{})
	for i, name := range []string{"acme", "globex", "initech"} {
		cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "tenant-"+name, metav1.GetOptions{})
		if err != nil || cm.Data["tenant"] != name || cm.Data["db"] != svc.Spec.ClusterIP+":5433" || cm.Data["tier"] != "standard" {
			t.Fatalf("tenant %d: %v %v", i, cm.Data, err)
		}
	}
	for i, want := range [][2]string{{"eu", "eu-west-1a"}, {"us", "us-east-1b"}, {"ap", "ap-south-1c"}} {
		cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "region-"+want[0], metav1.GetOptions{})
		if err != nil || cm.Data["zone"] != want[1] || cm.Data["place"] != fmt.Sprintf("%d of 3", i) {
			t.Fatalf("forEach element %d: %v %v", i, cm.Data, err)
		}
		if n, err := e.Store.GetNode(ctx, stack, "region-"+want[0]); err != nil || n.Status != engine.NodeReady {
			t.Fatalf("the copy named by forEach.name: %v %v", n, err)
		}
	}
	d, err := cs.AppsV1().Deployments(stack).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 1 {
		t.Fatalf("replicas from an expression: %v %v", d, err)
	}
	st, _ := e.Store.GetStack(ctx, stack)
	if st.Outputs["tenants"] != "ACME,GLOBEX,INITECH" {
		t.Fatalf("output: %v", st.Outputs)
	}
}

// A when that reads an upstream ConfigMap's live data: decided once that ConfigMap is READY.
// Created with the cache off, the node is SKIPPED and its dependent reads it as absent; an
// update turning it on creates it; one turning it off again deletes the object, after the
// dependent has moved on.
const liveWhen = `format: aos/v1
name: livewhen
inputs:
  cache: {type: string, default: "off"}
nodes:
  flags:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: flags}, data: {cache: "${inputs.cache}"}}
  cache:
    when: '${nodes.flags.data.cache == "on"}'
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cache}, data: {size: 64Mi}}
  app:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: app}
      data: {cache: '${nodes.?cache.data.size.orValue("none")}'}
outputs:
  cache: '${nodes.?cache.metadata.name.orValue("-")}'
`

func TestWhenReadsLiveValues(t *testing.T) {
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("livewhen-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	up := func(cache string) {
		t.Helper()
		_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
			TemplateRequest: engine.TemplateRequest{Template: liveWhen, RawParams: map[string]string{"cache": cache}}}})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := Run(ctx, e, stack, op); err != nil || res.Err != nil {
			nodes, _ := e.Store.ListNodes(ctx, stack)
			for _, n := range nodes {
				t.Logf("%s %s %s %s", n.ID, n.Status, n.Reason, n.Message)
			}
			t.Fatalf("cache=%s: %v %v", cache, err, res.Err)
		}
	}
	expect := func(cache string, node engine.NodeStatus, exists bool, appSees, output string) {
		t.Helper()
		n, _ := e.Store.GetNode(ctx, stack, "cache")
		_, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "cache", metav1.GetOptions{})
		app, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "app", metav1.GetOptions{})
		st, _ := e.Store.GetStack(ctx, stack)
		if n.Status != node || (err == nil) != exists || app.Data["cache"] != appSees || st.Outputs["cache"] != output {
			t.Fatalf("cache=%s: node %s (%s: %s), object exists %v, app sees %q, output %v", cache, n.Status, n.Reason, n.Message, err == nil, app.Data["cache"], st.Outputs)
		}
	}
	up("off")
	expect("off", engine.NodeSkipped, false, "none", "-")
	up("on")
	expect("on", engine.NodeReady, true, "64Mi", "cache")
	up("off")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "cache", metav1.GetOptions{}); err != nil || time.Now().After(deadline) {
			break
		}
	}
	expect("off again", engine.NodeDeleted, false, "none", "-")
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	var skipped int
	for _, ev := range evs {
		if ev.Node == "cache" && ev.Reason == engine.ReasonWhenFalse {
			skipped++
		}
	}
	if skipped != 2 {
		t.Fatalf("want an event each time the when left cache out, got %d", skipped)
	}
}

// The tenants library template: one copy per tenant, named from it, sized by its plan. An
// update that drops the first tenant deletes its objects and leaves the other's alone — the
// copies are keyed by name, not position.
func TestTenantsTemplateKeysCopiesByName(t *testing.T) {
	src, err := os.ReadFile("../../templates/tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("tenants-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	up := func(tenants string) {
		t.Helper()
		_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
			TemplateRequest: engine.TemplateRequest{File: "tenants.yaml", Template: string(src), RawParams: map[string]string{"tenants": tenants}}}})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := Run(ctx, e, stack, op); err != nil || res.Err != nil {
			t.Fatalf("tenants=%s: %v %v", tenants, err, res.Err)
		}
	}
	up(`[{"name": "acme", "plan": "gold"}, {"name": "globex"}]`)
	acme, err := cs.AppsV1().Deployments(stack).Get(ctx, "app-acme", metav1.GetOptions{})
	if err != nil || *acme.Spec.Replicas != 2 || acme.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String() != "500m" {
		t.Fatalf("gold tenant: %v", err)
	}
	globex, err := cs.AppsV1().Deployments(stack).Get(ctx, "app-globex", metav1.GetOptions{})
	if err != nil || *globex.Spec.Replicas != 1 {
		t.Fatalf("basic tenant: %v", err)
	}
	svc, _ := cs.CoreV1().Services(stack).Get(ctx, "db", metav1.GetOptions{})
	if env := globex.Spec.Template.Spec.Containers[0].Env[0]; env.Value != svc.Spec.ClusterIP+":5432" {
		t.Fatalf("the database address from the live Service: %v", env)
	}
	if st, _ := e.Store.GetStack(ctx, stack); st.Outputs["tenants"] != "acme,globex" || fmt.Sprint(st.Outputs["gold"]) != "1" {
		t.Fatalf("outputs: %v", st.Outputs)
	}

	up(`[{"name": "globex"}]`)
	if _, err := e.Store.GetNode(ctx, stack, "app-globex"); err != nil {
		t.Fatal(err)
	}
	after, err := cs.AppsV1().Deployments(stack).Get(ctx, "app-globex", metav1.GetOptions{})
	if err != nil || after.Generation != globex.Generation || after.UID != globex.UID {
		t.Fatalf("the remaining tenant's Deployment was touched: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := cs.AppsV1().Deployments(stack).Get(ctx, "app-acme", metav1.GetOptions{})
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dropped tenant's Deployment is still there")
		}
	}
}

// A live path the kind's schema does not have fails the create before anything is applied,
// where it is written, with a did-you-mean; a kind the cluster does not serve yet is not
// checked.
func TestLivePathsAreCheckedAgainstTheClustersSchemas(t *testing.T) {
	const src = `format: aos/v1
name: paths
nodes:
  db-svc:
    manifest: {apiVersion: v1, kind: Service, metadata: {name: db}, spec: {ports: [{port: 5432}]}}
    outputs: {host: .spec.clusterIp}
  app:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: app}
      data:
        port: "${nodes.db-svc.spec.prots[0].port}"
        next: "${string(nodes.db-svc.spec.ports[0].port + 1)}"
        widget: "${nodes.widget.spec.anything}"
  widget:
    manifest: {apiVersion: example.com/v1, kind: NotServedYet, metadata: {name: w}}
`
	e := newEngine(t)
	ctx := context.Background()
	stack := fmt.Sprintf("paths-%d", time.Now().UnixNano()%100000)
	_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{File: "paths.yaml", Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, e, stack, op)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`paths.yaml:6:21: node "db-svc": output "host": .spec.clusterIp: Service has no field .spec.clusterIp (did you mean "clusterIP"?)`,
		`paths.yaml:13:15: node "app": manifest.data.port: ${nodes.db-svc.spec.prots[0].port}: Service has no field .spec.prots (did you mean "ports"?)`,
	}
	// The state machine carries the error as Step Functions does: its name, then its text.
	if res.Err == nil || !strings.HasPrefix(res.Err.Error(), "InvalidTemplateError: template has 2 problem(s):\n"+want[0]+"\n"+want[1]) {
		t.Fatalf("want the two problems, got %v", res.Err)
	}
	if st, _ := e.Store.GetStack(ctx, stack); st.Status != engine.StackCreateFailed || st.Lease != nil {
		t.Fatalf("the stack: %s, lease %v", st.Status, st.Lease)
	}
	if nodes, _ := e.Store.ListNodes(ctx, stack); len(nodes) != 0 {
		t.Fatalf("something was planned: %d nodes", len(nodes))
	}
}
