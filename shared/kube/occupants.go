package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Occupants lists up to max objects in namespace that the stack did not put there: objects
// other tools or stacks created, which deleting the namespace would delete with it. Objects
// that something owns (a Deployment's pods, a Service's EndpointSlices), objects already
// being deleted, events, and what Kubernetes itself puts in every namespace (the default
// ServiceAccount, kube-root-ca.crt, the Endpoints of each Service, which carry no owner) are
// not counted. Each is named Kind/name.
func (c *Client) Occupants(ctx context.Context, namespace, stack string, max int) ([]string, error) {
	gvs, err := c.mapper.groupVersions(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, gv := range gvs {
		list, err := c.mapper.resources(ctx, gv, false)
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			if !r.Namespaced || strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || r.Kind == "Event" || r.Kind == "Endpoints" {
				continue
			}
			objs, err := c.Dynamic.Resource(gv.WithResource(r.Name)).Namespace(namespace).List(ctx, metav1.ListOptions{Limit: 500})
			if err != nil {
				// A resource this client may not list cannot be checked; say so rather than
				// delete what might be in it.
				return nil, fmt.Errorf("listing %s in namespace %s: %w", r.Name, namespace, err)
			}
			for _, o := range objs.Items {
				switch {
				case len(o.GetOwnerReferences()) > 0, o.GetDeletionTimestamp() != nil,
					o.GetAnnotations()[AnnotationStack] == stack && o.GetLabels()[LabelManagedBy] == ManagedByValue,
					r.Kind == "ServiceAccount" && o.GetName() == "default",
					r.Kind == "ConfigMap" && o.GetName() == "kube-root-ca.crt":
					continue
				}
				out = append(out, r.Kind+"/"+o.GetName())
				if len(out) >= max {
					sort.Strings(out)
					return out, nil
				}
			}
		}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.host+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
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
