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

// Get returns the client for name, building it from config the first time.
func (c *Clients) Get(name string, config func() (*rest.Config, error)) (*Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.m[name]; cl != nil {
		return cl, nil
	}
	rc, err := config()
	if err != nil {
		return nil, err
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
