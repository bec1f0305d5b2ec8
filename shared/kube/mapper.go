package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// mapper resolves kinds to resources from the API server's discovery document of each group
// version a stack uses (GET /api/v1, /apis/G/V), cached, and read again when a kind is unknown,
// so that a CRD applied earlier in the same stack becomes usable without a restart.
//
// client-go's discovery client and REST mapper would do it too, but they link every typed API
// and the OpenAPI models (about 145 packages) into each Lambda function; one group version's
// resource list is all a mapping needs.
type mapper struct {
	host   string
	client *http.Client
	mu     sync.Mutex
	lists  map[schema.GroupVersion][]metav1.APIResource
}

func newMapper(cfg *rest.Config) (*mapper, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	// The server's URL as client-go forms it (a host with no scheme, a path prefix of a proxy).
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, err
	}
	return &mapper{host: strings.TrimSuffix(base.String(), "/"), client: hc, lists: map[schema.GroupVersion][]metav1.APIResource{}}, nil
}

// resources returns a group version's resources, from the cache unless fresh is set. A group
// version the server does not serve has none.
func (m *mapper) resources(ctx context.Context, gv schema.GroupVersion, fresh bool) ([]metav1.APIResource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if list, ok := m.lists[gv]; ok && !fresh {
		return list, nil
	}
	path := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.host+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var list metav1.APIResourceList
	switch {
	case resp.StatusCode == http.StatusNotFound:
	case resp.StatusCode != http.StatusOK:
		// As an API error, so that retry tells a busy server from a refusal.
		return nil, apierrors.NewGenericServerResponse(resp.StatusCode, http.MethodGet, schema.GroupResource{}, "", string(body), 0, true)
	default:
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("discovery of %s: %w", gv, err)
		}
	}
	m.lists[gv] = list.APIResources
	return list.APIResources, nil
}

// mapping finds a kind among its group version's resources; subresources (pods/status) are
// not kinds of their own.
func (m *mapper) mapping(ctx context.Context, gvk schema.GroupVersionKind, fresh bool) (*meta.RESTMapping, error) {
	list, err := m.resources(ctx, gvk.GroupVersion(), fresh)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		if r.Kind != gvk.Kind || strings.Contains(r.Name, "/") {
			continue
		}
		scope := meta.RESTScopeRoot
		if r.Namespaced {
			scope = meta.RESTScopeNamespace
		}
		return &meta.RESTMapping{Resource: gvk.GroupVersion().WithResource(r.Name), GroupVersionKind: gvk, Scope: scope}, nil
	}
	return nil, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
}
