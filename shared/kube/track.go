package kube

import (
	"context"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// Target is one object a caller tracks, under the caller's own id for it.
type Target struct {
	ID  string
	Ref Ref
}

// Group is one resource in one namespace: what one LIST or WATCH covers.
type Group struct {
	GVR       schema.GroupVersionResource
	Namespace string
}

// Snapshot is what Fetch read of the targets, and from where to watch for the next change: a
// resourceVersion per group, taken before the objects were read, so no change falls between
// the read and the watch.
type Snapshot struct {
	Objects  map[string]*unstructured.Unstructured // by target id; nil: gone
	Versions map[Group]string
}

// Groups counts objects per group, so Fetch can tell whether a LIST pays. Refs whose kind is
// unknown are left out.
func (c *Client) Groups(ctx context.Context, refs []Ref) map[Group]int {
	out := map[Group]int{}
	for _, r := range refs {
		if gvr, err := c.Resource(ctx, r); err == nil {
			out[Group{gvr, r.Namespace}]++
		}
	}
	return out
}

func (c *Client) byGroup(ctx context.Context, targets []Target) (map[Group][]Target, error) {
	out := map[Group][]Target{}
	for _, t := range targets {
		gvr, err := c.Resource(ctx, t.Ref)
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", t.ID, err)
		}
		g := Group{gvr, t.Ref.Namespace}
		out[g] = append(out[g], t)
	}
	return out, nil
}

// Fetch reads the targets, all labelled as objects of stack. Per group it costs one LIST by the
// stack's label when most of the stack's objects there (total, from Groups) are targets, else
// one GET per target (at most 8 at once): listing 200 READY Deployments to learn about 3 in
// flight would cost more than it saves. A nil total reads each target with a GET.
func (c *Client) Fetch(ctx context.Context, stack string, targets []Target, total map[Group]int) (*Snapshot, error) {
	s := &Snapshot{Objects: make(map[string]*unstructured.Unstructured, len(targets)), Versions: map[Group]string{}}
	groups, err := c.byGroup(ctx, targets)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	for g, ts := range groups {
		if total != nil && 2*len(ts) >= total[g] {
			list, rv, err := c.ListStack(ctx, g.GVR, g.Namespace, stack)
			if err != nil {
				return nil, err
			}
			s.Versions[g] = rv
			for _, t := range ts {
				if u := list[t.Ref.Name]; u != nil && u.GetKind() == t.Ref.Kind {
					s.Objects[t.ID] = u
				}
			}
		} else {
			rv, err := c.CurrentVersion(ctx, g.GVR, g.Namespace, stack)
			if err != nil {
				return nil, err
			}
			s.Versions[g] = rv
		}
		// GET what the list did not cover (or missed: a label removed by someone).
		var missing []Target
		for _, t := range ts {
			if _, ok := s.Objects[t.ID]; !ok {
				missing = append(missing, t)
			}
		}
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		var firstErr error
		for _, t := range missing {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				u, err := c.Get(ctx, t.Ref)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("node %q: %w", t.ID, err)
				}
				s.Objects[t.ID] = u
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
	}
	return s, nil
}

// Watch watches the targets from the versions Fetch returned, calling changed with each
// target's new state until changed says it is done, fails, or ctx ends. It
// reports resync when it stopped for any other reason than changed being done: ctx ended, a
// watch closed or expired (410 Gone), or a target was deleted. The caller then reads
// everything again.
func (c *Client) Watch(ctx context.Context, stack string, targets []Target, from map[Group]string, changed func(id string, u *unstructured.Unstructured) (done bool, err error)) (resync bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	groups, err := c.byGroup(ctx, targets)
	if err != nil {
		return false, err
	}
	events := make(chan *hit, 64)
	for g, ts := range groups {
		byName := make(map[string]Target, len(ts))
		for _, t := range ts {
			byName[t.Ref.Name] = t
		}
		ri := c.ri(Ref{GVR: g.GVR, Namespace: g.Namespace})
		// From the version read before the objects were: only changes since, no replay of
		// every object of the stack. A few targets get a watch each, by name: the API server
		// then sends only their changes, where a watch by the stack's label sends (and this
		// process decodes) every change to the stack's objects of the kind.
		opts := []metav1.ListOptions{{LabelSelector: LabelStack + "=" + stack, ResourceVersion: from[g]}}
		if len(ts) <= perObjectWatches {
			opts = opts[:0]
			for _, t := range ts {
				opts = append(opts, metav1.ListOptions{LabelSelector: LabelStack + "=" + stack, FieldSelector: "metadata.name=" + t.Ref.Name, ResourceVersion: from[g]})
			}
		}
		for _, o := range opts {
			w, err := ri.Watch(ctx, o)
			if err != nil {
				// A watch is an optimisation; the caller reads again when this one ends.
				zerolog.Ctx(ctx).Debug().Err(err).Msg("watch failed; falling back to polling")
				continue
			}
			go relay(ctx, w, byName, events)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case h := <-events:
			if h == nil {
				return true, nil
			}
			done, err := changed(h.id, h.u)
			if err != nil || done {
				return false, err
			}
		}
	}
}

// perObjectWatches is how many targets of one group Watch follows with a watch each.
const perObjectWatches = 8

type hit struct {
	id string
	u  *unstructured.Unstructured
}

// relay passes a watch's events about tracked objects to events; nil says the watch ended (or
// an object was deleted) and the caller should read again.
func relay(ctx context.Context, w watch.Interface, byName map[string]Target, events chan<- *hit) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type == watch.Error {
				select {
				case events <- nil:
				case <-ctx.Done():
				}
				return
			}
			u, isObj := ev.Object.(*unstructured.Unstructured)
			if !isObj {
				continue
			}
			t, tracked := byName[u.GetName()]
			if !tracked || t.Ref.Kind != u.GetKind() {
				continue
			}
			h := &hit{t.ID, u}
			if ev.Type == watch.Deleted {
				// Also what a removed label looks like through a label selector: read the
				// object again rather than call it gone.
				h = nil
			}
			select {
			case events <- h:
			case <-ctx.Done():
				return
			}
		}
	}
}
