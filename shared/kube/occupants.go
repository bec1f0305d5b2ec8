package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Occupants lists up to max objects in namespace that the stack did not put there: objects
// other tools or stacks created, which deleting the namespace would delete with it. Objects
// that something owns (a Deployment's pods, a Service's EndpointSlices), objects already
// being deleted, events, and what Kubernetes itself puts in every namespace (the default
// ServiceAccount, kube-root-ca.crt, the Endpoints of each Service, which carry no owner) are
// not counted. Each is named Kind/name.
func (c *Client) Occupants(ctx context.Context, namespace, stack string, max int) ([]string, error) {
	var out []string
	err := c.eachInNamespace(ctx, namespace, func(o *unstructured.Unstructured) bool {
		kind := o.GetKind()
		switch {
		case len(o.GetOwnerReferences()) > 0, o.GetDeletionTimestamp() != nil,
			o.GetAnnotations()[AnnotationStack] == stack && o.GetLabels()[LabelManagedBy] == ManagedByValue,
			kind == "ServiceAccount" && o.GetName() == "default",
			kind == "ConfigMap" && o.GetName() == "kube-root-ca.crt":
			return true
		}
		out = append(out, kind+"/"+o.GetName())
		return len(out) < max
	})
	if err != nil {
		// A resource this client may not list cannot be checked; say so rather than delete
		// what might be in it.
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// groupVersions lists the preferred version of every API group the server serves, the core
// group first.
func (m *mapper) groupVersions(ctx context.Context) ([]schema.GroupVersion, error) {
	var groups metav1.APIGroupList
	if err := m.get(ctx, "/apis", &groups); err != nil {
		return nil, err
	}
	out := []schema.GroupVersion{{Version: "v1"}}
	for _, g := range groups.Groups {
		out = append(out, schema.GroupVersion{Group: g.Name, Version: g.PreferredVersion.Version})
	}
	return out, nil
}

func (m *mapper) get(ctx context.Context, path string, into any) error {
	return m.getAs(ctx, path, "application/json", into)
}

func (m *mapper) getAs(ctx context.Context, path, accept string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.host+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", accept)
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, into)
}
