package kube

import (
	"sync"

	"k8s.io/client-go/rest"
)

// Clients keeps one client per cluster name for the life of the process: a client holds its
// discovery cache and connections, which every call of a stack's functions reuses.
type Clients struct {
	mu sync.Mutex
	m  map[string]*Client
}

// Access is a cluster and who to be there: a kube context (a cluster name on EKS; "" is the
// default) and, when As is set, the user every request impersonates (a project's
// ServiceAccount, "system:serviceaccount:NS:NAME"), so that the cluster's RBAC decides.
type Access struct {
	Context string
	As      string
}

// Get returns the client for t, building it from config (the context's own credentials) the
// first time.
func (c *Clients) Get(t Access, config func() (*rest.Config, error)) (*Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := t.Context + "\x00" + t.As
	if cl := c.m[name]; cl != nil {
		return cl, nil
	}
	rc, err := config()
	if err != nil {
		return nil, err
	}
	if t.As != "" {
		rc = rest.CopyConfig(rc)
		rc.Impersonate = rest.ImpersonationConfig{UserName: t.As}
	}
	cl, err := New(rc)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*Client{}
	}
	c.m[name] = cl
	return cl, nil
}
