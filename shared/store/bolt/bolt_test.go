package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

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
	a, b := openAt(t, path), openAt(t, path)
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

// A batch of 20 stacks from one 1 MiB template, each with its revision and a previous
// revision, holds the template once: the file stayed far below the 60 MiB three copies per
// stack made.
func TestOneCopyOfALargeTemplate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	tpl := "format: aos/v1\n# " + strings.Repeat("x", 1<<20) + "\n"
	for i := range 20 {
		name := fmt.Sprintf("tenant-%d", i)
		r := &engine.StackRecord{Name: name, Template: tpl, Previous: &engine.Revision{Number: 1, Template: tpl}}
		if err := s.PutStack(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.PutRevision(ctx, name, &engine.Revision{Number: 2, Template: tpl}); err != nil {
			t.Fatal(err)
		}
	}
	info, _ := os.Stat(path)
	if info.Size() > 8<<20 {
		t.Fatalf("the state file is %d MiB for one 1 MiB template", info.Size()>>20)
	}
	st, err := s.GetStack(ctx, "tenant-7")
	revs, rerr := s.ListRevisions(ctx, "tenant-7")
	all, lerr := s.ListStacks(ctx)
	if err != nil || rerr != nil || lerr != nil || st.Template != tpl || st.Previous.Template != tpl || len(revs) != 1 || revs[0].Template != tpl || len(all) != 20 || all[3].Template != tpl {
		t.Fatalf("templates read back changed: %v %v %v", err, rerr, lerr)
	}
}
