package engine

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Telling a turn's applies at once. An apply-node call of the state machine's Map records its
// node WAITING and, rather than append the WAITING event in a write of its own (two requests
// on DynamoDB: the sequence counter, then the item), leaves it on the record (Untold, with
// Reason and Message). The check-ready that follows the Map is handed the ids the Map applied
// ($.check.startable) and appends their events in the same write as the first transitions it
// records: a turn of n applies costs one event write instead of n.
//
// The check holds them until its first write of transitions, so that they share it, but for
// no longer than tellWithin: someone following the stack sees an apply within a second. If
// the execution ends between the Map and the check (a function failure caught by Settle), the
// node records still say WAITING and why; only the events are missing.
//
// A READY the check records is told the same way, one turn later. The check returns as soon
// as a node is READY, so its READY event would be a write of its own in every turn where
// nothing else happened at that moment: in a chain of nodes slower than tellWithin, a second
// event write per node. Instead the record keeps the flag, the check reports the node in Ready,
// and the state machine hands Ready to the next check ($.check.ready, through the Map or a
// Wait), which tells it with the Map's applies. When no check follows (the operation ends,
// plans a rollback, fails, or continues in a new execution) the check tells them itself.

// The reasons an apply leaves on a node it made WAITING, until a check records the node's
// progress (check_resume.go tells the two apart).
const (
	reasonApplied   = "Applied"
	reasonUnchanged = "Unchanged"
)

// waiting records n WAITING after its apply at at, with the event's reason and message kept
// on the record, untold when later.
func (n *NodeRecord) waiting(at time.Time, reason, msg string, later bool) {
	n.Status, n.AppliedAt, n.Reason, n.Message, n.Untold = NodeWaiting, at, reason, msg, later
	n.AppliedReason, n.AppliedMessage, n.AppliedRV = "", "", ""
}

// tell appends the events of n's apply now (WAITING, and READY for a node READY on its
// apply), unless they are left to the next check-ready.
func (e *Engine) tell(ctx context.Context, n *NodeRecord) {
	if !n.Untold {
		e.appendEvents(ctx, e.recordEvents(ctx, n))
	}
}

// untold returns the nodes whose events are still to be appended: of applied (the ids the
// last Map applied), each WAITING, or READY on its apply, from an apply that left its events
// to this check; of readied (the ids the last check reported READY), each that check recorded
// READY and left its event to this one. A node a follower applied, or one a check or follower
// has since judged, told its own (evaluate clears Untold on a WAITING node; a READY record
// keeps the flag, which counts only for the check handed that node's id in that list).
func untold(nodes []*NodeRecord, applied, readied []string) []*NodeRecord {
	if len(applied)+len(readied) == 0 {
		return nil
	}
	ids := make(map[string]byte, len(applied)+len(readied))
	for _, id := range applied {
		ids[id] |= 1
	}
	for _, id := range readied {
		ids[id] |= 2
	}
	var out []*NodeRecord
	for _, n := range nodes {
		if !n.Untold {
			continue
		}
		onApply := n.Status == NodeReady && n.AppliedReason != ""
		switch {
		case ids[n.ID]&1 != 0 && (n.Status == NodeWaiting || onApply),
			ids[n.ID]&2 != 0 && n.Status == NodeReady && !onApply:
			out = append(out, n)
		}
	}
	return out
}

// untoldEvents are the events of untold, in the order they happened.
func (e *Engine) untoldEvents(ctx context.Context, untold []*NodeRecord) []*Event {
	var evs []*Event
	for _, n := range untold {
		evs = append(evs, e.recordEvents(ctx, n)...)
	}
	return byTime(evs)
}

// tellWithin is how long a check holds the events of the applies it was handed.
const tellWithin = time.Second

// teller holds a check's untold events until its first write of transitions (which appends
// them first, in the same write) or until tellWithin has passed.
type teller struct {
	e     *Engine
	ctx   context.Context
	mu    sync.Mutex
	evs   []*Event
	timer *time.Timer
	// later are nodes the check recorded READY whose events it leaves to the next check: the
	// check takes them back when one follows, else close tells them.
	later []*NodeRecord
}

func (e *Engine) newTeller(ctx context.Context, evs []*Event) *teller {
	t := &teller{e: e, ctx: ctx, evs: evs}
	if len(evs) > 0 {
		t.timer = time.AfterFunc(tellWithin, func() { t.append(nil) })
	}
	return t
}

// append appends the held events, then evs, in one write. Holding the lock while it writes
// keeps a node's WAITING event before its READY even when the timer fires meanwhile.
func (t *teller) append(evs []*Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	all := append(t.evs, evs...)
	t.evs = nil
	if len(all) > 0 {
		t.e.appendEvents(t.ctx, all)
	}
}

// hold keeps evs to append with the next write (or at close), in order after what is held.
func (t *teller) hold(evs []*Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.evs = append(t.evs, evs...)
}

// close appends what is still held: at the latest when the check ends.
func (t *teller) close() {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.append(t.e.untoldEvents(t.ctx, t.later))
}

// tellDeferred appends the events resp left to a next check that will not be handed them.
func (e *Engine) tellDeferred(ctx context.Context, resp *CheckResponse) {
	e.appendEvents(ctx, e.untoldEvents(ctx, resp.deferred))
	resp.deferred = nil
}

// retell appends the transitions of st's nodes that have no event: a runner that died between
// writing a record and appending its event, or before the check that was to tell its applies,
// left them so. A runner taking the operation over runs it; it reads the whole event log,
// which only a resume pays for. Like any event, one that cannot be appended is logged, and the
// operation goes on.
func (e *Engine) retell(ctx context.Context, st *StackRecord) {
	nodes, err := e.Store.ListNodes(ctx, st.Name)
	if err == nil {
		var evs []*Event
		if evs, err = e.Store.ListEvents(ctx, st.Name, 0, 0); err == nil {
			var out []*Event
			for _, n := range unheard(nodes, evs, st.Revision) {
				// A node READY on its apply had both its events in one append: both are missing.
				out = append(out, e.recordEvents(ctx, n)...)
			}
			e.appendEvents(ctx, byTime(out))
			return
		}
	}
	zerolog.Ctx(ctx).Error().Err(err).Str("stack", st.Name).Msg("events a stopped runner left untold not recovered")
}

// since is when n took its present status, for the statuses whose record says: WAITING (the
// apply started) and READY.
func (n *NodeRecord) since() time.Time {
	switch n.Status {
	case NodeWaiting:
		return n.AppliedAt
	case NodeReady:
		return n.ReadyAt
	}
	return time.Time{}
}

// unheard are the nodes planned in revision that are WAITING or READY with no event of that
// status at or after the time they took it.
func unheard(nodes []*NodeRecord, evs []*Event, revision int) []*NodeRecord {
	last := map[[2]string]time.Time{}
	for _, ev := range evs {
		if k := [2]string{ev.Node, ev.Status}; ev.Node != "" && ev.Time.After(last[k]) {
			last[k] = ev.Time
		}
	}
	var out []*NodeRecord
	for _, n := range nodes {
		at := n.since()
		if !n.planned(revision) || at.IsZero() {
			continue
		}
		if heard, ok := last[[2]string{n.ID, string(n.Status)}]; !ok || heard.Before(at) {
			out = append(out, n)
		}
	}
	return out
}
