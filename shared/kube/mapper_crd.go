package kube

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// discoveryLag bounds how long a kind may be missing from discovery after its CRD reports
// Established. The API server sets Established and updates its discovery documents from two
// different controllers, so a client that saw Established can still read a discovery document
// without the kind for a moment.
var discoveryLag = 10 * time.Second

// establishedCRD reports whether the cluster holds a CustomResourceDefinition that says it
// serves gvk and is Established. Only the names of the CRDs are listed; the few in the kind's
// group are then read whole.
func (m *mapper) establishedCRD(ctx context.Context, gvk schema.GroupVersionKind) (bool, error) {
	if gvk.Group == "" {
		return false, nil
	}
	const base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
	var names metav1.PartialObjectMetadataList
	if err := m.getAs(ctx, base, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", &names); err != nil {
		return false, err
	}
	for _, item := range names.Items {
		if !strings.HasSuffix(item.Name, "."+gvk.Group) {
			continue
		}
		var crd struct {
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Served bool   `json:"served"`
				} `json:"versions"`
			} `json:"spec"`
			Status struct {
				Conditions []metav1.Condition `json:"conditions"`
			} `json:"status"`
		}
		if err := m.get(ctx, base+"/"+item.Name, &crd); err != nil {
			return false, err
		}
		if crd.Spec.Group != gvk.Group || crd.Spec.Names.Kind != gvk.Kind {
			continue
		}
		served := false
		for _, v := range crd.Spec.Versions {
			served = served || (v.Name == gvk.Version && v.Served)
		}
		for _, c := range crd.Status.Conditions {
			if served && c.Type == "Established" && c.Status == metav1.ConditionTrue {
				return true, nil
			}
		}
	}
	return false, nil
}

// awaitDiscovery reads the kind's group version again until discovery lists the kind, for a
// kind whose CRD is Established. It returns the last no-match error if the kind never shows.
func (m *mapper) awaitDiscovery(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	var mapping *meta.RESTMapping
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, discoveryLag, false, func(ctx context.Context) (bool, error) {
		var err error
		mapping, err = m.mapping(ctx, gvk, true)
		if meta.IsNoMatchError(err) || (err != nil && ctx.Err() != nil) {
			return false, nil
		}
		return err == nil, err
	})
	switch {
	case err == nil:
		return mapping, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case wait.Interrupted(err):
		return nil, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
	}
	return nil, err
}
