package engine

import (
	"context"
	"sync"
)

// limiter bounds the applies a process runs at once, and adapts the bound to what the API
// server accepts: additive increase while applies go through, halving when the server pushes
// back (429, 503, a server-side timeout: kube.WithPushback). It bounds the Map's applies and
// the dependents apply-node starts itself (follow.go), whose number a fan-out decides; the
// state machine's Map bound (40) only says how many apply-node calls run at once.
type limiter struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever a slot frees or the limit grows
	limit    float64
	min, max float64
	inUse    int
	// sinceCut counts the releases since the limit last halved.
	sinceCut int
}

func newLimiter(start, lo, hi int) *limiter {
	return &limiter{changed: make(chan struct{}), limit: float64(start), min: float64(lo), max: float64(hi), sinceCut: hi}
}

// acquire waits for a slot.
func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if float64(l.inUse) < l.limit {
			l.inUse++
			l.mu.Unlock()
			return nil
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// release frees a slot. pushedBack says the server pushed back during the apply: the limit
// halves (once per limit's worth of applies at most, so one burst of 429s does not take it to
// the floor); otherwise it grows by one per limit's worth of applies.
func (l *limiter) release(pushedBack bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inUse--
	l.sinceCut++
	switch {
	case pushedBack && float64(l.sinceCut) >= l.limit:
		l.limit, l.sinceCut = max(l.min, l.limit/2), 0
	case pushedBack:
	default:
		l.limit = min(l.max, l.limit+1/l.limit)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// current is the limit now, in whole applies.
func (l *limiter) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// applySlots is the process's limiter: 64 at first, between 4 and 256. kube-apiserver's
// default for mutating requests in flight is 200, shared with every other client.
func (e *Engine) applySlots() *limiter {
	e.slotsOnce.Do(func() { e.slots = newLimiter(64, 4, 256) })
	return e.slots
}
