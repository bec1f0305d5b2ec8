package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aos-project/aos/internal/testengine"
	"github.com/aos-project/aos/shared/engine"
)

// Settle needs no cluster: it reads and writes the store only.
func settleEngine(t *testing.T) *engine.Engine {
	e := testengine.New(t)
	e.Holder, e.Now = "me", func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
	return e
}

func putStack(t *testing.T, e *engine.Engine, st *engine.StackRecord) {
	t.Helper()
	if err := e.Store.PutStack(context.Background(), st, 0); err != nil {
		t.Fatal(err)
	}
}

func settle(t *testing.T, e *engine.Engine, stack, op, name, cause string) engine.SettleResponse {
	t.Helper()
	var req engine.SettleRequest
	req.Stack, req.Operation, req.Error.Error, req.Error.Cause = stack, op, name, cause
	resp, err := e.Settle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestSettleEndsAnOperationAFunctionFailed(t *testing.T) {
	e := settleEngine(t)
	ctx := context.Background()
	sealed, err := e.Sealer.Seal("hunter2hunter2", engine.SealedAt("web", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	lease := &engine.Lease{Holder: "me", Until: time.Date(2026, 12, 1, 0, 2, 0, 0, time.UTC)}
	putStack(t, e, &engine.StackRecord{Name: "web", Namespace: "web", Status: engine.StackUpdateInProgress, Operation: engine.OpUpdate,
		Revision: 2, Sealed: map[string]string{"pw": sealed}, Lease: lease})
	// On AWS a Lambda error's Cause is JSON; the message in it is what the stack records,
	// with secret values redacted.
	resp := settle(t, e, "web", engine.OpUpdate, "wrapError", `{"errorMessage":"node \"db\": store: version conflict (password hunter2hunter2)","errorType":"wrapError"}`)
	st, _ := e.Store.GetStack(ctx, "web")
	if st.Status != engine.StackUpdateFailed || st.Lease != nil || resp.Status != engine.StackUpdateFailed ||
		st.Reason != `update failed: node "db": store: version conflict (password (sensitive))` || resp.Cause != `node "db": store: version conflict (password (sensitive))` {
		t.Fatalf("settled: %s %q lease %v; answered %+v", st.Status, st.Reason, st.Lease, resp)
	}
	evs, _ := e.Store.ListEvents(ctx, "web", 0, 0)
	if len(evs) != 1 || evs[0].Status != string(engine.StackUpdateFailed) || evs[0].Reason != "OperationFailed" || strings.Contains(evs[0].Message, "hunter2") {
		t.Fatalf("events: %+v", evs)
	}
	revs, _ := e.Store.ListRevisions(ctx, "web")
	if len(revs) != 1 || revs[0].Status != engine.StackUpdateFailed || revs[0].EndedAt.IsZero() {
		t.Fatalf("the revision's outcome: %+v", revs)
	}
}

func TestSettleLeavesAStackTheCallNeverTook(t *testing.T) {
	e := settleEngine(t)
	ctx := context.Background()
	// A refused rollback of a healthy stack: the stack stays as it is, the message goes on.
	putStack(t, e, &engine.StackRecord{Name: "ok", Namespace: "ok", Status: engine.StackUpdateComplete, Revision: 3})
	resp := settle(t, e, "ok", engine.OpRollback, "StateError", `stack "ok" is UPDATE_COMPLETE: only a failed update can be rolled back (or name a revision)`)
	if st, _ := e.Store.GetStack(ctx, "ok"); st.Status != engine.StackUpdateComplete || st.Version != 1 || resp.Cause != `stack "ok" is UPDATE_COMPLETE: only a failed update can be rolled back (or name a revision)` {
		t.Fatalf("healthy stack: %+v, answered %+v", st, resp)
	}
	// A run refused as busy must not end the run that holds the stack.
	held := &engine.Lease{Holder: "me", Until: time.Date(2026, 12, 1, 0, 2, 0, 0, time.UTC)}
	putStack(t, e, &engine.StackRecord{Name: "busy", Namespace: "busy", Status: engine.StackCreateInProgress, Operation: engine.OpCreate, Lease: held})
	settle(t, e, "busy", engine.OpUpdate, "BusyError", `stack "busy" is busy: create_in_progress started at …`)
	if st, _ := e.Store.GetStack(ctx, "busy"); st.Status != engine.StackCreateInProgress || st.Lease == nil {
		t.Fatalf("busy stack: %+v", st)
	}
	// Nor may it end an operation another live runner holds.
	other := &engine.Lease{Holder: "elsewhere:1", Until: time.Date(2026, 12, 1, 0, 2, 0, 0, time.UTC)}
	putStack(t, e, &engine.StackRecord{Name: "theirs", Namespace: "theirs", Status: engine.StackDeleteInProgress, Operation: engine.OpDelete, Lease: other})
	settle(t, e, "theirs", engine.OpDelete, "wrapError", "boom")
	if st, _ := e.Store.GetStack(ctx, "theirs"); st.Status != engine.StackDeleteInProgress {
		t.Fatalf("another runner's delete: %+v", st)
	}
	// A delete of ours ends DELETE_FAILED.
	putStack(t, e, &engine.StackRecord{Name: "gone", Namespace: "gone", Status: engine.StackDeleteInProgress, Operation: engine.OpDelete, Lease: held})
	settle(t, e, "gone", engine.OpDelete, "States.Timeout", `state "CheckReady": task ran longer than 120s`)
	if st, _ := e.Store.GetStack(ctx, "gone"); st.Status != engine.StackDeleteFailed || st.Lease != nil || st.Reason != `delete failed: state "CheckReady": task ran longer than 120s` {
		t.Fatalf("our delete: %+v", st)
	}
}

// A run refused as busy (on AWS, a scheduled rebuild firing during an update) leaves the
// stack alone and says so in its events.
func TestSettleRecordsASkippedScheduledRebuild(t *testing.T) {
	e := settleEngine(t)
	ctx := context.Background()
	held := &engine.Lease{Holder: "me", Until: time.Date(2026, 12, 1, 0, 2, 0, 0, time.UTC)}
	putStack(t, e, &engine.StackRecord{Name: "web", Namespace: "web", Status: engine.StackUpdateInProgress, Operation: engine.OpUpdate, Lease: held,
		Schedule: &engine.Schedule{Cron: "@every 1s"}})
	settle(t, e, "web", engine.OpRebuild, "BusyError", `stack "web" is busy: update_in_progress started at 2026-12-01T00:00:00Z by me`)
	st, _ := e.Store.GetStack(ctx, "web")
	evs, _ := e.Store.ListEvents(ctx, "web", 0, 0)
	if st.Status != engine.StackUpdateInProgress || st.Lease == nil || len(evs) != 1 || evs[0].Reason != "ScheduledRebuildSkipped" || !strings.Contains(evs[0].Message, "rebuild not started: stack \"web\" is busy") {
		t.Fatalf("stack %s, events %+v", st.Status, evs)
	}
}

// A deleted stack's schedule goes with it: a new stack of the same name does not inherit it.
// A rebuild's delete keeps it for the stack it creates again.
func TestDeleteDropsTheSchedule(t *testing.T) {
	e := settleEngine(t)
	ctx := context.Background()
	for _, op := range []string{engine.OpDelete, engine.OpRebuild} {
		name := "s-" + op
		putStack(t, e, &engine.StackRecord{Name: name, Namespace: name, Status: engine.StackCreateComplete, Schedule: &engine.Schedule{Cron: "0 3 * * *"}})
		if err := e.Begin(ctx, name, op, ""); err != nil {
			t.Fatal(err)
		}
		st, _ := e.Store.GetStack(ctx, name)
		if (st.Schedule == nil) != (op == engine.OpDelete) || st.Status != engine.StackDeleteInProgress {
			t.Fatalf("%s: schedule %v, status %s", op, st.Schedule, st.Status)
		}
	}
	// The next stack of the deleted one's name starts with no schedule.
	st, _ := e.Store.GetStack(ctx, "s-delete")
	st.Status, st.Lease = engine.StackDeleteComplete, nil
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		t.Fatal(err)
	}
	src := "format: aos/v1\nname: x\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
	if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: "s-delete", TemplateRequest: engine.TemplateRequest{Template: src}}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.Store.GetStack(ctx, "s-delete"); st.Schedule != nil {
		t.Fatalf("the new stack inherited the deleted one's schedule: %+v", st.Schedule)
	}
}

// statusChange is an EventBridge "Step Functions Execution Status Change" event, with the
// fields AWS documents (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html).
func statusChange(status, input, errName, cause string, included bool) []byte {
	detail := map[string]any{
		"executionArn":    "arn:aws:states:eu-west-1:123456789012:execution:aos-stack:web-update-r2-v7",
		"stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:aos-stack",
		"name":            "web-update-r2-v7", "status": status,
		"startDate": 1764547200000, "stopDate": 1764547260000,
		"input": input, "inputDetails": map[string]any{"included": included},
		"output": nil, "outputDetails": nil, "error": errName, "cause": cause,
	}
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175", "detail-type": "Step Functions Execution Status Change",
		"source": "aws.states", "account": "123456789012", "time": "2026-12-01T00:01:00Z", "region": "eu-west-1",
		"resources": []string{"arn:aws:states:eu-west-1:123456789012:execution:aos-stack:web-update-r2-v7"}, "detail": detail,
	})
	return b
}

// An execution that ended in a way no Catch takes settles its stack through the EventBridge
// rule; one its Settle step settled already, or one that succeeded, changes nothing.
func TestSettleFromAnExecutionStatusChange(t *testing.T) {
	e := settleEngine(t)
	ctx := context.Background()
	held := &engine.Lease{Holder: "me", Until: time.Date(2026, 12, 1, 0, 2, 0, 0, time.UTC)}
	input := `{"stack":"web","operation":"update"}`
	cases := []struct {
		status, errName, cause string
		want                   engine.StackStatus
		reason                 string
	}{
		{"ABORTED", "", "", engine.StackUpdateFailed, "update failed: the execution was stopped from outside (StopExecution)"},
		{"TIMED_OUT", "", "", engine.StackUpdateFailed, "update failed: the execution ran longer than the state machine's TimeoutSeconds"},
		{"FAILED", "States.Runtime", "An error occurred while executing the state 'Decide'", engine.StackUpdateFailed, "update failed: An error occurred while executing the state 'Decide'"},
		{"SUCCEEDED", "", "", engine.StackUpdateInProgress, ""},
	}
	for _, c := range cases {
		putStack(t, e, &engine.StackRecord{Name: "web", Namespace: "web", Status: engine.StackUpdateInProgress, Operation: engine.OpUpdate, Lease: held})
		if _, err := e.SettleEvent(ctx, statusChange(c.status, input, c.errName, c.cause, true)); err != nil {
			t.Fatal(err)
		}
		st, _ := e.Store.GetStack(ctx, "web")
		if st.Status != c.want || st.Reason != c.reason {
			t.Errorf("%s: %s %q", c.status, st.Status, st.Reason)
		}
		// A second delivery of the same event (EventBridge delivers at least once) is a no-op.
		if _, err := e.SettleEvent(ctx, statusChange(c.status, input, c.errName, c.cause, true)); err != nil {
			t.Fatal(err)
		}
		if again, _ := e.Store.GetStack(ctx, "web"); again.Version != st.Version {
			t.Errorf("%s: the second delivery wrote the stack again", c.status)
		}
		if err := e.Store.DeleteStack(ctx, "web"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.SettleEvent(ctx, statusChange("FAILED", "", "States.Runtime", "x", false)); err == nil || !strings.Contains(err.Error(), "does not name a stack") {
		t.Fatalf("an event without its input: %v", err)
	}
}

// Two revisions compared: inputs with secret ones masked (but told apart when they differ),
// the template field by field, secret values redacted wherever they appear.
func TestDiffRevisions(t *testing.T) {
	e := settleEngine(t)
	ctx := context.Background()
	s1, _ := e.Sealer.Seal("first-secret-value", engine.SealedAt("d", "pw"))
	s2, _ := e.Sealer.Seal("first-secret-value", engine.SealedAt("d", "pw"))
	s3, _ := e.Sealer.Seal("second-secret-value", engine.SealedAt("d", "pw"))
	tpl := func(replicas, note string) string {
		return "format: aos/v1\nname: d\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {r: \"" + replicas + "\", n: \"" + note + "\"}}\n"
	}
	for _, r := range []*engine.Revision{
		{Number: 1, Template: tpl("1", "x"), Inputs: map[string]any{"m": "a"}, Sealed: map[string]string{"pw": s1}},
		{Number: 2, Template: tpl("1", "x"), Inputs: map[string]any{"m": "a"}, Sealed: map[string]string{"pw": s2}},
		{Number: 3, Template: tpl("2", "first-secret-value"), Inputs: map[string]any{"m": "b"}, Sealed: map[string]string{"pw": s3}},
	} {
		if err := e.Store.PutRevision(ctx, "d", r); err != nil {
			t.Fatal(err)
		}
	}
	d, err := e.DiffRevisions(ctx, "d", 1, 2)
	if err != nil || len(d.Inputs) != 0 || len(d.Template) != 0 {
		t.Fatalf("1 -> 2 (the same secret sealed twice is no change): %+v %v", d, err)
	}
	d, err = e.DiffRevisions(ctx, "d", 1, 3)
	if err != nil || len(d.Inputs) != 2 || d.Inputs[0].Name != "m" || d.Inputs[0].New != "b" || d.Inputs[1].Name != "pw" || !d.Inputs[1].Sensitive || d.Inputs[1].New != nil {
		t.Fatalf("1 -> 3 inputs: %+v %v", d, err)
	}
	b, _ := json.Marshal(d)
	if len(d.Template) != 2 || strings.Contains(string(b), "secret-value") {
		t.Fatalf("1 -> 3 template: %s", b)
	}
	if _, err := e.DiffRevisions(ctx, "d", 1, 9); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a missing revision: %v", err)
	}
}

// racing holds every GetStack of one stack until n callers have read it, forcing concurrent
// submissions to read the same version.
type racing struct {
	engine.Store
	mu   sync.Mutex
	left int
	all  chan struct{}
}

func (r *racing) GetStack(ctx context.Context, name string) (*engine.StackRecord, error) {
	st, err := r.Store.GetStack(ctx, name)
	r.mu.Lock()
	if r.left == 0 {
		r.mu.Unlock()
		return st, err
	}
	if r.left--; r.left == 0 {
		close(r.all)
	}
	r.mu.Unlock()
	<-r.all
	return st, err
}

// Two updates submitted at the same moment: one wins, and the revision history holds what
// the winner submitted, not the loser's template.
func TestConcurrentUpdatesKeepTheWinnersRevision(t *testing.T) {
	e := settleEngine(t)
	ctx := context.Background()
	tpl := func(v string) string {
		return "format: aos/v1\nname: r\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {v: " + v + "}}\n"
	}
	if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: "r", TemplateRequest: engine.TemplateRequest{Template: tpl("one")}}}); err != nil {
		t.Fatal(err)
	}
	st, _ := e.Store.GetStack(ctx, "r")
	st.Status, st.Lease = engine.StackCreateComplete, nil
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		t.Fatal(err)
	}
	e.Store = &racing{Store: e.Store, left: 2, all: make(chan struct{})}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, v := range []string{"two", "three"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: "r", TemplateRequest: engine.TemplateRequest{Template: tpl(v)}}})
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("exactly one submission wins: %v", errs)
	}
	won := map[bool]string{true: tpl("two"), false: tpl("three")}[errs[0] == nil]
	revs, _ := e.Store.ListRevisions(ctx, "r")
	cur, _ := e.Store.GetStack(ctx, "r")
	if len(revs) != 2 || revs[1].Number != 2 || revs[1].Template != won || cur.Template != won {
		t.Fatalf("history after the race: %d revisions, revision 2 %q, stack %q; the winner submitted %q", len(revs), revs[len(revs)-1].Template, cur.Template, won)
	}
}
