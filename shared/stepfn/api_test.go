package stepfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/rs/zerolog"

	"github.com/aos-project/aos/internal/testengine"
	"github.com/aos-project/aos/shared/api"
	"github.com/aos-project/aos/shared/engine"
)

// The API as it runs on AWS: the router starting executions through this Runner, against a
// Step Functions that follows AWS's documented rules on names. No execution runs here; what
// an execution would record is recorded by calling the engine as its steps would.
type awsAPI struct {
	t      *testing.T
	e      *engine.Engine
	sfn    *stepFunctions
	h      http.Handler
	failed error // when set, StartExecution fails with it
}

func (a *awsAPI) StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	if a.failed != nil {
		return nil, a.failed
	}
	return a.sfn.StartExecution(ctx, in, opts...)
}

func (a *awsAPI) DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	return a.sfn.DescribeExecution(ctx, in, opts...)
}

func newAWSAPI(t *testing.T) *awsAPI {
	e := testengine.New(t)
	e.Holder = "aws-step-functions"
	a := &awsAPI{t: t, e: e, sfn: &stepFunctions{}}
	runner := &Runner{Client: a, StackMachine: stackARN, BatchMachine: batchARN}
	e.Executions = runner
	srv := &api.Server{Engine: a.e, Runner: runner, Log: zerolog.New(io.Discard)}
	a.h = srv.Handler()
	return a
}

func (a *awsAPI) do(method, path string, body any, key string) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func (a *awsAPI) names() []string {
	a.sfn.mu.Lock()
	defer a.sfn.mu.Unlock()
	var out []string
	for _, x := range a.sfn.runs {
		out = append(out, x.Name)
	}
	return out
}

// finish plays the end of every running execution: the stack gets the status it would.
func (a *awsAPI) finish(stack string, status engine.StackStatus) {
	a.t.Helper()
	a.sfn.close()
	ctx := context.Background()
	st, err := a.e.Store.GetStack(ctx, stack)
	if err != nil {
		a.t.Fatal(err)
	}
	if status.InProgress() || !st.Status.InProgress() {
		a.t.Fatalf("finish %s as %s from %s", stack, status, st.Status)
	}
	if status == st.Status.Outcome(false) {
		var req engine.SettleRequest
		req.Stack, req.Operation, req.Error.Error, req.Error.Cause = stack, st.Operation, "States.Timeout", "the task timed out"
		if _, err := a.e.Settle(ctx, req); err != nil {
			a.t.Fatal(err)
		}
		return
	}
	st.Status, st.Lease = status, nil
	if err := a.e.Store.PutStack(ctx, st, st.Version); err != nil {
		a.t.Fatal(err)
	}
}

const tpl = "format: aos/v1\nname: w\ninputs:\n  m: {type: string, default: a}\nnodes:\n  cm:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}, data: {m: \"${inputs.m}\"}}\n"

// A retried delete after a failed delete starts a new execution: its name is not the closed
// one's, which AWS would refuse.
func TestRetriedDeleteRunsAgain(t *testing.T) {
	a := newAWSAPI(t)
	if code, out := a.do("POST", "/v1/stacks", map[string]any{"template": tpl, "stack": "web"}, ""); code != 202 {
		t.Fatalf("create: %d %v", code, out)
	}
	a.finish("web", engine.StackCreateComplete)
	code, out := a.do("DELETE", "/v1/stacks/web", nil, "")
	if code != 202 || out["status"] != "DELETE_IN_PROGRESS" {
		t.Fatalf("delete: %d %v", code, out)
	}
	first := out["operationId"]
	a.finish("web", engine.StackDeleteFailed)
	code, out = a.do("DELETE", "/v1/stacks/web", nil, "")
	if code != 202 || out["operationId"] == first {
		t.Fatalf("retried delete: %d %v (first %v)", code, out, first)
	}
	if n := a.names(); len(n) != 3 || n[1] == n[2] {
		t.Fatalf("executions %v: the retried delete did not start one of its own", n)
	}
}

// Same key and body: one operation, even when the first start failed; another body: 422;
// the same key on two stacks: two operations.
func TestIdempotencyKeys(t *testing.T) {
	a := newAWSAPI(t)
	body := map[string]any{"template": tpl, "stack": "k1", "params": map[string]any{"m": "x"}}
	code, out := a.do("POST", "/v1/stacks", body, "deploy/1")
	if code != 202 {
		t.Fatalf("create: %d %v", code, out)
	}
	id := out["operationId"]
	code, out = a.do("POST", "/v1/stacks", body, "deploy/1")
	if code != 202 || out["repeated"] != true || out["operationId"] != id || len(a.names()) != 1 {
		t.Fatalf("retry: %d %v, executions %v", code, out, a.names())
	}
	other := map[string]any{"template": tpl, "stack": "k1", "params": map[string]any{"m": "y"}}
	if code, out = a.do("POST", "/v1/stacks", other, "deploy/1"); code != 422 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "started a different request") {
		t.Fatalf("same key, other body: %d %v", code, out)
	}
	body2 := map[string]any{"template": tpl, "stack": "k2", "params": map[string]any{"m": "x"}}
	if code, out = a.do("POST", "/v1/stacks", body2, "deploy.1"); code != 202 || out["operationId"] == id {
		t.Fatalf("a key like it on another stack: %d %v", code, out)
	}
	if code, out = a.do("POST", "/v1/stacks", map[string]any{"template": tpl, "stack": "k3"}, "deploy/1"); code != 202 || len(a.names()) != 3 {
		t.Fatalf("the same key on a third stack: %d %v, executions %v", code, out, a.names())
	}
}

// A start that fails leaves no stack in progress: the operation is recorded as failed. A
// retry with the same key gets that answer and starts nothing; a new request starts again.
func TestAFailedStartSettlesAndARetryStarts(t *testing.T) {
	a := newAWSAPI(t)
	a.failed = errors.New("ThrottlingException: Rate exceeded")
	body := map[string]any{"template": tpl, "stack": "web"}
	code, out := a.do("POST", "/v1/stacks", body, "first-try")
	if code != 503 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "Rate exceeded") {
		t.Fatalf("create with a failing start: %d %v", code, out)
	}
	st, err := a.e.Store.GetStack(context.Background(), "web")
	if err != nil || st.Status != engine.StackCreateFailed || st.Lease != nil || !strings.Contains(st.Reason, "could not be started") {
		t.Fatalf("after the failed start: %+v %v", st, err)
	}
	a.failed = nil
	if code, out = a.do("POST", "/v1/stacks", body, "first-try"); code != 202 || out["repeated"] != true || out["status"] != "CREATE_FAILED" || len(a.names()) != 0 {
		t.Fatalf("the same request again: %d %v, executions %v", code, out, a.names())
	}
	if code, out = a.do("POST", "/v1/stacks", body, "second-try"); code != 202 || len(a.names()) != 1 {
		t.Fatalf("the next request: %d %v, executions %v", code, out, a.names())
	}
}

// A batch prefix used again after its batch was deleted starts a batch of its own.
func TestBatchPrefixUsedAgain(t *testing.T) {
	a := newAWSAPI(t)
	body := map[string]any{"template": tpl, "prefix": "load", "count": 1, "concurrency": 1}
	if code, out := a.do("POST", "/v1/batches", body, ""); code != 202 {
		t.Fatalf("batch: %d %v", code, out)
	}
	a.finish("load-0", engine.StackCreateComplete)
	if code, out := a.do("DELETE", "/v1/stacks/load-0", nil, ""); code != 202 {
		t.Fatalf("delete: %d %v", code, out)
	}
	a.finish("load-0", engine.StackDeleteComplete)
	if code, out := a.do("POST", "/v1/batches", body, ""); code != 202 {
		t.Fatalf("the batch again: %d %v", code, out)
	}
	n := a.names()
	if len(n) != 3 || n[0] == n[2] || !strings.HasPrefix(n[2], "batch-load-") {
		t.Fatalf("executions %v: the second batch did not start one of its own", n)
	}
}

// On AWS: cancel marks the running operation; resume is refused while a run holds the lease
// and, once the lease has expired (the run died), starts a new execution of the operation.
func TestCancelAndResumeThroughTheAPI(t *testing.T) {
	a := newAWSAPI(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a.e.Now = func() time.Time { return now }
	if code, out := a.do("POST", "/v1/stacks", map[string]any{"template": tpl, "stack": "web"}, ""); code != 202 {
		t.Fatalf("create: %d %v", code, out)
	}
	if code, out := a.do("POST", "/v1/stacks/web/resume", nil, ""); code != 409 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "busy") {
		t.Fatalf("resume while a run holds the lease: %d %v", code, out)
	}
	if code, out := a.do("POST", "/v1/stacks/web/cancel", nil, ""); code != 202 || out["cancelRequested"] != true || out["status"] != "CREATE_IN_PROGRESS" {
		t.Fatalf("cancel: %d %v", code, out)
	}
	// The run dies without renewing its lease; after it expires, resume takes over.
	now = now.Add(3 * time.Minute)
	code, out := a.do("POST", "/v1/stacks/web/resume", nil, "")
	if code != 202 || out["operation"] != "create" || len(a.names()) != 2 || a.names()[1] == a.names()[0] {
		t.Fatalf("resume after the lease expired: %d %v, executions %v", code, out, a.names())
	}
	if code, out := a.do("POST", "/v1/stacks/web/continue-rollback", nil, ""); code != 409 {
		t.Fatalf("continue-rollback of a stack that is not UPDATE_ROLLBACK_FAILED: %d %v", code, out)
	}
}

// claim records what the execution's first step records: the lease names the execution.
func (a *awsAPI) claim(stack string) string {
	a.t.Helper()
	ctx := context.Background()
	st, err := a.e.Store.GetStack(ctx, stack)
	if err != nil || st.Lease == nil {
		a.t.Fatalf("claim %s: %v %+v", stack, err, st)
	}
	n := a.names()
	st.Lease.Execution = n[len(n)-1]
	if err := a.e.Store.PutStack(ctx, st, st.Version); err != nil {
		a.t.Fatal(err)
	}
	return st.Lease.Execution
}

// An execution stopped from outside, before anything settled its stack: resume asks Step
// Functions (DescribeExecution) and takes over at once, with no wait for the lease to expire;
// so does a retry of the request that started it.
func TestResumeAfterAnAbortedExecution(t *testing.T) {
	a := newAWSAPI(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a.e.Now = func() time.Time { return now }
	body := map[string]any{"template": tpl, "stack": "web"}
	if code, out := a.do("POST", "/v1/stacks", body, "ship-1"); code != 202 {
		t.Fatalf("create: %d %v", code, out)
	}
	first := a.claim("web")
	if code, out := a.do("POST", "/v1/stacks/web/resume", nil, ""); code != 409 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "by execution "+first) {
		t.Fatalf("resume while the execution runs: %d %v", code, out)
	}
	if code, out := a.do("POST", "/v1/stacks", body, "ship-1"); code != 202 || out["operationId"] != first || len(a.names()) != 1 {
		t.Fatalf("a retry while the execution runs: %d %v, executions %v", code, out, a.names())
	}
	a.sfn.abort(first)
	code, out := a.do("POST", "/v1/stacks", body, "ship-1")
	if code != 202 || out["repeated"] != true || out["operationId"] == first || len(a.names()) != 2 {
		t.Fatalf("a retry once the execution was aborted: %d %v, executions %v", code, out, a.names())
	}
	second := a.claim("web")
	a.sfn.abort(second)
	code, out = a.do("POST", "/v1/stacks/web/resume", nil, "")
	if code != 202 || out["operation"] != "create" || len(a.names()) != 3 || out["operationId"] == second {
		t.Fatalf("resume once the execution was aborted: %d %v, executions %v", code, out, a.names())
	}
}
