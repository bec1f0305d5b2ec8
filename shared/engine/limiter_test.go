package engine

import (
	"context"
	"testing"
	"time"
)

func TestLimiterAdapts(t *testing.T) {
	l := newLimiter(4, 2, 8)
	ctx := context.Background()
	for range 4 {
		if err := l.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A fifth waits for a slot.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(short); err == nil {
		t.Fatal("a fifth apply got a slot of 4")
	}
	// A push back halves the limit once; the burst's other push backs do not cut again.
	l.release(true)
	l.release(true)
	l.release(true)
	if got := l.current(); got != 2 {
		t.Fatalf("after a burst of push backs the limit is %d, want 2", got)
	}
	l.release(false)
	// Applies that go through raise it by one per limit's worth, up to the ceiling.
	for range 200 {
		if err := l.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		l.release(false)
	}
	if got := l.current(); got != 8 {
		t.Fatalf("after 200 applies the limit is %d, want the ceiling 8", got)
	}
	// And a push back later halves it again, never under the floor.
	for range 10 {
		_ = l.acquire(ctx)
		l.release(true)
	}
	if got := l.current(); got != 2 {
		t.Fatalf("after repeated push backs the limit is %d, want the floor 2", got)
	}
}

// A waiter wakes when a slot frees.
func TestLimiterWakes(t *testing.T) {
	l := newLimiter(1, 1, 1)
	ctx := context.Background()
	_ = l.acquire(ctx)
	got := make(chan error, 1)
	go func() { got <- l.acquire(ctx) }()
	time.Sleep(10 * time.Millisecond)
	l.release(false)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("the waiter did not get the freed slot")
	}
}
