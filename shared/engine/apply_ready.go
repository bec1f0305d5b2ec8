package engine

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
)

// Ready on apply. Many objects are READY the moment they exist: a ConfigMap, a Secret, a
// ServiceAccount, a Role, a ClusterIP Service, and a Deployment whose apply changed nothing.
// The server answers an apply with the object as stored, which is what check-ready would
// read a few milliseconds later; apply-node judges it by the same rules (kube.Evaluate, then
// judge) and, when it is READY, records the node READY in the write it makes anyway. That
// saves the node a write and its turn a read of the cluster, and the next check-ready starts
// the node's dependents at once instead of after a fetch.
//
// Only READY is taken on apply. A node the rules call FAILED (a failWhen already true) is
// left WAITING for check-ready, which reads it again and records the failure with its usual
// reason: an apply-node that failed a node it had just applied well would be a second path to
// FAILED for little gain.

// readyOnApply reports the readiness of n's object as the apply (or, for an unchanged node,
// the read) returned it, and whether that settles n as READY now.
func readyOnApply(n *NodeRecord, live *unstructured.Unstructured, now time.Time) (kube.Readiness, bool) {
	if live == nil || n.Source != "" || n.Lookup {
		return kube.Readiness{}, false
	}
	r := judge(n, kube.Evaluate(live, n.Conds), now)
	return r, r.Phase == kube.PhaseReady
}

// settleOnApply records n, just set WAITING by its apply, READY instead when its object is
// READY as returned, keeping the WAITING event's reason and message for the telling.
func (e *Engine) settleOnApply(n *NodeRecord, live *unstructured.Unstructured, red *secrets.Redactor) {
	r, ok := readyOnApply(n, live, e.now())
	if !ok {
		return
	}
	n.AppliedReason, n.AppliedMessage = n.Reason, n.Message
	n.Status, n.ReadyAt, n.Reason, n.Message = NodeReady, e.now().UTC(), r.Reason, red.String(r.Message)
	n.Live = captureLive(live, red, n)
}

// recordEvents are the events n's record holds that belong to its last apply: WAITING, and
// READY too for a node READY on its apply, each timed when it happened.
func (e *Engine) recordEvents(ctx context.Context, n *NodeRecord) []*Event {
	if n.Status == NodeReady && n.AppliedReason != "" {
		w := e.newEvent(ctx, n.Stack, n.ID, string(NodeWaiting), n.AppliedReason, n.AppliedMessage)
		r := e.newEvent(ctx, n.Stack, n.ID, string(NodeReady), n.Reason, n.Message)
		w.Time, r.Time = n.AppliedAt, n.ReadyAt
		return []*Event{w, r}
	}
	ev := e.newEvent(ctx, n.Stack, n.ID, string(n.Status), n.Reason, n.Message)
	ev.Time = n.since()
	return []*Event{ev}
}

// byTime orders events by when they happened, keeping the order of those at the same time.
func byTime(evs []*Event) []*Event {
	slices.SortStableFunc(evs, func(a, b *Event) int { return a.Time.Compare(b.Time) })
	return evs
}
