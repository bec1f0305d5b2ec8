package kube

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
)

// Watcher follows objects with one watch each (by name, from the version the caller last
// saw), added and removed as the caller goes: for a caller that follows a few objects of a
// large stack at a time, where a watch by the stack's label would send (and have this
// process decode) every change to every object of the stack, and where reopening every
// watch whenever one object is done would cost a request per object each time.
type Watcher struct {
	c       *Client
	stack   string
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	stops   map[string]context.CancelFunc
	changes chan Change
}

// Change is a followed object's new state. Lost: its watch ended (closed, expired, or the
// object was deleted or lost the stack's label): read the object again and, if it still
// matters, Add it again.
type Change struct {
	ID     string
	Object *unstructured.Unstructured
	Lost   bool
}

// NewWatcher starts a watcher of stack's objects; Close stops it.
func (c *Client) NewWatcher(ctx context.Context, stack string) *Watcher {
	ctx, cancel := context.WithCancel(ctx)
	return &Watcher{c: c, stack: stack, ctx: ctx, cancel: cancel, stops: map[string]context.CancelFunc{}, changes: make(chan Change, 64)}
}

// Changes delivers the followed objects' changes, in order for each object.
func (w *Watcher) Changes() <-chan Change { return w.changes }

// Add watches t's object from resourceVersion from (its version as the caller last read it;
// "" starts with its current state).
func (w *Watcher) Add(t Target, from string) error {
	gvr, err := w.c.Resource(w.ctx, t.Ref)
	if err != nil {
		return fmt.Errorf("node %q: %w", t.ID, err)
	}
	ri := w.c.ri(Ref{GVR: gvr, Namespace: t.Ref.Namespace})
	ctx, stop := context.WithCancel(w.ctx)
	iface, err := ri.Watch(ctx, metav1.ListOptions{LabelSelector: LabelStack + "=" + w.stack, FieldSelector: "metadata.name=" + t.Ref.Name, ResourceVersion: from})
	if err != nil {
		stop()
		return fmt.Errorf("watching %s: %w", t.Ref, err)
	}
	w.mu.Lock()
	if old := w.stops[t.ID]; old != nil {
		old()
	}
	w.stops[t.ID] = stop
	w.mu.Unlock()
	go w.relay(ctx, iface, t)
	return nil
}

// Remove stops following a target.
func (w *Watcher) Remove(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if stop := w.stops[id]; stop != nil {
		stop()
		delete(w.stops, id)
	}
}

// Close stops every watch.
func (w *Watcher) Close() { w.cancel() }

func (w *Watcher) relay(ctx context.Context, iface watch.Interface, t Target) {
	defer iface.Stop()
	send := func(c Change) bool {
		select {
		case w.changes <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-iface.ResultChan():
			if !ok || ev.Type == watch.Error || ev.Type == watch.Deleted {
				send(Change{ID: t.ID, Lost: true})
				return
			}
			u, isObj := ev.Object.(*unstructured.Unstructured)
			if !isObj || u.GetName() != t.Ref.Name || u.GetKind() != t.Ref.Kind {
				continue
			}
			if !send(Change{ID: t.ID, Object: u}) {
				return
			}
		}
	}
}
