package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/source"
)

// A namespace someone filled by hand is imported into a template, then adopted as a stack
// without recreating anything; `aos up` of that template afterwards writes nothing: every
// object keeps its resourceVersion.
func TestImportAndAdoptALiveNamespace(t *testing.T) {
	kc := kubeconfigPath(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	ns := testcluster.Namespace(t, cs, "adopt")
	dyn := dynamic.NewForConfigOrDie(testcluster.Config(t))
	dir, _ := filepath.Abs("../importer/testdata")
	objs, err := source.Render(ctx, source.Request{Kind: source.Manifests, Dir: dir, Spec: map[string]any{"path": "shop"}})
	if err != nil {
		t.Fatal(err)
	}
	gvr := map[string]schema.GroupVersionResource{
		"Service": {Version: "v1", Resource: "services"}, "Secret": {Version: "v1", Resource: "secrets"},
		"ConfigMap": {Version: "v1", Resource: "configmaps"}, "Deployment": {Group: "apps", Version: "v1", Resource: "deployments"},
		"Ingress": {Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	}
	created := map[string]schema.GroupVersionResource{}
	for _, o := range objs {
		r, ok := gvr[o.GetKind()]
		if !ok || len(o.GetOwnerReferences()) > 0 {
			continue // the PVC would wait for a provisioner this cluster has not
		}
		o.SetNamespace(ns)
		for _, f := range []string{"uid", "resourceVersion"} {
			unstructured.RemoveNestedField(o.Object, "metadata", f)
		}
		unstructured.RemoveNestedField(o.Object, "status")
		unstructured.RemoveNestedField(o.Object, "spec", "clusterIP")
		if o.GetKind() == "Deployment" && o.GetName() == "db" {
			unstructured.RemoveNestedField(o.Object, "spec", "template", "spec", "volumes")
			unstructured.RemoveNestedField(o.Object, "spec", "template", "spec", "containers")
			unstructured.SetNestedSlice(o.Object, []any{map[string]any{"name": "db", "image": "postgres:16",
				"env": []any{map[string]any{"name": "PGPASSWORD", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "db-auth", "key": "password"}}}}}},
				"spec", "template", "spec", "containers")
		}
		if _, err := dyn.Resource(r).Namespace(ns).Create(ctx, o, metav1.CreateOptions{FieldManager: "kubectl"}); err != nil {
			t.Fatalf("%s/%s: %v", o.GetKind(), o.GetName(), err)
		}
		created[o.GetKind()+"/"+o.GetName()] = r
	}
	state := filepath.Join(t.TempDir(), "state.db")
	g := []string{"--state", state, "--kubeconfig", kc}
	t.Cleanup(func() { run(t, "", append(g, "down", ns)...) })

	code, out, errs := run(t, "", append(g, "import", "--from-namespace", ns)...)
	if code != ExitOK {
		t.Fatalf("import: %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"service-db:", "dependsOn: [deployment-db]", `value: "${nodes.service-db.metadata.name}:5432"`, "db_auth_password: {type: string, secret: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("the imported template lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, "czNjcmV0") || strings.Contains(out, "kube-root-ca.crt") {
		t.Fatalf("the template holds a secret or Kubernetes' own objects:\n%s", out)
	}

	tpl := filepath.Join(t.TempDir(), "shop.yaml")
	if code, out, errs := run(t, "", append(g, "import", "--from-namespace", ns, "--adopt", "--out", tpl)...); code != ExitOK || !strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("import --adopt: %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(tpl); err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for key, r := range created {
		u, err := dyn.Resource(r).Namespace(ns).Get(ctx, strings.SplitN(key, "/", 2)[1], metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		versions[key] = u.GetResourceVersion()
	}
	code, out, errs = run(t, "", append(g, "up", tpl, "--stack", ns, "--namespace", ns)...)
	if code != ExitOK || strings.Contains(out, "Applied: ") {
		t.Fatalf("up after adopt: want nothing applied: %d\n%s\n%s", code, out, errs)
	}
	for key, r := range created {
		u, err := dyn.Resource(r).Namespace(ns).Get(ctx, strings.SplitN(key, "/", 2)[1], metav1.GetOptions{})
		if err != nil || u.GetResourceVersion() != versions[key] {
			t.Errorf("%s changed: resourceVersion %s → %s (%v)", key, versions[key], u.GetResourceVersion(), err)
		}
	}
}
