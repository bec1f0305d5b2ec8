package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"encoding/base64"

	"github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/api"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/wiring/embedded"
)

const token = "serve-test-token-0123456789abcdef"

type client struct {
	t    *testing.T
	base string
	tok  string
	api  *api.Server
}

// do sends a request and decodes the JSON answer into out (when not nil).
func (c *client) do(method, path string, body any, out any, headers ...string) (int, http.Header) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %d, not JSON: %v\n%s", method, path, resp.StatusCode, err, data)
		}
	}
	return resp.StatusCode, resp.Header
}

type stackResp struct {
	Stack struct {
		Name, Status, Reason string
		Revision             int
		Outputs              map[string]any
	}
	Nodes []struct{ ID, Status string }
}

// wait polls a stack until its status is settled.
func (c *client) wait(name string) stackResp {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var s stackResp
		code, _ := c.do("GET", "/v1/stacks/"+name, nil, &s)
		if code == 200 && !strings.HasSuffix(s.Stack.Status, "_IN_PROGRESS") {
			return s
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("stack %s still %s", name, s.Stack.Status)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func start(t *testing.T, tok string, insecure bool) (*client, *engine.Engine) {
	t.Helper()
	testcluster.Config(t)
	e, closeFn, err := embedded.Engine(embedded.Options{StatePath: filepath.Join(t.TempDir(), "state.db"), Kubeconfig: os.Getenv(testcluster.KubeconfigEnv)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, e, Options{Addr: "127.0.0.1:0", Token: tok, Insecure: insecure, Log: zerolog.New(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; closeFn() })
	return &client{t: t, base: "http://" + srv.Addr(), tok: tok, api: srv.API}, e
}

const app = `format: aos/v1
name: api-app
inputs:
  message: {type: string, default: hello}
  delay: {type: string, default: 100ms}
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {message: "${inputs.message}"}}
  web:
    dependsOn: [config]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec: {replicas: 1, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}, annotations: {seen: "${nodes.config.data.message}", pod-ready.stage.kwok.x-k8s.io/delay: "${inputs.delay}"}}, spec: {containers: [{name: c, image: x}]}}}
outputs:
  message: ${nodes.config.data.message}
  index: ${stack.index}
`

func cleanupNamespaces(t *testing.T, names ...string) {
	cs := testcluster.Client(t)
	t.Cleanup(func() {
		for _, n := range names {
			_ = cs.CoreV1().Namespaces().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
}

// The whole life of a stack through the API, with the errors a client meets on the way.
func TestAPILifecycle(t *testing.T) {
	c, _ := start(t, token, false)
	stack := fmt.Sprintf("api-%d", time.Now().UnixNano()%100000)
	cleanupNamespaces(t, stack)

	// Authentication.
	anon := &client{t: t, base: c.base}
	var e struct {
		Error struct{ Code, Message string }
	}
	if code, h := anon.do("GET", "/v1/stacks", nil, &e); code != 401 || e.Error.Code != "unauthorized" || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %+v", code, e)
	}
	wrong := &client{t: t, base: c.base, tok: token + "x"}
	if code, _ := wrong.do("GET", "/v1/stacks", nil, &e); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := anon.do("GET", "/healthz", nil, nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}

	// Validation: problems with line and column, as the CLI prints them.
	var v struct {
		Valid    bool
		Problems []struct {
			Line, Column int
			Message      string
		}
	}
	bad := strings.Replace(app, "dependsOn: [config]", "dependsOn: [confg]", 1)
	if code, _ := c.do("POST", "/v1/validate", map[string]any{"template": bad}, &v); code != 400 || v.Valid || len(v.Problems) != 1 || v.Problems[0].Line != 10 || !strings.Contains(v.Problems[0].Message, `did you mean "config"`) {
		t.Fatalf("validate an invalid template: %d %+v", code, v)
	}
	var inv struct {
		Error struct {
			Code    string
			Details []struct{ Line int }
		}
	}
	if code, _ := c.do("POST", "/v1/stacks", map[string]any{"template": bad, "stack": stack}, &inv); code != 400 || inv.Error.Code != "invalid_template" || inv.Error.Details[0].Line != 10 {
		t.Fatalf("create from an invalid template: %d %+v", code, inv)
	}
	// Oversized body: 413 before it is read whole.
	huge := append([]byte(`{"template":"`), bytes.Repeat([]byte("x"), 5<<20)...)
	if code, _ := c.do("POST", "/v1/stacks", append(huge, []byte(`"}`)...), &e); code != 413 || e.Error.Code != "too_large" {
		t.Fatalf("oversized body: %d %+v", code, e)
	}
	if code, _ := c.do("GET", "/v1/stacks/nope", nil, &e); code != 404 || e.Error.Code != "not_found" {
		t.Fatalf("unknown stack: %d %+v", code, e)
	}

	// Create, with an Idempotency-Key the retry repeats.
	type operation struct {
		OperationID, Stack, Operation, Status string
		Revision                              int
		Repeated                              bool
	}
	var op operation
	body := map[string]any{"template": app, "stack": stack, "params": map[string]any{"message": "one", "delay": "2s"}}
	code, h := c.do("POST", "/v1/stacks", body, &op, "Idempotency-Key", "create-"+stack)
	if code != 202 || h.Get("Location") != "/v1/stacks/"+stack || op.Operation != "create" || op.Revision != 1 {
		t.Fatalf("create: %d %+v %v", code, op, h)
	}
	first := op.OperationID
	// While it runs: a retry with the key is the same operation; another update is 409.
	if code, _ := c.do("POST", "/v1/stacks", body, &op, "Idempotency-Key", "create-"+stack); code != 202 || !op.Repeated || op.OperationID != first || op.Revision != 1 {
		t.Fatalf("retried create: %d %+v", code, op)
	}
	if code, _ := c.do("PUT", "/v1/stacks/"+stack, body, &e); code != 409 || e.Error.Code != "busy" || !strings.Contains(e.Error.Message, "is busy") {
		t.Fatalf("update of a busy stack: %d %+v", code, e)
	}
	if code, _ := c.do("DELETE", "/v1/stacks/"+stack, nil, &e); code != 409 {
		t.Fatalf("delete of a busy stack: %d %+v", code, e)
	}
	s := c.wait(stack)
	if s.Stack.Status != "CREATE_COMPLETE" || s.Stack.Outputs["message"] != "one" || len(s.Nodes) != 2 {
		t.Fatalf("after create: %+v", s)
	}

	// Resources: live status read now.
	var res struct {
		Resources []struct {
			Node   string
			Exists bool
			Live   struct{ Phase string }
		}
	}
	if code, _ := c.do("GET", "/v1/stacks/"+stack+"/resources", nil, &res); code != 200 || len(res.Resources) != 2 || !res.Resources[0].Exists || res.Resources[0].Live.Phase != "READY" {
		t.Fatalf("resources: %d %+v", code, res)
	}

	// Update, then the plan of another change, then rollback to revision 1.
	body["params"] = map[string]any{"message": "two", "delay": "100ms"}
	if code, _ := c.do("PUT", "/v1/stacks/"+stack, body, &op); code != 202 || op.Operation != "update" || op.Revision != 2 {
		t.Fatalf("update: %d %+v", code, op)
	}
	if s := c.wait(stack); s.Stack.Status != "UPDATE_COMPLETE" || s.Stack.Outputs["message"] != "two" {
		t.Fatalf("after update: %+v", s)
	}
	var plan struct {
		Nodes []struct {
			ID, Action string
			Diff       []struct {
				Path     string
				Old, New any
			}
		}
	}
	body["params"] = map[string]any{"message": "three", "delay": "100ms"}
	if code, _ := c.do("POST", "/v1/plan", body, &plan); code != 200 || plan.Nodes[0].Action != "update" || plan.Nodes[0].Diff[0].Path != "data.message" || plan.Nodes[0].Diff[0].New != "three" {
		t.Fatalf("plan: %d %+v", code, plan)
	}
	if code, _ := c.do("POST", "/v1/stacks/"+stack+"/rollback", map[string]any{"revision": 1}, &op); code != 202 || op.Revision != 3 {
		t.Fatalf("rollback to revision 1: %d %+v", code, op)
	}
	if s := c.wait(stack); s.Stack.Outputs["message"] != "one" {
		t.Fatalf("after rollback: %+v", s)
	}
	var hist struct {
		Revisions []struct {
			Number int
			Status string
			Note   string
		}
	}
	if code, _ := c.do("GET", "/v1/stacks/"+stack+"/history", nil, &hist); code != 200 || len(hist.Revisions) != 3 || hist.Revisions[2].Note != "back to revision 1" {
		t.Fatalf("history: %d %+v", code, hist)
	}

	// Events, paged with the cursor: every page follows the last, none is lost or repeated.
	var all []int64
	after := int64(0)
	for pages := 0; ; pages++ {
		var page struct {
			Events []struct{ Seq int64 }
			Next   *int64
		}
		if code, _ := c.do("GET", fmt.Sprintf("/v1/stacks/%s/events?after=%d&limit=4", stack, after), nil, &page); code != 200 {
			t.Fatalf("events page: %d", code)
		}
		for _, ev := range page.Events {
			all = append(all, ev.Seq)
		}
		if page.Next == nil {
			break
		}
		if len(page.Events) != 4 || *page.Next != page.Events[3].Seq {
			t.Fatalf("page of %d events, next %d", len(page.Events), *page.Next)
		}
		after = *page.Next
	}
	for i, seq := range all {
		if seq != int64(i+1) {
			t.Fatalf("paged events: %v", all)
		}
	}
	if len(all) < 12 {
		t.Fatalf("only %d events", len(all))
	}
	if code, _ := c.do("GET", "/v1/stacks/"+stack+"/events?after=x", nil, &e); code != 400 {
		t.Fatalf("bad cursor: %d", code)
	}

	// Copy, then delete both.
	copyName := stack + "-copy"
	cleanupNamespaces(t, copyName)
	if code, _ := c.do("POST", "/v1/stacks/"+stack+"/copy", map[string]any{"to": copyName, "params": map[string]any{"message": "copied"}}, &op); code != 202 || op.Stack != copyName {
		t.Fatalf("copy: %d %+v", code, op)
	}
	if s := c.wait(copyName); s.Stack.Status != "CREATE_COMPLETE" || s.Stack.Outputs["message"] != "copied" {
		t.Fatalf("copy: %+v", s)
	}
	for _, n := range []string{stack, copyName} {
		// Accepted means under way: the answer already says DELETE_IN_PROGRESS, and its id
		// is the execution's name.
		// The name is unique per attempt: revision, and the stack record's version after
		// the delete was recorded.
		op = operation{}
		if code, _ := c.do("DELETE", "/v1/stacks/"+n, nil, &op); code != 202 || op.Operation != "delete" ||
			op.Status != "DELETE_IN_PROGRESS" || !regexp.MustCompile(fmt.Sprintf(`^%s-delete-r%d-v[0-9]+$`, n, op.Revision)).MatchString(op.OperationID) {
			t.Fatalf("delete %s: %d %+v", n, code, op)
		}
		if s := c.wait(n); s.Stack.Status != "DELETE_COMPLETE" {
			t.Fatalf("after delete: %+v", s)
		}
	}
	var list struct{ Stacks []struct{ Name string } }
	if code, _ := c.do("GET", "/v1/stacks", nil, &list); code != 200 || len(list.Stacks) != 2 {
		t.Fatalf("list: %d %+v", code, list)
	}
}

func TestInsecureOnlyOnLoopback(t *testing.T) {
	e := &engine.Engine{}
	if _, err := New(context.Background(), e, Options{Addr: "0.0.0.0:0", Insecure: true}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("insecure on all interfaces: %v", err)
	}
	if _, err := New(context.Background(), e, Options{Addr: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "needs a bearer token") {
		t.Fatalf("no token: %v", err)
	}
}

// A schedule firing every second rebuilds the stack; firings while it is busy are skipped and
// recorded.
func TestScheduledRebuild(t *testing.T) {
	c, e := start(t, "", true)
	stack := fmt.Sprintf("sched-%d", time.Now().UnixNano()%100000)
	cleanupNamespaces(t, stack)
	var op struct{ Revision int }
	if code, _ := c.do("POST", "/v1/stacks", map[string]any{"template": app, "stack": stack, "params": map[string]any{"delay": "1500ms"}}, &op); code != 202 {
		t.Fatalf("create: %d", code)
	}
	c.wait(stack)
	var e1 struct{ Error struct{ Code string } }
	if code, _ := c.do("PUT", "/v1/stacks/"+stack+"/schedule", map[string]any{"cron": "61 * * * *"}, &e1); code != 400 {
		t.Fatalf("invalid cron: %d", code)
	}
	if code, _ := c.do("PUT", "/v1/stacks/"+stack+"/schedule", map[string]any{"cron": "@every 1s"}, nil); code != 200 {
		t.Fatalf("set schedule: %d", code)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		revs, _ := e.Store.ListRevisions(context.Background(), stack)
		evs, _ := e.Store.ListEvents(context.Background(), stack, 0, 0)
		skipped := 0
		for _, ev := range evs {
			if ev.Reason == "ScheduledRebuildSkipped" {
				skipped++
			}
		}
		rebuilt := 0
		for _, r := range revs {
			if r.Note == "rebuild" && r.Status == engine.StackCreateComplete {
				rebuilt++
			}
		}
		// Two rebuilds: each firing after the last rebuild ended starts one of its own.
		if rebuilt >= 2 && skipped >= 1 {
			t.Logf("%d rebuild(s) completed, %d firing(s) skipped while busy", rebuilt, skipped)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %d rebuilds, %d skipped firings", rebuilt, skipped)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, _ := c.do("DELETE", "/v1/stacks/"+stack+"/schedule", nil, nil); code != 200 {
		t.Fatalf("remove schedule: %d", code)
	}
	// Let a rebuild in flight finish before the namespace is removed.
	c.wait(stack)
}

// A batch of 20 with concurrency 5: every instance READY, never more than 5 at work at once
// (from the event timestamps), each with its own ${stack.index}.
func TestBatchConcurrency(t *testing.T) {
	c, e := start(t, "", true)
	prefix := fmt.Sprintf("b%d", time.Now().UnixNano()%100000)
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("%s-%d", prefix, i))
	}
	cleanupNamespaces(t, names...)
	var resp struct {
		Batch              string
		Count, Concurrency int
	}
	code, h := c.do("POST", "/v1/batches", map[string]any{"template": app, "prefix": prefix, "count": 20, "concurrency": 5, "params": map[string]any{"delay": "600ms"}}, &resp)
	if code != 202 || resp.Count != 20 || h.Get("Location") != "/v1/batches/"+prefix {
		t.Fatalf("create batch: %d %+v", code, resp)
	}
	var b engine.BatchStatus
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if code, _ := c.do("GET", "/v1/batches/"+prefix, nil, &b); code != 200 {
			t.Fatalf("get batch: %d", code)
		}
		if b.Done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch not done: %+v", b.Counts)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if b.Counts[engine.StackCreateComplete] != 20 {
		t.Fatalf("batch: %+v", b)
	}
	// An instance is at work from its first node being applied until the stack completes.
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for i, n := range names {
		st, _ := e.Store.GetStack(context.Background(), n)
		if st.Outputs["index"] != float64(i) && st.Outputs["index"] != int64(i) {
			t.Fatalf("%s: ${stack.index} = %v", n, st.Outputs["index"])
		}
		evs, _ := e.Store.ListEvents(context.Background(), n, 0, 0)
		var from, to time.Time
		for _, ev := range evs {
			if ev.Node != "" && from.IsZero() {
				from = ev.Time
			}
			if ev.Status == string(engine.StackCreateComplete) {
				to = ev.Time
			}
		}
		edges = append(edges, edge{from, 1}, edge{to, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].at.Before(edges[j].at)
	})
	cur, peak := 0, 0
	for _, ed := range edges {
		cur += ed.delta
		peak = max(peak, cur)
	}
	if peak > 5 || peak < 2 {
		t.Fatalf("peak of %d instances at work at once; want at most 5 (and some parallelism)", peak)
	}
	t.Logf("batch of 20: at most %d at work at once", peak)
	// Bad batch requests are 400s.
	var e1 struct {
		Error struct{ Code, Message string }
	}
	if code, _ := c.do("POST", "/v1/batches", map[string]any{"template": app, "prefix": prefix, "count": 20, "concurrency": 50}, &e1); code != 400 || !strings.Contains(e1.Error.Message, "concurrency 50") {
		t.Fatalf("concurrency 50: %d %+v", code, e1)
	}
	if code, _ := c.do("POST", "/v1/batches", map[string]any{"template": app, "prefix": prefix, "count": 2, "concurrency": 1}, &e1); code != 409 {
		t.Fatalf("batch over existing stacks: %d %+v", code, e1)
	}
}

// The api function (API Gateway HTTP API events, payload 2.0, from aws-lambda-go's sample)
// answers exactly as aos serve does over HTTP.
func TestLambdaAnswersAsServe(t *testing.T) {
	c, _ := start(t, "", true)
	srv := &client{t: t, base: c.base}
	sample, err := os.ReadFile("../api/testdata/apigw-v2-request-iam.json")
	if err != nil {
		t.Fatal(err)
	}
	// The same router behind the Lambda adapter; only the transport differs. (The Lambda's
	// server is never an insecure one: API Gateway authorizes with IAM.)
	lam := *c.api
	lam.Insecure = false
	handler := api.LambdaHandler(lam.Handler())
	stack := fmt.Sprintf("lam-%d", time.Now().UnixNano()%100000)
	cleanupNamespaces(t, stack)
	bad := strings.Replace(app, "dependsOn: [config]", "dependsOn: [confg]", 1)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/validate", map[string]any{"template": bad}},
		{"POST", "/v1/validate", map[string]any{"template": app}},
		{"GET", "/v1/stacks/nope", nil},
		{"GET", "/v1/stacks", nil},
		{"POST", "/v1/stacks", map[string]any{"template": bad, "stack": stack}},
		{"GET", "/v1/nothing-here", nil},
	} {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(sample, &ev); err != nil {
			t.Fatal(err)
		}
		path, query, _ := strings.Cut(tc.path, "?")
		ev.RawPath, ev.RawQueryString, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = path, query, tc.method, path
		ev.Body, ev.IsBase64Encoded = "", false
		if tc.body != nil {
			b, _ := json.Marshal(tc.body)
			ev.Body = base64.StdEncoding.EncodeToString(b)
			ev.IsBase64Encoded = true
		}
		lres, err := handler(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		var viaHTTP, viaLambda any
		code, _ := srv.do(tc.method, tc.path, tc.body, &viaHTTP)
		if err := json.Unmarshal([]byte(lres.Body), &viaLambda); err != nil {
			t.Fatalf("%s %s: lambda body %q", tc.method, tc.path, lres.Body)
		}
		if code != lres.StatusCode || fmt.Sprint(viaHTTP) != fmt.Sprint(viaLambda) || lres.Headers["Content-Type"] != "application/json" {
			t.Fatalf("%s %s: serve %d %v\nlambda %d %v", tc.method, tc.path, code, viaHTTP, lres.StatusCode, viaLambda)
		}
	}
}
