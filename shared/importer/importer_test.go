package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/importer"
	"github.com/aos-project/aos/shared/source"
)

func load(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	dir, _ := filepath.Abs("testdata")
	objs, err := source.Render(context.Background(), source.Request{Kind: source.Manifests, Dir: dir, Spec: map[string]any{"path": "shop"}})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// A folder with a Service, Deployment, ConfigMap, Secret, PVC, Ingress and a backend whose
// env holds db:5432 becomes a template that validates, with exactly the edges Kubernetes
// links, the address as a reference, and the Secret's value as a secret input.
func TestImportFolder(t *testing.T) {
	res, err := importer.Import(load(t), importer.Options{Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"backend-config -> service-db",         // DB_URL's db.shop.svc.cluster.local
		"deployment-backend -> backend-config", // envFrom
		"deployment-backend -> service-db",     // DB_ADDR: db:5432
		"deployment-db -> db-auth",             // secretKeyRef
		"deployment-db -> db-data",             // persistentVolumeClaim
		"service-backend -> deployment-backend",
		"service-db -> deployment-db", // the selector
		"web -> service-backend",      // the Ingress backend
	}
	if got := res.Template.Edges(); !slices.Equal(got, want) {
		t.Errorf("edges:\n got %q\nwant %q", got, want)
	}
	if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "ReplicaSet/backend-5d8f: owned by Deployment backend") {
		t.Errorf("skipped: %q", res.Skipped)
	}
	out, err := res.Template.YAML()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{
		`value: "${nodes.service-db.metadata.name}:5432"`,
		`DB_URL: "postgres://${nodes.service-db.metadata.name}.${stack.namespace}.svc.cluster.local:5432/app"`,
		`password: "${inputs.db_auth_password}"`,
		`db_auth_password: {type: string, secret: true, description: 'Secret db-auth, key password'}`,
		`value: db`, // POSTGRES_DB is a database name, not an address
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the template lacks %s:\n%s", want, text)
		}
	}
	for _, gone := range []string{"czNjcmV0", "s3cret", "10.96.0.50", "resourceVersion", "uid:", "availableReplicas", "deployment.kubernetes.io/revision", "namespace: shop"} {
		if strings.Contains(text, gone) {
			t.Errorf("the template holds %q:\n%s", gone, text)
		}
	}
	if res.Secrets["db_auth_password"] != "s3cret" {
		t.Errorf("secret value: %q", res.Secrets["db_auth_password"])
	}
	params := map[string]any{}
	for k, v := range res.Secrets {
		params[k] = v
	}
	resp, err := engine.Validate(context.Background(), engine.TemplateRequest{File: "shop.yaml", Template: text, Params: params})
	if err != nil || !resp.Valid {
		t.Fatalf("the imported template does not validate: %v %+v\n%s", err, resp, text)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "shop.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportNothing(t *testing.T) {
	sa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default"}}}
	if _, err := importer.Import([]*unstructured.Unstructured{sa}, importer.Options{}); err == nil || !strings.Contains(err.Error(), "no objects to import") {
		t.Fatalf("want a clear error, got %v", err)
	}
}
