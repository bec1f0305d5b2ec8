package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/refs"
	"github.com/aos-project/aos/shared/secrets"
)

// CheckRequest names the stack to check.
type CheckRequest struct {
	Stack string `json:"stack"`
	// Execution is the execution running the check ($$.Execution.Name): the lease names it.
	Execution string `json:"execution,omitempty"`
	// Spent is the history events the execution has used, as the last check answered
	// ($.check.spent; continue.go).
	Spent int `json:"spent,omitempty"`
	// Applied are the ids the Map before this check applied (its items, $.check.batches):
	// their WAITING events are this check's to append (tell.go).
	Applied Applied `json:"applied,omitempty"`
	// Batched: the state machine that calls applies this check's Startable in Batches, an
	// iteration a batch. Its history events are counted so (continue.go); an execution
	// started before batches does not say, and is counted an iteration a node.
	Batched bool `json:"batched,omitempty"`
	// Readied are the ids the check before this one reported READY ($.check.ready): the READY
	// events it left to this check are appended with this check's (tell.go).
	Readied []string `json:"readied,omitempty"`
	// Since is where the check before saw every change to the stack's objects ($.check.since):
	// this check reads only what it must, and watches from there for the rest
	// (check_resume.go). None: read everything.
	Since map[string]string `json:"since,omitempty"`
}

// CheckResponse is what the state machine's Choice looks at.
type CheckResponse struct {
	Stack string `json:"stack"`
	// Startable are PENDING nodes whose dependencies are all READY: apply them next.
	Startable []string `json:"startable"`
	// Batches are Startable in at most MapConcurrency batches: the Map's items, so that
	// every node of a turn is applied at once (apply_batch.go).
	Batches [][]string `json:"batches"`
	// Turn is how many nodes the turn starts (len(Startable)): each apply-node is told, and
	// follows its node only when the Map runs every one of them at once (follow.go).
	Turn int `json:"turn"`
	// Ready and Failed list the nodes that changed during this call.
	Ready  []string `json:"ready"`
	Failed []string `json:"failed"`
	// InFlight counts nodes applied and not yet ready; Pending those not started.
	InFlight int `json:"inFlight"`
	Pending  int `json:"pending"`
	// Done: every node is READY. Failure: some node FAILED (nothing new is started then).
	Done    bool        `json:"done"`
	Failure bool        `json:"failure"`
	Status  StackStatus `json:"status"`
	// WaitSeconds is how long to wait before the next check when nothing is startable.
	WaitSeconds int `json:"waitSeconds"`
	// Spent counts the history events the execution will have used by the end of the turn
	// this answer starts; Continue says to go on in a new execution, named ContinueAs,
	// rather than pass Step Functions' 25,000 (continue.go).
	Spent      int    `json:"spent"`
	Continue   bool   `json:"continue"`
	ContinueAs string `json:"continueAs,omitempty"`
	// Since is, per kind and namespace (group/version/resource/namespace), the
	// resourceVersion up to which this check saw every change to the stack's objects: the
	// next check resumes from it (check_resume.go). Always present, null for none, so that
	// the state machine's path to it exists.
	Since map[string]string `json:"since"`

	// tell are events to append with the first transitions this check records (tell.go).
	tell *teller
	// deferred are nodes this check recorded READY whose events it leaves to the next check,
	// handed their ids in Ready (tell.go).
	deferred []*NodeRecord
}

// The state machine carries ids in its payloads, and AWS bounds each state's input and
// output at 256 KiB: a turn starts at most maxStartable nodes (the rest are startable again
// at the next check, which then does not wait), and reports at most maxReported ids of the
// nodes that changed. 1,000 ids of 63 characters are 65 KiB.
var maxStartable = 1000 // a var so that a test can make turns small

const maxReported = 100

func (r *CheckResponse) take(v verdict, maxWait time.Duration) {
	r.Startable, r.InFlight, r.Pending, r.Failure, r.Done = v.Startable, v.InFlight, v.Pending, v.Failure, v.Done
	if len(r.Startable) > maxStartable {
		r.Startable = r.Startable[:maxStartable]
	}
	r.Failed = append(r.Failed, v.Failed...)
	r.Ready, r.Failed = r.Ready[:min(len(r.Ready), maxReported)], r.Failed[:min(len(r.Failed), maxReported)]
	r.WaitSeconds = v.waitSeconds(maxWait)
}

// CheckReady checks every in-flight node of a stack in one call, records READY and FAILED
// nodes with their live values, and returns the nodes that became startable. When nothing
// changed it watches the in-flight objects for up to MaxWait, so readiness is noticed the
// moment it happens rather than at the next poll.
func (e *Engine) CheckReady(ctx context.Context, req CheckRequest) (CheckResponse, error) {
	resp, err := e.check(ctx, req)
	if err != nil {
		return resp, err
	}
	resp.Turn, resp.Batches = len(resp.Startable), batches(resp.Startable, MapConcurrency)
	if err := e.budget(ctx, req, &resp); err != nil {
		// Settle comes next, not a check that would tell them.
		e.tellDeferred(ctx, &resp)
		return resp, err
	}
	return resp, nil
}

func (e *Engine) check(ctx context.Context, req CheckRequest) (CheckResponse, error) {
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return CheckResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	nodes, err := e.listForCheck(ctx, req.Stack)
	if err != nil {
		return CheckResponse{}, fmt.Errorf("stack %q: listing nodes: %w", req.Stack, err)
	}
	if err := e.renewLease(ctx, st, req.Execution); err != nil {
		return CheckResponse{}, err
	}
	if st.Status == StackDeleteInProgress {
		return e.checkDelete(ctx, st, nodes)
	}
	resp := CheckResponse{Stack: st.Name, Startable: []string{}, Ready: []string{}, Failed: []string{}}
	told := untold(nodes, req.Applied, req.Readied)
	for _, n := range withStatus(told, NodeReady) {
		if n.AppliedReason != "" {
			resp.Ready = append(resp.Ready, n.ID) // READY on its apply, in the Map before
		}
	}
	resp.tell = e.newTeller(ctx, e.untoldEvents(ctx, told))
	// Whatever the check ends with, what it was handed is told.
	defer resp.tell.close()
	// Nodes left startable by the last turn's cap are started at once, not after a watch.
	byID := index(nodes)
	wait := len(decideIn(nodes, byID).Startable) == 0 && !st.CancelRequested
	if err := e.observe(ctx, st, nodes, req, &resp, wait); err != nil {
		return CheckResponse{}, err
	}
	// The watch may have lasted MaxWait, and the stack record changed meanwhile (a cancel):
	// decide on the record as it is now, and write from it.
	if st, err = e.Store.GetStack(ctx, req.Stack); err != nil {
		return CheckResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	v := decideIn(nodes, byID)
	if st.CancelRequested {
		v = cancelled(v)
	}
	if v.Blocked != nil {
		if _, err := e.fail(ctx, v.Blocked, "Blocked", v.Why, nil); err != nil {
			return CheckResponse{}, err
		}
	}
	if deleting := withStatus(v.Removing, NodeDeleting); len(deleting) > 0 {
		gone, err := e.awaitGone(ctx, st, deleting)
		if err != nil {
			return CheckResponse{}, err
		}
		resp.Ready = append(resp.Ready, gone...)
		if v = decideIn(nodes, byID); st.CancelRequested {
			v = cancelled(v)
		}
	}
	resp.take(v, e.MaxWait)
	e.holdForStacks(ctx, st, byID, &resp)
	ended, ok := v.ended()
	ending := ended && st.Status.forward()
	if resp.Done || resp.Failure && resp.InFlight == 0 {
		// No check follows: tell them with the operation's last event when it ends here (one
		// write; the record settles first, as ever, and followers wait for that event), else
		// now.
		if later := e.untoldEvents(ctx, resp.tell.later); ending {
			resp.tell.hold(later)
		} else {
			resp.tell.append(later)
		}
	} else {
		// A check follows, handed Ready (unless the execution continues in another: budget).
		resp.deferred = resp.tell.later
	}
	resp.tell.later = nil
	if ending {
		if err := e.finishStack(ctx, st, nodes, ok, resp.tell); err != nil {
			return CheckResponse{}, err
		}
	}
	resp.Status = st.Status
	return resp, nil
}

func withStatus(nodes []*NodeRecord, s NodeStatus) []*NodeRecord {
	var out []*NodeRecord
	for _, n := range nodes {
		if n.Status == s {
			out = append(out, n)
		}
	}
	return out
}

// progressAfter is how long a node waits before check-ready records its progress (a changed
// reason) for status views: a node that is READY sooner needs no note, and the write it
// would cost is one of four a node has.
const progressAfter = 5 * time.Second

// lookupPoll is how often check-ready reads a looked-up object it waits for.
const lookupPoll = 2 * time.Second

// observe reads the in-flight nodes' objects, or resumes from req.Since what it need not
// read (check_resume.go), and records the ones that became READY or FAILED; when none did
// and wait is set, it watches them for up to MaxWait. resp.Since says where the next check
// may resume.
func (e *Engine) observe(ctx context.Context, st *StackRecord, nodes []*NodeRecord, req CheckRequest, resp *CheckResponse, wait bool) error {
	inflight := withStatus(nodes, NodeWaiting)
	if len(inflight) == 0 {
		return nil
	}
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return err
	}
	maxWait := e.MaxWait
	if !wait {
		maxWait = 0
	}
	return e.observeIn(ctx, st, client, inflight, client.Groups(ctx, applied(nodes)), req, resp, maxWait)
}

// observeIn is observe on the in-flight nodes given, with total the stack's objects per
// group (whether a LIST pays, kube.Fetch) and a watch of up to maxWait (0: none).
func (e *Engine) observeIn(ctx context.Context, st *StackRecord, client *kube.Client, inflight []*NodeRecord, total map[kube.Group]int, req CheckRequest, resp *CheckResponse, maxWait time.Duration) error {
	_, red, err := e.inputs(st)
	if err != nil {
		return err
	}
	now := e.now()
	targets := make([]kube.Target, 0, len(inflight))
	var fresh []kube.Target
	byID := make(map[string]*NodeRecord, len(inflight))
	from := kube.From{Versions: map[kube.Group]string{}, Floors: map[string]string{}}
	for _, n := range inflight {
		for i, ref := range n.objects() {
			id := targetID(n, i)
			t := kube.Target{ID: id, Ref: ref, Quick: quick(n, now)}
			targets, byID[id] = append(targets, t), n
			g, err := client.GroupOf(ctx, ref)
			if err == nil && resumable(n, req.Since[g.Key()], e.FollowFor > 0, now) {
				from.Versions[g], from.Floors[id] = req.Since[g.Key()], n.AppliedRV
				continue
			}
			fresh = append(fresh, t)
		}
	}
	resumed := len(fresh) < len(targets)
	snap, err := client.Fetch(ctx, st.Name, fresh, total)
	if err != nil {
		return err
	}
	for g, v := range snap.Versions {
		if _, ok := from.Versions[g]; !ok {
			from.Versions[g] = v
		}
	}
	for _, t := range fresh {
		if u := snap.Objects[t.ID]; u != nil {
			from.Floors[t.ID] = u.GetResourceVersion()
		} else if n := byID[t.ID]; n.AppliedRV != "" && n.Ref != nil {
			from.Floors[t.ID] = n.AppliedRV
		}
	}
	resp.Since = keys(from.Versions)
	// A source node is judged on all its objects: the watch updates the snapshot's.
	latest := snap.Objects
	changed, err := e.evaluate(ctx, inflight, latest, red, resp, true)
	if err != nil || changed || maxWait <= 0 && !resumed {
		return err
	}
	budget := watchBudget(inflight, now, maxWait)
	if slices.ContainsFunc(inflight, func(n *NodeRecord) bool { return n.Lookup }) {
		// A looked-up object carries no stack label, so the watch never sees it: look again
		// every couple of seconds instead.
		budget = min(budget, lookupPoll)
	}
	wctx, cancel := context.WithTimeout(ctx, budget+10*time.Millisecond)
	defer cancel()
	if resumed {
		// The changes since the check before come first, at once: judge them together, so
		// that every node they made READY is recorded in this turn.
		from.Backlog = func(objs map[string]*unstructured.Unstructured) (bool, error) {
			maps.Copy(latest, objs)
			changed, err := e.evaluate(ctx, inflight, latest, red, resp, true)
			return changed || maxWait <= 0, err
		}
		if maxWait <= 0 {
			// Only the changes since: budget is 0, so the watch must outlast the backlog.
			cancel()
			wctx, cancel = context.WithTimeout(ctx, kube.BacklogMost+time.Second)
			defer cancel()
		}
	}
	resync, at, err := client.Watch(wctx, st.Name, targets, from, func(id string, u *unstructured.Unstructured) (bool, error) {
		latest[id] = u
		return e.evaluate(ctx, []*NodeRecord{byID[id]}, latest, red, resp, true)
	})
	if err != nil {
		return err
	}
	resp.Since = keys(at)
	if !resync {
		return nil
	}
	// The watch ended without a change: a timeout is noticed by evaluating once more, and a
	// closed watch by reading everything again.
	snap, err = client.Fetch(ctx, st.Name, targets, total)
	if err != nil {
		return err
	}
	resp.Since = keys(snap.Versions)
	_, err = e.evaluate(ctx, inflight, snap.Objects, red, resp, true)
	return err
}

// keys are versions by group as the state machine carries them.
func keys(v map[kube.Group]string) map[string]string {
	out := make(map[string]string, len(v))
	for g, rv := range v {
		out[g.Key()] = rv
	}
	return out
}

// evaluate judges each in-flight node that objs holds (nil: the object is gone), records
// transitions (and, with progress, a changed reason of a node still waiting), and reports
// whether any node became READY or FAILED.
func (e *Engine) evaluate(ctx context.Context, inflight []*NodeRecord, objs map[string]*unstructured.Unstructured, red *secrets.Redactor, resp *CheckResponse, progress bool) (bool, error) {
	var writes []*NodeRecord // progress, and transitions (which get an event)
	var settled []*NodeRecord
	for _, n := range inflight {
		if n.Status != NodeWaiting {
			continue
		}
		n.Untold = false // told before or with this check's first write (tell.go)
		var r kube.Readiness
		live, ok := objs[n.ID]
		if n.Source != "" {
			r, ok = sourceReadiness(n, objs)
		} else if ok {
			r = kube.Evaluate(live, n.Conds)
			if n.Lookup && live == nil {
				r = kube.Readiness{Phase: kube.PhaseWaiting, Reason: "NotFound", Message: n.what() + " does not exist yet: waiting for it"}
			}
		}
		if !ok {
			continue
		}
		r = judge(n, r, e.now())
		switch r.Phase {
		case kube.PhaseReady:
			n.Status, n.ReadyAt, n.Reason, n.Message = NodeReady, e.now().UTC(), r.Reason, red.String(r.Message)
			if n.Source != "" {
				n.Live = captureSourceLive(n, objs, red)
			} else {
				n.Live = captureLive(live, red, n)
			}
			// The next check, handed Ready, tells it (a check's first few ids only: Ready is
			// cut at maxReported).
			n.Untold = resp.tell != nil && len(resp.Ready) < maxReported
			resp.Ready = append(resp.Ready, n.ID)
		case kube.PhaseFailed:
			n.Status, n.Reason, n.Message = NodeFailed, r.Reason, red.String(r.Message)
			resp.Failed = append(resp.Failed, n.ID)
		default:
			if progress && n.Reason != r.Reason && e.now().Sub(n.AppliedAt) >= progressAfter {
				// Remember progress for status views when its reason changes, without an
				// event (every message change would cost a write per status update), once
				// the node has been waiting long enough that someone may ask why.
				n.Reason, n.Message = r.Reason, red.String(r.Message)
				writes = append(writes, n)
			}
			continue
		}
		writes, settled = append(writes, n), append(settled, n)
	}
	if err := e.putNodes(ctx, writes, false); err != nil {
		return len(settled) > 0, err
	}
	if len(settled) == 0 {
		return false, nil
	}
	var evs []*Event
	for _, n := range settled {
		if n.Untold {
			resp.tell.later = append(resp.tell.later, n)
			continue
		}
		evs = append(evs, e.newEvent(ctx, n.Stack, n.ID, string(n.Status), n.Reason, n.Message))
	}
	if len(evs) == 0 {
		return true, nil
	}
	if resp.tell != nil {
		// After the applies this check was handed, in the same write.
		resp.tell.append(evs)
	} else {
		e.appendEvents(ctx, evs)
	}
	return len(settled) > 0, nil
}

// captureLive keeps what references may read. Secret objects keep no data at all; every other
// object has the values of secret inputs redacted.
// mask replaces the value at path (".data.url") with secrets.Redacted, where there is one.
func mask(obj map[string]any, path string) {
	p, err := refs.ParsePath(path)
	if err != nil || len(p) == 0 {
		return
	}
	var parent any = obj
	for _, s := range p[:len(p)-1] {
		v, err := refs.Get(parent, refs.Path{s})
		if err != nil {
			return
		}
		parent = v
	}
	last := p[len(p)-1]
	switch x := parent.(type) {
	case map[string]any:
		if _, ok := x[last.Field]; ok && !last.IsIndex {
			x[last.Field] = secrets.Redacted
		}
	case []any:
		if last.IsIndex && last.Index < len(x) {
			x[last.Index] = secrets.Redacted
		}
	}
}

func captureLive(u *unstructured.Unstructured, red *secrets.Redactor, n *NodeRecord) map[string]any {
	live := kube.Live(u)
	if n.Trimmed {
		// Every check-ready and apply reads node records back: keeping whole objects that
		// nothing reads made a 1,000-node stack decode hundreds of megabytes per run.
		for k := range live {
			if !slices.Contains(n.Keep, k) {
				delete(live, k)
			}
		}
		if len(live) == 0 {
			return nil
		}
	}
	if u.GetAPIVersion() == "v1" && u.GetKind() == "Secret" {
		delete(live, "data")
		delete(live, "stringData")
	}
	for _, f := range n.Sensitive {
		mask(live, f)
	}
	return red.Value(live).(map[string]any)
}
