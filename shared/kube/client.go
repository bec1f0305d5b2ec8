// Package kube is AOS's Kubernetes layer: one client that applies a node's object with
// server-side apply under one field manager, refuses objects it does not own, tells when an
// object is truly ready or has truly failed, reads back live values, and deletes.
package kube

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// FieldManager is the one field manager AOS applies with.
const FieldManager = "aos"

// Labels and annotations AOS puts on every object it applies.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	ManagedByValue      = "aos"
	LabelStack          = "aos.dev/stack"
	AnnotationStack     = "aos.dev/stack"
	AnnotationNode      = "aos.dev/node"
	AnnotationNamespace = "aos.dev/stack-namespace"
	// AnnotationStackUID names the stack by its UID: ownership is decided by it where set.
	AnnotationStackUID = "aos.dev/stack-uid"
)

// Client talks to one cluster.
type Client struct {
	Config  *rest.Config
	Dynamic dynamic.Interface
	// meta lists objects' metadata only: what a look for deleted objects needs.
	meta    metadata.Interface
	mapper  *mapper
	schemas schemas
	proto   protoClients
}

// ConfigOptions say where the cluster is. With nothing set, the usual kubeconfig rules apply
// (KUBECONFIG, ~/.kube/config), then in-cluster configuration.
type ConfigOptions struct {
	Kubeconfig string
	Context    string
}

// LoadConfig builds a REST config from a kubeconfig file and context, or in-cluster config
// when there is no kubeconfig.
func LoadConfig(o ConfigOptions) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if o.Kubeconfig == "" && o.Context == "" {
			if in, inErr := rest.InClusterConfig(); inErr == nil {
				return in, nil
			}
		}
		return nil, fmt.Errorf("loading kubeconfig (context %q): %w", o.Context, err)
	}
	return cfg, nil
}

// New returns a client for cfg.
func New(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		// No client-side limit: the API server's priority and fairness says what it accepts,
		// with 429s and Retry-After that every call honours (retry.go). A fixed 100/s made
		// the client, not the server, the bottleneck of a large stack: 3 requests per node.
		cfg.QPS = -1
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	m, err := newMapper(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery for %s: %w", cfg.Host, err)
	}
	return &Client{Config: cfg, Dynamic: dyn, meta: meta, mapper: m}, nil
}

// Mapping returns the resource and scope of a kind. Discovery errors the server may recover
// from are retried like any other API call.
func (c *Client) Mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	var mapping *meta.RESTMapping
	lookup := func(fresh bool) func() error {
		return func() (err error) {
			mapping, err = c.mapper.mapping(ctx, gvk, fresh)
			return err
		}
	}
	err := retry(ctx, DefaultRetry, "API discovery", lookup(false))
	if err == nil {
		return mapping, nil
	}
	if !meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("looking up %s: %w", gvk, err)
	}
	err = retry(ctx, DefaultRetry, "API discovery", lookup(true))
	if meta.IsNoMatchError(err) {
		// A CRD that says Established can be ahead of the discovery document that lists its
		// kind; only then is it worth reading discovery again.
		var established bool
		if established, err = c.mapper.establishedCRD(ctx, gvk); err != nil {
			return nil, fmt.Errorf("looking up %s: reading its CustomResourceDefinition: %w", gvk, err)
		}
		err = &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
		if established {
			mapping, err = c.mapper.awaitDiscovery(ctx, gvk)
		}
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, &UnknownKindError{GVK: gvk, Err: err}
		}
		return nil, fmt.Errorf("looking up %s: %w", gvk, err)
	}
	return mapping, nil
}

// UnknownKindError: the cluster does not serve a kind, even after refreshing discovery.
type UnknownKindError struct {
	GVK schema.GroupVersionKind
	Err error
}

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("the cluster does not serve kind %q in %q (after refreshing API discovery): install its CRD first, or make this node depend on the node that creates it", e.GVK.Kind, e.GVK.GroupVersion())
}

func (e *UnknownKindError) Unwrap() error { return e.Err }

// IsUnknownKind reports whether err is an UnknownKindError.
func IsUnknownKind(err error) bool {
	var u *UnknownKindError
	return errors.As(err, &u)
}
