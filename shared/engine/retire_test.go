package engine

import (
	"testing"

	"github.com/aos-project/aos/shared/kube"
)

func TestSameObject(t *testing.T) {
	cm := kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	dep := kube.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "ns", Name: "web"}
	cases := []struct {
		a, b kube.Ref
		same bool
	}{
		{cm, cm, true},
		{dep, kube.Ref{APIVersion: "apps/v1beta2", Kind: "Deployment", Namespace: "ns", Name: "web"}, true},
		{cm, kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "b"}, false},
		{cm, kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "other", Name: "a"}, false},
		{cm, kube.Ref{APIVersion: "v1", Kind: "Secret", Namespace: "ns", Name: "a"}, false},
		{dep, kube.Ref{APIVersion: "extensions.example.com/v1", Kind: "Deployment", Namespace: "ns", Name: "web"}, false},
	}
	for _, c := range cases {
		if got := sameObject(c.a, c.b); got != c.same {
			t.Errorf("sameObject(%s %s, %s %s) = %v", c.a.APIVersion, c.a, c.b.APIVersion, c.b, got)
		}
	}
}

func TestIdentityOfARenderedManifest(t *testing.T) {
	was := kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "migrate-v1"}
	m := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "migrate-v2"}}
	if got := identity(m, was, "shop"); got.Namespace != "shop" || got.Name != "migrate-v2" || sameObject(got, was) {
		t.Fatalf("identity %+v", got)
	}
	ns := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "x"}}
	if got := identity(ns, kube.Ref{APIVersion: "v1", Kind: "Namespace", Name: "x"}, "shop"); got.Namespace != "" {
		t.Fatalf("a cluster-scoped object gets no namespace: %+v", got)
	}
}
