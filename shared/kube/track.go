package kube

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/apimachinery/pkg/watch"
)

// Target is one object a caller tracks, under the caller's own id for it.
type Target struct {
	ID  string
	Ref Ref
	// Quick: the caller judges the object by Evaluate with no conditions of its own, and
	// wants no change that leaves it WAITING, so Watch may pass over changes that a typed
	// rule says leave it rolling (quick.go).
	Quick bool
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
// unknown are left out. A check counts every object of its stack at each turn, most of them
// of a few kinds: each kind is mapped once per call.
func (c *Client) Groups(ctx context.Context, refs iter.Seq[Ref]) map[Group]int {
	out := map[Group]int{}
	type kind struct{ apiVersion, kind string }
	gvrs := map[kind]schema.GroupVersionResource{}
	for r := range refs {
		k := kind{r.APIVersion, r.Kind}
		gvr, ok := gvrs[k]
		if !ok {
			var err error
			if gvr, err = c.Resource(ctx, r); err != nil {
				continue
			}
			gvrs[k] = gvr
		}
		out[Group{gvr, r.Namespace}]++
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

// From is where Watch starts, and what the caller already knows of the targets.
type From struct {
	// Versions: per group, the resourceVersion to watch from; the API server first sends every
	// change since, then changes as they happen.
	Versions map[Group]string
	// Floors: per target, a resourceVersion at or below which its events are older than what
	// the caller knows (the object as read, or its last apply), and are dropped: replayed
	// from an earlier version, an object that was updated would show its old generation,
	// which can read as ready. Resource versions of one resource compare as integers
	// (KEP-5504); an event that cannot be compared ends the watch, to read again.
	Floors map[string]string
	// Backlog, when set, is handed at once the latest state of each target that the changes
	// sent first bring (those the server holds from before the watch began), before changed
	// sees any; an empty map when none came.
	Backlog func(map[string]*unstructured.Unstructured) (done bool, err error)
}

// backlogQuiet and BacklogMost end the first burst of a watch from an earlier version: the
// API server sends what it holds at once, so a pause this long means it has sent it. Ending
// early costs a turn, not a change: what is not handed here is handed to changed, or to the
// next watch from the version Watch reports.
const (
	backlogQuiet = 10 * time.Millisecond
	BacklogMost  = 250 * time.Millisecond
)

// Watch watches the targets from from.Versions, calling changed with each target's new state
// until changed says it is done, fails, or ctx ends. It reports resync when it stopped for any
// other reason than changed being done: ctx ended, a watch closed or expired (410 Gone), or a
// target was deleted. The caller then reads everything again. at is, per group, the version
// up to which every change was handed to Backlog or changed: a later watch from it misses
// nothing.
func (c *Client) Watch(ctx context.Context, stack string, targets []Target, from From, changed func(id string, u *unstructured.Unstructured) (done bool, err error)) (resync bool, at map[Group]string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	groups, err := c.byGroup(ctx, targets)
	if err != nil {
		return false, nil, err
	}
	events := make(chan *hit, 64)
	var streams []*stream
	failed := false
	for g, ts := range groups {
		byName := make(map[string]Target, len(ts))
		for _, t := range ts {
			byName[t.Ref.Name] = t
		}
		ri := c.ri(Ref{GVR: g.GVR, Namespace: g.Namespace})
		gvk, rolling := kindOf(ts)
		// From the version read before the objects were: only changes since, no replay of
		// every object of the stack. A few targets get a watch each, by name: the API server
		// then sends only their changes, where a watch by the stack's label sends (and this
		// process decodes) every change to the stack's objects of the kind.
		v := from.Versions[g]
		opts := []metav1.ListOptions{{LabelSelector: LabelStack + "=" + stack, ResourceVersion: v}}
		if len(ts) <= perObjectWatches {
			opts = opts[:0]
			for _, t := range ts {
				opts = append(opts, metav1.ListOptions{LabelSelector: LabelStack + "=" + stack, FieldSelector: "metadata.name=" + t.Ref.Name, ResourceVersion: v})
			}
		}
		for _, o := range opts {
			s := &stream{group: g, last: v, byName: byName, floors: from.Floors}
			streams = append(streams, s)
			var w watch.Interface
			if rolling != nil {
				s.typed, s.rolling = gvk, rolling
				w, err = c.quickWatch(ctx, g, gvk, o)
			} else {
				w, err = ri.Watch(ctx, o)
			}
			if err != nil {
				// A watch is an optimisation; the caller reads again when this one ends, or at
				// once when it resumes (it has read nothing of the changes since).
				zerolog.Ctx(ctx).Debug().Err(err).Msg("watch failed; falling back to polling")
				failed = true
				continue
			}
			go s.relay(ctx, w, events)
		}
	}
	// A group's version is its streams' earliest; a group with a version that does not
	// compare (none given, or not an integer) has none.
	reached := func() map[Group]string {
		out, bad := map[Group]string{}, map[Group]bool{}
		for _, s := range streams {
			v, seen := out[s.group]
			if !wellFormed(s.last) {
				bad[s.group] = true
			} else if c, _ := resourceversion.CompareResourceVersion(s.last, v); !seen || c < 0 {
				out[s.group] = s.last
			}
		}
		for g := range bad {
			delete(out, g)
		}
		return out
	}
	if from.Backlog != nil {
		if failed {
			return true, reached(), nil
		}
		first, resync := backlog(ctx, events)
		if resync {
			return true, reached(), nil
		}
		objs := make(map[string]*unstructured.Unstructured, len(first))
		for _, h := range first {
			h.s.last = h.rv
			if h.id != "" {
				objs[h.id] = h.u
			}
		}
		if done, err := from.Backlog(objs); err != nil || done {
			return false, reached(), err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return true, reached(), nil
		case h := <-events:
			if h == nil {
				return true, reached(), nil
			}
			h.s.last = h.rv
			if h.id == "" {
				continue
			}
			done, err := changed(h.id, h.u)
			if err != nil || done {
				return false, reached(), err
			}
		}
	}
}

// backlog takes the events that come before the first pause of backlogQuiet (at most
// BacklogMost); resync when a watch ended meanwhile.
func backlog(ctx context.Context, events <-chan *hit) ([]*hit, bool) {
	var out []*hit
	most := time.NewTimer(BacklogMost)
	defer most.Stop()
	quiet := time.NewTimer(backlogQuiet)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return out, true
		case <-most.C:
			return out, false
		case <-quiet.C:
			return out, false
		case h := <-events:
			if h == nil {
				return out, true
			}
			out = append(out, h)
			quiet.Reset(backlogQuiet)
		}
	}
}

// wellFormed: v is a resourceVersion that compares with others (KEP-5504).
func wellFormed(v string) bool {
	_, err := resourceversion.CompareResourceVersion(v, v)
	return err == nil
}

// perObjectWatches is how many targets of one group Watch follows with a watch each.
const perObjectWatches = 8

// kindOf is the kind of the targets of one group, and its rule in stillRolling: nil when
// the kind has none (its watch decodes into Unstructured).
func kindOf(ts []Target) (schema.GroupVersionKind, func(runtime.Object) bool) {
	gvk := schema.FromAPIVersionAndKind(ts[0].Ref.APIVersion, ts[0].Ref.Kind)
	for _, t := range ts {
		if t.Ref.APIVersion != ts[0].Ref.APIVersion || t.Ref.Kind != ts[0].Ref.Kind {
			return gvk, nil
		}
	}
	return gvk, stillRolling[gvk]
}

// stream is one watch: its group, and the version of the last event handed on from it. A
// protobuf watch (quick.go) has the kind it decodes into, and its rule.
type stream struct {
	group   Group
	last    string
	byName  map[string]Target
	floors  map[string]string
	typed   schema.GroupVersionKind
	rolling func(runtime.Object) bool
}

// hit is one event of a stream; id is empty for an object no target names (handed on only so
// that the stream's version moves past it).
type hit struct {
	s  *stream
	rv string
	id string
	u  *unstructured.Unstructured
}

// relay passes a watch's events to events; nil says the watch ended (or a tracked object was
// deleted, or an event could not be placed against a floor) and the caller should read again.
func (s *stream) relay(ctx context.Context, w watch.Interface, events chan<- *hit) {
	defer w.Stop()
	send := func(h *hit) bool {
		select {
		case events <- h:
			return h != nil
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type == watch.Error {
				send(nil)
				return
			}
			obj, err := meta.Accessor(ev.Object)
			if err != nil {
				continue
			}
			kind := s.typed.Kind
			if u, isObj := ev.Object.(*unstructured.Unstructured); isObj {
				kind = u.GetKind()
			}
			h := &hit{s: s, rv: obj.GetResourceVersion()}
			t, tracked := s.byName[obj.GetName()]
			if tracked && t.Ref.Kind == kind {
				if ev.Type == watch.Deleted {
					// Also what a removed label looks like through a label selector: read the
					// object again rather than call it gone.
					send(nil)
					return
				}
				if floor, ok := s.floors[t.ID]; ok {
					c, err := resourceversion.CompareResourceVersion(h.rv, floor)
					if err != nil {
						send(nil)
						return
					}
					tracked = c > 0
				}
			} else {
				tracked = false
			}
			if tracked && t.Quick && s.rolling != nil && s.rolling(ev.Object) {
				tracked = false
			}
			if tracked {
				u, isObj := ev.Object.(*unstructured.Unstructured)
				if !isObj {
					if u, err = toUnstructured(ev.Object, s.typed); err != nil {
						send(nil)
						return
					}
				}
				h.id, h.u = t.ID, u
			}
			if !send(h) {
				return
			}
		}
	}
}

// Key names a group in a payload, as group/version/resource/namespace.
func (g Group) Key() string {
	return g.GVR.Group + "/" + g.GVR.Version + "/" + g.GVR.Resource + "/" + g.Namespace
}

// GroupOf is the group ref's object is in.
func (c *Client) GroupOf(ctx context.Context, ref Ref) (Group, error) {
	gvr, err := c.Resource(ctx, ref)
	if err != nil {
		return Group{}, err
	}
	return Group{gvr, ref.Namespace}, nil
}
