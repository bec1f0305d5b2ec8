package bolt

import (
	"context"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engine.Store {
		s, err := Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestTwoProcessesShareTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	// Two Stores on one path stand for two aos processes: bbolt's lock is flock, per open
	// file description, so they contend exactly as processes do.
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatalf("second open while the first store is open: %v", err)
	}
	defer b.Close()
	ctx := context.Background()
	if err := a.PutStack(ctx, &engine.StackRecord{Name: "s1", Status: "CREATE_IN_PROGRESS"}, 0); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetStack(ctx, "s1")
	if err != nil || got.Status != "CREATE_IN_PROGRESS" {
		t.Fatalf("b reads a's write: %+v %v", got, err)
	}
	// b's conditional write loses to a's later write, as it would across processes.
	if err := a.PutStack(ctx, got, got.Version); err != nil {
		t.Fatal(err)
	}
	if err := b.PutStack(ctx, got, 1); !errors.Is(err, engine.ErrVersionConflict) {
		t.Fatalf("stale write from b: %v", err)
	}
}

func TestLockHeldTooLongSaysTheFileIsInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenTimeout(path, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	holder, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	_, err = s.GetStack(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "in use by another aos process") {
		t.Fatalf("read while another process holds the file: %v", err)
	}
}
