package kube_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aos-project/aos/shared/kube"
)

// The mapper reads one group version's discovery document: resources and scopes as the API
// server serves them, subresources never taken for a kind, a missing group or kind unknown.
func TestMappingFromDiscovery(t *testing.T) {
	t.Parallel()
	c := client(t)
	ctx := context.Background()
	cases := []struct {
		gvk      schema.GroupVersionKind
		resource string
		scope    meta.RESTScopeName
	}{
		{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "pods", meta.RESTScopeNameNamespace},
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "namespaces", meta.RESTScopeNameRoot},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", meta.RESTScopeNameNamespace},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, "clusterroles", meta.RESTScopeNameRoot},
		// Served in v1 only as subresources (pods/eviction, replicationcontrollers/scale).
		{schema.GroupVersionKind{Version: "v1", Kind: "Eviction"}, "", ""},
		{schema.GroupVersionKind{Version: "v1", Kind: "Scale"}, "", ""},
	}
	for _, tc := range cases {
		m, err := c.Mapping(ctx, tc.gvk)
		if tc.resource == "" {
			if !kube.IsUnknownKind(err) {
				t.Errorf("%s: a kind served only as a subresource: %v %v", tc.gvk, m, err)
			}
			continue
		}
		if err != nil || m.Resource.Resource != tc.resource || m.Scope.Name() != tc.scope || m.Resource.GroupVersion() != tc.gvk.GroupVersion() {
			t.Errorf("%s: %+v %v", tc.gvk, m, err)
		}
	}
	for _, gvk := range []schema.GroupVersionKind{{Version: "v1", Kind: "Ghost"}, {Group: "nowhere.aos.dev", Version: "v1", Kind: "Ghost"}, {Group: "apps", Version: "v9", Kind: "Deployment"}} {
		if _, err := c.Mapping(ctx, gvk); !kube.IsUnknownKind(err) {
			t.Errorf("%s: %v", gvk, err)
		}
	}
}
