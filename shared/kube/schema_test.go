package kube_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/kube"
)

// Paths into a kind's schema as the cluster publishes it: fields that exist, maps that take
// any key, a field that is not there (with the fields that are), an index into a non-list.
func TestCheckPathAgainstTheClustersSchema(t *testing.T) {
	c, err := kube.New(testcluster.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	svc := schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	deploy := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	path := func(steps ...any) []kube.Step {
		var out []kube.Step
		for _, s := range steps {
			if s == 0 {
				out = append(out, kube.Step{IsIndex: true})
			} else {
				out = append(out, kube.Step{Field: s.(string)})
			}
		}
		return out
	}
	ctx := context.Background()
	for _, ok := range []struct {
		gvk  schema.GroupVersionKind
		path []kube.Step
	}{
		{svc, path("spec", "ports", 0, "nodePort")},
		{svc, path("spec", "clusterIP")},
		{svc, path("metadata", "labels", "app")},
		{svc, path("status", "loadBalancer", "ingress", 0, "ip")},
		{deploy, path("status", "readyReplicas")},
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, path("data", "anything")},
		{schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "NotServed"}, path("spec", "x")},
	} {
		if err := c.CheckPath(ctx, ok.gvk, ok.path); err != nil {
			t.Errorf("%s %v: %v", ok.gvk.Kind, ok.path, err)
		}
	}
	var pe *kube.PathError
	err = c.CheckPath(ctx, svc, path("spec", "prots", 0))
	if !errors.As(err, &pe) || pe.At != ".spec.prots" || pe.Field != "prots" || !slices.Contains(pe.Known, "ports") {
		t.Fatalf("a field the schema lacks: %#v", err)
	}
	err = c.CheckPath(ctx, deploy, path("spec", "replicas", 0))
	if !errors.As(err, &pe) || !pe.NotList || pe.At != ".spec.replicas[]" {
		t.Fatalf("an index into a number: %#v", err)
	}
}
