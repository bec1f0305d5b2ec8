package engine

import (
	"context"
	"slices"
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
// no longer than tellWithin: someone following the stack sees an apply within a second. If the execution ends between the Map and the check (a function failure
// caught by Settle), the node records still say WAITING and why; only the events are missing.

// waiting records n WAITING after its apply at at, with the event's reason and message kept
// on the record, untold when later.
func (n *NodeRecord) waiting(at time.Time, reason, msg string, later bool) {
	n.Status, n.AppliedAt, n.Reason, n.Message, n.Untold = NodeWaiting, at, reason, msg, later
}

// tell appends n's WAITING event now, unless it is left to the next check-ready.
func (e *Engine) tell(ctx context.Context, n *NodeRecord) {
	if !n.Untold {
		e.event(ctx, n.Stack, n.ID, string(NodeWaiting), n.Reason, n.Message)
	}
}

// untold returns the nodes of applied (the ids the last Map applied) whose WAITING event is
// still to be appended: each is WAITING, from an apply that left its event to this check. A
// node a follower applied, or one already READY or FAILED, told its own.
func untold(nodes []*NodeRecord, applied []string) []*NodeRecord {
	if len(applied) == 0 {
		return nil
	}
	ids := make(map[string]bool, len(applied))
	for _, id := range applied {
		ids[id] = true
	}
	var out []*NodeRecord
	for _, n := range nodes {
		if n.Untold && n.Status == NodeWaiting && ids[n.ID] {
			out = append(out, n)
		}
	}
	return out
}

// untoldEvents are the events of untold, timed when each apply started, in that order.
func (e *Engine) untoldEvents(ctx context.Context, untold []*NodeRecord) []*Event {
	slices.SortStableFunc(untold, func(a, b *NodeRecord) int { return a.AppliedAt.Compare(b.AppliedAt) })
	evs := make([]*Event, len(untold))
	for i, n := range untold {
		evs[i] = e.newEvent(ctx, n.Stack, n.ID, string(NodeWaiting), n.Reason, n.Message)
		evs[i].Time = n.AppliedAt
	}
	return evs
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

// close appends what is still held: at the latest when the check ends.
func (t *teller) close() {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.append(nil)
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
				ev := e.newEvent(ctx, n.Stack, n.ID, string(n.Status), n.Reason, n.Message)
				ev.Time = n.since()
				out = append(out, ev)
			}
			slices.SortStableFunc(out, func(a, b *Event) int { return a.Time.Compare(b.Time) })
			e.appendEvents(ctx, out)
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
