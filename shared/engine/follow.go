package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
)

// An apply-node call does not end at its apply. For up to FollowFor it watches the node it
// applied, and the moment the node is READY it applies each dependent whose dependencies are
// all READY, then follows those too. Without this, readiness that arrives while the state
// machine's Map of applies runs waits for the Map to end and for the next check-ready: about
// one Map's length between a dependency's READY and its dependent's apply.
//
// Check-ready stays the judge. Whatever a follower leaves (a node still WAITING at the
// deadline, a chart or a lookup, a dependent that reads other stacks, a write it lost) the
// next check-ready finds in the store, as before. Two followers that both see a dependent's
// last dependency READY both apply it: server-side apply is idempotent, and the record's
// conditional write lets only one of them record it and follow it. Because each follower
// records READY before it reads the dependencies' records, and the store reads are strongly
// consistent, of two followers whose nodes complete a dependent's dependencies at least one
// sees them all.

// MapConcurrency is the state machine's ApplyReady MaxConcurrency (statemachine's tests hold
// the ASL to it): 40, the most concurrent iterations an inline Map runs on AWS.
const MapConcurrency = 40

// EnvFollow sets FollowFor in both wirings (a duration such as 20s; 0, the default, leaves
// every start to check-ready).
//
// Off by default, on measurement (docs/performance.md, round four): on the local control
// plane check-ready's own watch already starts a dependent a median 11-28 ms after its last
// dependency is READY, and with following on the same shapes took longer (random-200, in
// alternating runs: 19.0 and 21.0 s against 18.2 and 19.7 s), nodes being recorded READY
// later while the cluster did the same work. What following does cut is the state machine's work per node: 2 to
// 11 times fewer state transitions and 2 to 16 times fewer function invocations, which on
// AWS is what a stack costs, and where each turn takes longer than here.
const EnvFollow = "AOS_APPLY_FOLLOW"

// DefaultFollow is FollowFor when EnvFollow is unset.
const DefaultFollow = 0

// FollowSetting reads EnvFollow through getenv.
func FollowSetting(getenv func(string) string) (time.Duration, error) {
	v := getenv(EnvFollow)
	if v == "" {
		return DefaultFollow, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a duration such as 20s, or 0 to turn following off", EnvFollow, v)
	}
	return d, nil
}

// failingKey names an operation for StackRecord.Failing: status and revision tell a rollback,
// or a rebuild's create, from the operation that failed before it.
func failingKey(st *StackRecord) string { return fmt.Sprintf("%s/%d", st.Status, st.Revision) }

// mayStart reports whether new nodes may start in the operation st records: it goes forward,
// no cancel was asked, and no node failed in it.
func mayStart(st *StackRecord) bool {
	return st.Status.forward() && !st.CancelRequested && st.Failing != failingKey(st)
}

// followable: a node whose one object a watch can follow. Charts, folders (several objects)
// and lookups (no stack label) are left to check-ready.
func followable(n *NodeRecord) bool {
	return n.Status == NodeWaiting && n.Source == "" && !n.Lookup && n.Ref != nil
}

// unblocked returns the candidates that may start, in order: PENDING, kept by the revision,
// reading no other stack (check-ready holds those until the stacks settle), and with every
// dependency READY or left out. recs holds the candidates' records and their dependencies'.
func unblocked(cands []string, recs map[string]*NodeRecord) []string {
	var out []string
	for _, id := range cands {
		n := recs[id]
		if n == nil || n.Status != NodePending || n.Remove || len(n.Stacks) > 0 || slices.Contains(out, id) {
			continue
		}
		if !slices.ContainsFunc(n.DependsOn, func(d string) bool { return recs[d] == nil || !recs[d].passed() }) {
			out = append(out, id)
		}
	}
	return out
}

type follower struct {
	e        *Engine
	st       *StackRecord
	client   *kube.Client
	red      *secrets.Redactor
	deadline time.Time
	// inflight are the followed nodes still WAITING, with their objects as last seen and the
	// resourceVersion of each, from which its watch goes on.
	inflight map[string]*NodeRecord
	objs     map[string]*unstructured.Unstructured
	from     map[string]string
	w        *kube.Watcher
	// Dependents are applied beside the loop, which goes on taking changes meanwhile: their
	// results come back on results; pending counts those not back yet.
	results chan started
	pending int
	done    chan struct{}
	wg      sync.WaitGroup
}

// started is what one dependent's apply came to: follow it (applied), or start its own
// dependents (passed).
type started struct {
	applied *NodeResponse
	passed  *NodeRecord
}

// follow runs after ApplyNode's own apply. Its errors end it and nothing else: the node's
// answer stands, and check-ready goes on from the store.
func (e *Engine) follow(ctx context.Context, stack string, first NodeResponse) {
	switch {
	case first.Status == NodeFailed:
		e.markFailing(ctx, stack)
		return
	case first.Status == NodeWaiting && first.applied, first.Status == NodeReady, first.Status == NodeSkipped:
	default:
		return
	}
	f := &follower{e: e, deadline: e.now().Add(e.FollowFor), inflight: map[string]*NodeRecord{},
		objs: map[string]*unstructured.Unstructured{}, from: map[string]string{}}
	if err := f.run(ctx, stack, first); err != nil {
		zerolog.Ctx(ctx).Debug().Err(err).Str("stack", stack).Str("node", first.Node).Msg("stopped following; check-ready goes on from the store")
	}
}

func (f *follower) run(ctx context.Context, stack string, first NodeResponse) error {
	var err error
	if f.st, err = f.e.Store.GetStack(ctx, stack); err != nil || !mayStart(f.st) {
		return err
	}
	if f.client, err = f.e.Cluster(ctx, f.st); err != nil {
		return err
	}
	if _, f.red, err = f.e.inputs(f.st); err != nil {
		return err
	}
	f.w = f.client.NewWatcher(ctx, stack)
	f.results, f.done = make(chan started), make(chan struct{})
	defer func() {
		close(f.done)
		f.wg.Wait()
		f.w.Close()
	}()
	var ready []*NodeRecord
	fresh := []NodeResponse{first}
	if !first.applied {
		n, err := f.e.Store.GetNode(ctx, stack, first.Node)
		if err != nil || !n.passed() {
			return err
		}
		ready, fresh = []*NodeRecord{n}, nil
	}
	for {
		if len(fresh) > 0 {
			passed, err := f.add(ctx, fresh)
			if err != nil {
				return err
			}
			ready, fresh = append(ready, passed...), nil
		}
		if len(ready) > 0 && f.e.now().Before(f.deadline) {
			if err := f.startDependents(ctx, ready); err != nil {
				return err
			}
			ready = nil
		}
		if len(f.inflight) == 0 && f.pending == 0 || !f.e.now().Before(f.deadline) {
			return nil
		}
		if fresh, ready, err = f.next(ctx); err != nil {
			return err
		}
	}
}

// add starts following nodes this process just applied, from the objects the server
// answered the applies with (no read), and returns those already READY.
func (f *follower) add(ctx context.Context, applied []NodeResponse) ([]*NodeRecord, error) {
	var nodes, unseen, onApply []*NodeRecord
	for _, a := range applied {
		n := a.rec
		if n != nil && n.Status == NodeReady {
			onApply = append(onApply, n) // READY on its apply (apply_ready.go), recorded so
			continue
		}
		if n == nil || !followable(n) {
			continue
		}
		nodes, f.inflight[n.ID] = append(nodes, n), n
		if a.live == nil {
			unseen = append(unseen, n)
			continue
		}
		f.objs[n.ID], f.from[n.ID] = a.live, a.live.GetResourceVersion()
	}
	if err := f.read(ctx, unseen); err != nil {
		return nil, err
	}
	passed, err := f.settle(ctx, nodes)
	if err != nil {
		return nil, err
	}
	passed = append(onApply, passed...)
	for _, n := range nodes {
		if f.inflight[n.ID] != nil {
			if err := f.w.Add(kube.Target{ID: n.ID, Ref: *n.Ref}, f.from[n.ID]); err != nil {
				return nil, err
			}
		}
	}
	return passed, nil
}

// read GETs the nodes' objects: their state now, and the version to watch them from.
func (f *follower) read(ctx context.Context, nodes []*NodeRecord) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	sem := make(chan struct{}, 8)
	for i, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			u, err := f.client.Get(ctx, *n.Ref)
			if err != nil {
				errs[i] = fmt.Errorf("node %q: %w", n.ID, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			f.objs[n.ID], f.from[n.ID] = u, ""
			if u != nil {
				f.from[n.ID] = u.GetResourceVersion()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// settle judges nodes on their objects as last seen, drops the settled ones from inflight,
// and returns those that passed; a failure stops the operation starting anything new. A
// follower sees every step of a rollout: it records transitions only, and leaves progress
// (a reason changing while the node waits) to check-ready, which looks less often.
func (f *follower) settle(ctx context.Context, nodes []*NodeRecord) ([]*NodeRecord, error) {
	var resp CheckResponse
	if _, err := f.e.evaluate(ctx, nodes, f.objs, f.red, &resp, false); err != nil {
		return nil, err
	}
	var passed []*NodeRecord
	for _, n := range nodes {
		switch {
		case n.Status == NodeWaiting:
			continue
		case n.passed():
			passed = append(passed, n)
		case n.Status == NodeFailed:
			f.e.markFailing(ctx, f.st.Name)
		}
		delete(f.inflight, n.ID)
		if f.w != nil {
			f.w.Remove(n.ID)
		}
	}
	return passed, nil
}

// next waits for changes to the followed objects and for dependents' applies to return,
// until the deadline or a node's ready.timeout; it takes every change and result that is
// there by then, and returns the applies to follow and the nodes that passed.
func (f *follower) next(ctx context.Context) (fresh []NodeResponse, passed []*NodeRecord, err error) {
	nodes := make([]*NodeRecord, 0, len(f.inflight))
	for _, n := range f.inflight {
		nodes = append(nodes, n)
	}
	timer := time.NewTimer(watchBudget(nodes, f.e.now(), f.deadline.Sub(f.e.now())) + 10*time.Millisecond)
	defer timer.Stop()
	took := func(r started) {
		f.pending--
		if r.applied != nil {
			fresh = append(fresh, *r.applied)
		}
		if r.passed != nil {
			passed = append(passed, r.passed)
		}
	}
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-timer.C:
		if !f.e.now().Before(f.deadline) {
			return nil, nil, nil
		}
		// A node's ready.timeout fell due: judge it on what was last seen.
		passed, err = f.settle(ctx, nodes)
		return nil, passed, err
	case r := <-f.results:
		took(r)
	case c := <-f.w.Changes():
		passed, err = f.take(ctx, c)
	}
	for err == nil {
		select {
		case r := <-f.results:
			took(r)
			continue
		case c := <-f.w.Changes():
			var p []*NodeRecord
			p, err = f.take(ctx, c)
			passed = append(passed, p...)
			continue
		default:
		}
		break
	}
	return fresh, passed, err
}

// take judges a node on one change to its object; a lost watch is read again and restarted.
func (f *follower) take(ctx context.Context, c kube.Change) ([]*NodeRecord, error) {
	n := f.inflight[c.ID]
	if n == nil {
		return nil, nil
	}
	if !c.Lost {
		f.objs[c.ID], f.from[c.ID] = c.Object, c.Object.GetResourceVersion()
		return f.settle(ctx, []*NodeRecord{n})
	}
	if err := f.read(ctx, []*NodeRecord{n}); err != nil {
		return nil, err
	}
	passed, err := f.settle(ctx, []*NodeRecord{n})
	if err == nil && f.inflight[n.ID] != nil {
		err = f.w.Add(kube.Target{ID: n.ID, Ref: *n.Ref}, f.from[n.ID])
	}
	return passed, err
}

// startDependents applies the dependents of ready nodes that may start now, side by side
// within the process's apply limit, beside the loop: each apply's result comes back on
// f.results (an apply this call won, to follow; or a dependent that passed at once, a when
// that left it out).
func (f *follower) startDependents(ctx context.Context, ready []*NodeRecord) error {
	st, err := f.e.Store.GetStack(ctx, f.st.Name)
	if err != nil || !mayStart(st) {
		return err
	}
	recs := map[string]*NodeRecord{}
	var cands []string
	for _, n := range ready {
		recs[n.ID] = n
		cands = append(cands, n.Dependents...)
	}
	get := func(id string) error {
		if _, ok := recs[id]; ok {
			return nil
		}
		r, err := f.e.Store.GetNode(ctx, f.st.Name, id)
		if errors.Is(err, ErrNotFound) {
			r, err = nil, nil
		}
		recs[id] = r
		return err
	}
	for _, id := range cands {
		if err := get(id); err != nil {
			return err
		}
		if r := recs[id]; r != nil && r.Status == NodePending {
			for _, d := range r.DependsOn {
				if err := get(d); err != nil {
					return err
				}
			}
		}
	}
	slots := f.e.applySlots()
	for _, id := range unblocked(cands, recs) {
		f.pending++
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			r := f.apply(ctx, slots, id)
			select {
			case f.results <- r:
			case <-f.done:
			}
		}()
	}
	return nil
}

// apply applies one dependent and says what came of it.
func (f *follower) apply(ctx context.Context, slots *limiter, id string) started {
	if err := slots.acquire(ctx); err != nil {
		return started{}
	}
	var pushed atomic.Bool
	resp, err := f.e.applyNode(kube.WithPushback(ctx, func() { pushed.Store(true) }), NodeRequest{Stack: f.st.Name, Node: id})
	slots.release(pushed.Load())
	if err != nil {
		zerolog.Ctx(ctx).Debug().Str("error", f.red.String(err.Error())).Str("stack", f.st.Name).Str("node", id).Msg("apply after a dependency became READY; check-ready will start it")
		return started{}
	}
	switch {
	case resp.Status == NodeFailed:
		f.e.markFailing(ctx, f.st.Name)
	case resp.applied:
		return started{applied: &resp}
	case resp.Status == NodeSkipped:
		if n, err := f.e.Store.GetNode(ctx, f.st.Name, id); err == nil {
			return started{passed: n}
		}
	}
	return started{}
}

// markFailing records on the stack that a node failed in its operation, so that no other
// apply-node of the turn starts a node; check-ready, which decides from the node records,
// does not need it.
func (e *Engine) markFailing(ctx context.Context, stack string) {
	for range 5 {
		st, err := e.Store.GetStack(ctx, stack)
		if err != nil || !st.Status.forward() || st.Failing == failingKey(st) {
			return
		}
		st.Failing = failingKey(st)
		if err = e.Store.PutStack(ctx, st, st.Version); !errors.Is(err, ErrVersionConflict) {
			return
		}
	}
}
