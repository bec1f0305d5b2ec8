package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// NamespaceObjects reads every object in a namespace, of every kind the server lists there
// (the preferred version of each group), for `aos import`. Events and Endpoints are left
// out; the caller decides about the rest.
func (c *Client) NamespaceObjects(ctx context.Context, namespace string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	err := c.eachInNamespace(ctx, namespace, func(o *unstructured.Unstructured) bool {
		out = append(out, o)
		return true
	})
	return out, err
}

// eachInNamespace calls fn with every object in namespace, of every listable kind but Event
// and Endpoints (apiVersion and kind set), until fn says to stop.
func (c *Client) eachInNamespace(ctx context.Context, namespace string, fn func(*unstructured.Unstructured) bool) error {
	gvs, err := c.mapper.groupVersions(ctx)
	if err != nil {
		return err
	}
	for _, gv := range gvs {
		list, err := c.mapper.resources(ctx, gv, false)
		if err != nil {
			return err
		}
		for _, r := range list {
			if !r.Namespaced || strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || r.Kind == "Event" || r.Kind == "Endpoints" {
				continue
			}
			objs, err := c.Dynamic.Resource(gv.WithResource(r.Name)).Namespace(namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("listing %s in namespace %s: %w", r.Name, namespace, err)
			}
			for i := range objs.Items {
				o := &objs.Items[i]
				o.SetAPIVersion(gv.String())
				o.SetKind(r.Kind)
				if !fn(o) {
					return nil
				}
			}
		}
	}
	return nil
}
