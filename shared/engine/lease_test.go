package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aos-project/aos/shared/secrets"
)

// memStore is enough of a Store for lease logic; the real stores pass storetest.
type memStore struct {
	Store
	stacks map[string]*StackRecord
}

func (m *memStore) GetStack(_ context.Context, name string) (*StackRecord, error) {
	s, ok := m.stacks[name]
	if !ok {
		return nil, ErrNotFound
	}
	c := *s
	return &c, nil
}

func (m *memStore) PutStack(_ context.Context, s *StackRecord, expect int64) error {
	cur, ok := m.stacks[s.Name]
	if ok && cur.Version != expect || !ok && expect != 0 {
		return ErrVersionConflict
	}
	s.Version = expect + 1
	c := *s
	m.stacks[s.Name] = &c
	return nil
}

func (m *memStore) ListNodes(context.Context, string) ([]*NodeRecord, error) { return nil, nil }
func (m *memStore) AppendEvent(context.Context, *Event) error                { return nil }
func (m *memStore) ListEvents(context.Context, string, int64, int) ([]*Event, error) {
	return nil, nil
}
func (m *memStore) PutRevision(context.Context, string, *Revision) error { return nil }
func (m *memStore) ListRevisions(context.Context, string) ([]*Revision, error) {
	return nil, nil
}

func TestLeaseRefusesASecondRunnerUntilItExpires(t *testing.T) {
	st := &memStore{stacks: map[string]*StackRecord{}}
	sealer, _ := secrets.LoadOrCreate(filepath.Join(t.TempDir(), "k"))
	clock := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	a := &Engine{Store: st, Sealer: sealer, Holder: "runner-a", LeaseFor: time.Minute, Now: now}
	b := &Engine{Store: st, Sealer: sealer, Holder: "runner-b", LeaseFor: time.Minute, Now: now}
	ctx := context.Background()
	src := "format: aos/v1\nname: l\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
	if _, _, err := a.Submit(ctx, CreateRequest{PlanRequest: PlanRequest{TemplateRequest: TemplateRequest{Template: src}}}); err != nil {
		t.Fatal(err)
	}
	_, _, err := b.Submit(ctx, CreateRequest{PlanRequest: PlanRequest{TemplateRequest: TemplateRequest{Template: src}}})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), `stack "l" is busy: create_in_progress started at 2026-11-22T01:00:00Z by runner-a`) {
		t.Fatalf("second submit: %v", err)
	}
	if _, err := b.CheckReady(ctx, CheckRequest{Stack: "l"}); !errors.Is(err, ErrBusy) {
		t.Fatalf("check-ready by another runner: %v", err)
	}
	if _, err := b.TakeOver(ctx, "l"); !errors.Is(err, ErrBusy) {
		t.Fatalf("take-over of a live lease: %v", err)
	}
	// Renewal writes only after half the lease has passed.
	v := st.stacks["l"].Version
	clock = clock.Add(20 * time.Second)
	if err := a.renewLease(ctx, st.stacks["l"], ""); err != nil || st.stacks["l"].Version != v {
		t.Fatalf("early renewal wrote: %v (version %d -> %d)", err, v, st.stacks["l"].Version)
	}
	clock = clock.Add(20 * time.Second)
	rec, _ := st.GetStack(ctx, "l")
	if err := a.renewLease(ctx, rec, ""); err != nil || st.stacks["l"].Lease.Until != clock.Add(time.Minute) {
		t.Fatalf("renewal: %v, lease %+v", err, st.stacks["l"].Lease)
	}
	// Runner a stops renewing; after the lease runs out, b takes over.
	clock = clock.Add(61 * time.Second)
	got, err := b.TakeOver(ctx, "l")
	if err != nil || got.Lease.Holder != "runner-b" {
		t.Fatalf("take-over after expiry: %v %+v", err, got)
	}
	if _, err := a.CheckReady(ctx, CheckRequest{Stack: "l"}); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "by runner-b") {
		t.Fatalf("the old runner must now be refused: %v", err)
	}
}

// executions is an ExecutionChecker over a set of running execution names.
type executions map[string]bool

func (x executions) Running(_ context.Context, name string) (bool, error) { return x[name], nil }

// On AWS every function runs as one holder: the lease tells executions apart by name. The
// first renewal claims it; another execution is refused while the first runs, and once the
// first has closed its lease is taken over without waiting for it to expire.
func TestLeaseNamesItsExecution(t *testing.T) {
	st := &memStore{stacks: map[string]*StackRecord{}}
	sealer, _ := secrets.LoadOrCreate(filepath.Join(t.TempDir(), "k"))
	clock := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	running := executions{"l-create-r1-v1": true}
	e := &Engine{Store: st, Sealer: sealer, Holder: "aws-step-functions", LeaseFor: time.Minute, Now: func() time.Time { return clock }, Executions: running}
	ctx := context.Background()
	src := "format: aos/v1\nname: l\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
	if _, _, err := e.Submit(ctx, CreateRequest{PlanRequest: PlanRequest{TemplateRequest: TemplateRequest{Template: src}}}); err != nil {
		t.Fatal(err)
	}
	// renewLease is where CheckReady (and the plan step, through it) begins.
	renew := func(exec string) error {
		rec, _ := st.GetStack(ctx, "l")
		return e.renewLease(ctx, rec, exec)
	}
	if err := renew("l-create-r1-v1"); err != nil {
		t.Fatal(err)
	}
	if l := st.stacks["l"].Lease; l.Execution != "l-create-r1-v1" {
		t.Fatalf("the first check did not claim the lease for its execution: %+v", l)
	}
	if err := renew("l-create-r1-v9"); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "by execution l-create-r1-v1") {
		t.Fatalf("a second execution while the first runs: %v", err)
	}
	if _, err := e.TakeOver(ctx, "l"); !errors.Is(err, ErrBusy) {
		t.Fatalf("take-over while the execution runs: %v", err)
	}
	running["l-create-r1-v1"] = false // aborted from outside; its lease has a minute left
	got, err := e.TakeOver(ctx, "l")
	if err != nil || got.Lease.Execution != "" {
		t.Fatalf("take-over of a closed execution's lease: %v %+v", err, got)
	}
	running["l-create-r1-v3"] = true
	if err := renew("l-create-r1-v3"); err != nil || st.stacks["l"].Lease.Execution != "l-create-r1-v3" {
		t.Fatalf("the new execution claims the lease: %v %+v", err, st.stacks["l"].Lease)
	}
	// The closed execution's settle (its status-change event) must not end the new run.
	var req SettleRequest
	req.Stack, req.Operation, req.Execution, req.Error.Error, req.Error.Cause = "l", OpCreate, "l-create-r1-v1", "ExecutionAborted", "stopped"
	if resp, err := e.Settle(ctx, req); err != nil || resp.Status != StackCreateInProgress {
		t.Fatalf("settling the old execution: %v %+v", err, resp)
	}
}
