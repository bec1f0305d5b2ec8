package bolt

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/aos-project/aos/shared/engine"
)

// openAt opens a store on path, closed when the test ends. Two stores on one path stand for
// two aos processes (bbolt's lock is flock, per open file description).
func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Transactions a few milliseconds apart share one opening of the file; at rest the file is
// closed within linger, so another process can have it.
func TestTheFileStaysOpenOnlyWhileInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path)
	ctx := context.Background()
	if err := s.PutStack(ctx, &engine.StackRecord{Name: "s", Status: "CREATE_IN_PROGRESS"}, 0); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	db := s.db
	s.mu.Unlock()
	if db == nil {
		t.Fatal("the file was closed the moment its transaction ended")
	}
	time.Sleep(linger / 4)
	if _, err := s.GetStack(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	same := s.db == db
	s.mu.Unlock()
	if !same {
		t.Error("a transaction soon after another opened the file again")
	}
	deadline := time.Now().Add(10 * linger)
	for s.fileOpen() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s.fileOpen() {
		t.Fatalf("the file is still open %s after the last transaction", 10*linger)
	}
	// Another process (bbolt's flock is per open file description) gets it at once.
	other, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("another process opening the file at rest: %v", err)
	}
	other.Close()
}

// A process waiting for the file rings, and the holder lets the file go at its next pause
// instead of lingering.
func TestTheHolderHearsAWaiter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	holder := openAt(t, path)
	waiter := openAt(t, path)
	ctx := context.Background()
	if err := holder.PutStack(ctx, &engine.StackRecord{Name: "s"}, 0); err != nil {
		t.Fatal(err)
	}
	if !holder.fileOpen() {
		t.Fatal("the file was closed the moment its transaction ended")
	}
	if !waiter.ring(true) {
		t.Fatal("the waiter could not ring")
	}
	if _, err := holder.GetStack(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if holder.fileOpen() {
		t.Error("the holder kept the file open after a transaction while another process rang")
	}
	waiter.ring(false)
	if _, err := holder.GetStack(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if !holder.fileOpen() {
		t.Error("the holder let the file go at once with nobody ringing")
	}
}

// A process that keeps the file busy, a transaction every couple of milliseconds, still lets
// another one in.
func TestABusyProcessLetsAnotherIn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	busy := openAt(t, path)
	ctx := context.Background()
	if err := busy.PutStack(ctx, &engine.StackRecord{Name: "s"}, 0); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan int)
	go func() {
		n := 0
		for !stop.Load() {
			// An operation's rhythm: a transaction, then a few milliseconds at the cluster.
			if _, err := busy.GetStack(ctx, "s"); err != nil {
				t.Error(err)
				break
			}
			n++
			time.Sleep(2 * time.Millisecond)
		}
		done <- n
	}()
	defer func() { stop.Store(true); <-done }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	other, err := OpenTimeout(path, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.GetStack(ctx, "s"); err != nil {
		t.Fatalf("another process beside a busy one: %v", err)
	}
	t.Logf("the other process waited %s", time.Since(start).Round(time.Millisecond))
}
