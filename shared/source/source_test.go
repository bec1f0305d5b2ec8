package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/internal/testregistry"
)

func testdata(t *testing.T) string {
	d, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func keys(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		s = append(s, Key(o))
	}
	return strings.Join(s, " ")
}

func find(objs []*unstructured.Unstructured, key string) *unstructured.Unstructured {
	for _, o := range objs {
		if Key(o) == key {
			return o
		}
	}
	return nil
}

func TestChartFromPath(t *testing.T) {
	objs, err := Render(context.Background(), Request{Kind: Chart, Dir: testdata(t), Namespace: "ns1", Release: "redis",
		Spec: map[string]any{"path": "charts/cache", "values": map[string]any{"replicas": int64(3), "size": "large"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The CRD first, then the pre-install hook, then install order; the test hook is left out.
	want := "ConfigMap/redis-prepare CustomResourceDefinition/cacheconfigs.test.aos.dev Service/redis-master Deployment/redis CacheConfig/redis"
	if got := keys(objs); got != want {
		t.Fatalf("objects:\n got %s\nwant %s", got, want)
	}
	d := find(objs, "Deployment/redis")
	if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 3 {
		t.Errorf("replicas = %d, want 3 from values", r)
	}
	if s, _, _ := unstructured.NestedString(find(objs, "CacheConfig/redis").Object, "spec", "size"); s != "large" {
		t.Errorf("size = %q", s)
	}
}

func TestChartValuesRequired(t *testing.T) {
	_, err := Render(context.Background(), Request{Kind: Chart, Dir: testdata(t), Release: "web", Spec: map[string]any{"path": "charts/web"}})
	if err == nil || !strings.Contains(err.Error(), "cacheAddress is required") {
		t.Fatalf("want the chart's required message, got %v", err)
	}
}

func TestChartFromOCIRegistry(t *testing.T) {
	oci := testregistry.PushOCI(t, filepath.Join(testdata(t), "charts/web"))
	objs, err := Render(context.Background(), Request{Kind: Chart, Release: "front", Namespace: "ns1", CacheDir: t.TempDir(),
		Spec: map[string]any{"oci": oci, "version": "1.2.0", "plainHTTP": true, "values": map[string]any{"cacheAddress": "10.0.0.7:6379"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(objs); got != "ConfigMap/front-config Deployment/front" {
		t.Fatalf("objects: %s", got)
	}
	if v, _, _ := unstructured.NestedString(objs[0].Object, "data", "CACHE_ADDR"); v != "10.0.0.7:6379" {
		t.Errorf("CACHE_ADDR = %q", v)
	}
	_, err = Render(context.Background(), Request{Kind: Chart, Release: "front", CacheDir: t.TempDir(),
		Spec: map[string]any{"oci": oci, "version": "9.9.9", "plainHTTP": true}})
	if err == nil || !strings.Contains(err.Error(), "downloading") {
		t.Fatalf("a missing version: want a download error, got %v", err)
	}
}

func TestChartFromRepository(t *testing.T) {
	url := testregistry.ServeRepo(t, filepath.Join(testdata(t), "charts/web"))
	t.Setenv("HELM_CACHE_HOME", t.TempDir())
	objs, err := Render(context.Background(), Request{Kind: Chart, Release: "w", CacheDir: t.TempDir(),
		Spec: map[string]any{"repo": url, "name": "web", "version": "1.2.0", "values": map[string]any{"cacheAddress": "x:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(objs); got != "ConfigMap/w-config Deployment/w" {
		t.Fatalf("objects: %s", got)
	}
}

func TestKustomizeOverlay(t *testing.T) {
	objs, err := Render(context.Background(), Request{Kind: Kustomize, Dir: testdata(t), Spec: map[string]any{"path": "kustomize/dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(objs); got != "ConfigMap/dev-settings Service/dev-api" {
		t.Fatalf("objects: %s", got)
	}
	if p, _, _ := unstructured.NestedSlice(objs[1].Object, "spec", "ports"); len(p) != 1 || p[0].(map[string]any)["port"] != int64(80) {
		t.Errorf("ports = %#v, want int64 numbers, as unstructured objects hold", p)
	}
	if v, _, _ := unstructured.NestedString(objs[0].Object, "data", "level"); v != "debug" {
		t.Errorf("level = %q, want the overlay's patch", v)
	}
}

func TestManifestsFolder(t *testing.T) {
	objs, err := Render(context.Background(), Request{Kind: Manifests, Dir: testdata(t), Spec: map[string]any{"path": "manifests/app"}})
	if err != nil {
		t.Fatal(err)
	}
	// Files in name order, a List opened, the empty document and README.txt skipped, then
	// install order.
	if got := keys(objs); got != "ServiceAccount/worker ConfigMap/worker-settings Deployment/worker" {
		t.Fatalf("objects: %s", got)
	}
	one, err := Render(context.Background(), Request{Kind: Manifests, Dir: testdata(t), Spec: map[string]any{"path": "manifests/app/b-deploy.yaml"}})
	if err != nil || keys(one) != "Deployment/worker" {
		t.Fatalf("one file: %v %s", err, keys(one))
	}
}

func TestSourceErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "twice.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("apiVersion: v1\nkind: [\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "noname.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: a-}\n"), 0o644)
	for _, c := range []struct {
		r    Request
		want string
	}{
		{Request{Kind: Manifests, Spec: map[string]any{"path": "x"}}, "did not come with"},
		{Request{Kind: Manifests, Spec: map[string]any{"path": "/etc"}}, "did not come with"},
		{Request{Kind: Manifests, Dir: dir, Spec: map[string]any{"path": "missing"}}, "does not exist on the machine that applies"},
		{Request{Kind: Manifests, Dir: dir, Spec: map[string]any{"path": "twice.yaml"}}, "ConfigMap/a appears twice"},
		{Request{Kind: Manifests, Dir: dir, Spec: map[string]any{"path": "bad.yaml"}}, "bad.yaml: document 1"},
		{Request{Kind: Manifests, Dir: dir, Spec: map[string]any{"path": "noname.yaml"}}, "without metadata.name"},
		{Request{Kind: Chart, Spec: map[string]any{"version": "1"}}, "needs one of path, repo (with name) or oci"},
		{Request{Kind: Chart, Spec: map[string]any{"oci": "registry/x"}}, "must start with oci://"},
		{Request{Kind: Chart, Dir: testdata(t), Release: "r", Spec: map[string]any{"path": "charts/cache", "values": "no"}}, "values must be a mapping"},
		{Request{Kind: Kustomize, Dir: testdata(t), Spec: map[string]any{"path": "charts"}}, "kustomize"},
	} {
		_, err := Render(ctx, c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: want %q, got %v", c.r.Kind, c.r.Spec, c.want, err)
		}
	}
}
