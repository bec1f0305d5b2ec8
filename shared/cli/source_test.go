package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/internal/testregistry"
)

// Two charts and a kustomize overlay in one stack: the second chart, pulled from a loopback
// OCI registry, takes the first chart's Service clusterIP in its values, and is applied only
// once every object of the first (its CRD, custom resource, hook and Deployment) is READY.
// An update that changes nothing leaves every object alone; a value change updates the
// chart in place; delete removes every object but the chart's CRD, as Helm does.
func TestChartsAndKustomizeAsNodes(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("charts-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	src, err := filepath.Abs("../source/testdata")
	if err != nil {
		t.Fatal(err)
	}
	// The template sits beside the charts: paths are relative to it.
	dir := t.TempDir()
	for _, d := range []string{"charts", "kustomize"} {
		if err := os.CopyFS(filepath.Join(dir, d), os.DirFS(filepath.Join(src, d))); err != nil {
			t.Fatal(err)
		}
	}
	oci := testregistry.PushOCI(t, filepath.Join(src, "charts/web"))
	tpl := filepath.Join(dir, "stack.yaml")
	body := `format: aos/v1
name: charts
inputs:
  size: {type: string, default: small}
nodes:
  cache:
    chart:
      path: charts/cache
      values: {size: "${inputs.size}"}
  web:
    chart:
      oci: ` + oci + `
      version: 1.2.0
      plainHTTP: true
      values:
        cacheAddress: '${nodes.cache.objects["Service/cache-master"].spec.clusterIP}:6379'
  overlay:
    kustomize: kustomize/dev
outputs:
  cache: '${nodes.cache.objects["Service/cache-master"].spec.clusterIP}'
`
	if err := os.WriteFile(tpl, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	if code, out, errs := run(t, "", append(g, "plan", tpl, "--stack", stack)...); code != ExitOK || !strings.Contains(out, "chart") || !strings.Contains(out, "3 to create") {
		t.Fatalf("plan: %d\n%s\n%s", code, out, errs)
	}
	code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack)...)
	if code != ExitOK {
		t.Fatalf("up: %d\n%s\n%s", code, out, errs)
	}

	cs := testcluster.Client(t)
	ctx := context.Background()
	svc, err := cs.CoreV1().Services(stack).Get(ctx, "cache-master", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := svc.Spec.ClusterIP + ":6379"; cm.Data["CACHE_ADDR"] != want || svc.Spec.ClusterIP == "" {
		t.Fatalf("web's CACHE_ADDR = %q, want the cache Service's live %q", cm.Data["CACHE_ADDR"], want)
	}
	if cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "dev-settings", metav1.GetOptions{}); err != nil || cm.Data["level"] != "debug" {
		t.Fatalf("the kustomize overlay's ConfigMap: %v %v", err, cm)
	}
	dyn := dynamic.NewForConfigOrDie(testcluster.Config(t))
	cr := schema.GroupVersionResource{Group: "test.aos.dev", Version: "v1", Resource: "cacheconfigs"}
	if u, err := dyn.Resource(cr).Namespace(stack).Get(ctx, "cache", metav1.GetOptions{}); err != nil || u.Object["spec"].(map[string]any)["size"] != "small" {
		t.Fatalf("the chart's custom resource: %v %v", err, u)
	}

	var status struct {
		Nodes []struct {
			ID        string    `json:"id"`
			Status    string    `json:"status"`
			Objects   []string  `json:"objects"`
			AppliedAt time.Time `json:"appliedAt"`
			ReadyAt   time.Time `json:"readyAt"`
		} `json:"nodes"`
	}
	code, out, _ = run(t, "", append(g, "status", stack, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &status); code != ExitOK || err != nil {
		t.Fatalf("status: %d %v\n%s", code, err, out)
	}
	at := map[string]int{}
	for i, n := range status.Nodes {
		at[n.ID] = i
		if n.Status != "READY" {
			t.Errorf("node %s is %s", n.ID, n.Status)
		}
	}
	cache, web := status.Nodes[at["cache"]], status.Nodes[at["web"]]
	if got := strings.Join(cache.Objects, " "); got != "ConfigMap/cache-prepare CustomResourceDefinition/cacheconfigs.test.aos.dev Service/cache-master Deployment/cache CacheConfig/cache" {
		t.Errorf("cache's objects, in apply order: %s", got)
	}
	if web.AppliedAt.Before(cache.ReadyAt) {
		t.Errorf("web applied at %s, before cache was READY at %s", web.AppliedAt, cache.ReadyAt)
	}
	if !strings.Contains(out, `"cache": "`+svc.Spec.ClusterIP+`"`) {
		t.Errorf("output cache is not the Service's clusterIP %s:\n%s", svc.Spec.ClusterIP, out)
	}

	// Nothing changed: no object is sent again.
	dep, _ := cs.AppsV1().Deployments(stack).Get(ctx, "web", metav1.GetOptions{})
	code, out, errs = run(t, "", append(g, "up", tpl, "--stack", stack)...)
	if code != ExitOK || strings.Count(out, "Unchanged: ") != 3 || strings.Contains(out, "Applied: ") {
		t.Fatalf("up again: want the three nodes unchanged, none applied: %d\n%s\n%s", code, out, errs)
	}
	if again, _ := cs.AppsV1().Deployments(stack).Get(ctx, "web", metav1.GetOptions{}); again.ResourceVersion != dep.ResourceVersion {
		t.Errorf("an unchanged chart was applied again: resourceVersion %s → %s", dep.ResourceVersion, again.ResourceVersion)
	}
	// A value changes: plan says which chart, and the update reaches the custom resource.
	if code, out, _ := run(t, "", append(g, "plan", tpl, "--stack", stack, "-p", "size=large")...); code != ExitOK || !strings.Contains(out, "2 to update, 0 to delete, 1 unchanged") || !strings.Contains(out, "reads values from \"cache\"") {
		t.Fatalf("plan of a value change: %d\n%s", code, out)
	}
	if code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack, "-p", "size=large")...); code != ExitOK {
		t.Fatalf("up size=large: %d\n%s\n%s", code, out, errs)
	}
	if u, err := dyn.Resource(cr).Namespace(stack).Get(ctx, "cache", metav1.GetOptions{}); err != nil || u.Object["spec"].(map[string]any)["size"] != "large" {
		t.Fatalf("after the update: %v %v", err, u)
	}

	// Drift inside a chart names the object; the next `aos up` applies the chart again (the
	// drift test in drift_test.go repairs with --repair instead), and it is in sync after.
	if _, err := cs.AppsV1().Deployments(stack).Patch(ctx, "cache", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, "", append(g, "drift", stack)...); code != ExitError || !strings.Contains(out, "Deployment/cache spec.replicas: 4 (stack: 1)") || !strings.Contains(out, "1 of 3 node(s) drifted") {
		t.Fatalf("drift: %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack)...); code != ExitOK || !strings.Contains(out, "cache                    WAITING              Applied") {
		t.Fatalf("up after drift: want the drifted chart applied again: %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := run(t, "", append(g, "drift", stack)...); code != ExitOK || !strings.Contains(out, "0 of 3 node(s) drifted") {
		t.Fatalf("drift after up: %d\n%s\n%s", code, out, errs)
	}
	if d, err := cs.AppsV1().Deployments(stack).Get(ctx, "cache", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 1 {
		t.Fatalf("after repair: %v %v", err, d)
	}

	if code, out, errs := run(t, "", append(g, "down", stack)...); code != ExitOK {
		t.Fatalf("down: %d\n%s\n%s", code, out, errs)
	}
	if _, err := cs.AppsV1().Deployments(stack).Get(ctx, "cache", metav1.GetOptions{}); err == nil {
		t.Error("the chart's Deployment outlived the stack")
	}
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dyn.Resource(crds).Get(ctx, "cacheconfigs.test.aos.dev", metav1.GetOptions{}); err != nil {
		t.Errorf("the chart's CRD was deleted: %v", err)
	}
}

// A template sent over the API cannot make the server read a local path: it is refused at
// the node's line before anything runs, with what to do instead.
func TestLocalPathsAreRefusedOverTheAPI(t *testing.T) {
	kc := kubeconfigPath(t)
	url, tokens := remoteServer(t, kc)
	tpl := write(t, "local.yaml", `format: aos/v1
name: local
nodes:
  extras:
    manifests: /etc
`)
	code, out, errs := run(t, "", "--server", url, "--token-file", tokens, "up", tpl, "--stack", fmt.Sprintf("local-%d", time.Now().UnixNano()%100000))
	if code != ExitInvalid || !strings.Contains(out+errs, "local.yaml:5:16") || !strings.Contains(out+errs, "the server reads no caller's files") {
		t.Fatalf("want the local path refused at its line: %d\n%s\n%s", code, out, errs)
	}
}
