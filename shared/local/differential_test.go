package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/internal/testdynamo"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/statemachine"
)

// bridge serves the engine's functions on loopback for the other interpreter: POST
// /<resource> runs the function bound to that Task resource, as Lambda would.
func bridge(t *testing.T, e *engine.Engine) string {
	fns := e.Functions()
	byRes := map[string]statemachine.Handler{
		ResValidate: adapt(fns[engine.FnValidate]), ResPlan: adapt(fns[engine.FnPlan]), ResApplyNode: adapt(fns[engine.FnApplyNode]),
		ResCheckReady: adapt(fns[engine.FnCheckReady]), ResSettle: adapt(fns[engine.FnSettle]),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, _ := url.PathUnescape(strings.TrimPrefix(r.URL.Path, "/"))
		h := byRes[res]
		if h == nil {
			http.Error(w, "no handler for "+res, http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		out, err := h(r.Context(), body)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(statemachine.LambdaErrorDocument(err))
			return
		}
		_, _ = w.Write(out)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// bridged is an engine on DynamoDB Local and the cluster, served to the other interpreter.
func bridged(t *testing.T) (*engine.Engine, string) {
	e := newEngine(t)
	e.Store = testdynamo.Store(t)
	e.MaxWait = 2 * time.Second
	return e, bridge(t, e)
}

// otherRun is how aws-local-stepfunctions ran an execution.
type otherRun struct {
	States        []string
	Status, Error string
	Output        json.RawMessage
}

func runOther(t *testing.T, bridgeURL, name string, req engine.OpRequest) otherRun {
	t.Helper()
	in, _ := json.Marshal(req)
	return runOtherDef(t, bridgeURL, name, statemachine.StackDefinition, in)
}

// runOtherDef runs a definition (the stack machine, or the batch machine whose children are
// the stack machine) under aws-local-stepfunctions.
func runOtherDef(t *testing.T, bridgeURL, name string, definition, in []byte) otherRun {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: the differential test runs the ASL under aws-local-stepfunctions; `make test` installs hack/node (npm ci), and Node 20 or newer comes from Debian's nodejs package")
	}
	script, _ := filepath.Abs("../../hack/node/asl-run.mjs")
	if _, err := os.Stat("../../hack/node/node_modules/aws-local-stepfunctions"); err != nil {
		t.Fatal("hack/node/node_modules/aws-local-stepfunctions is missing: run `make test`, or `npm ci --prefix hack/node`")
	}
	dir := t.TempDir()
	def, child := filepath.Join(dir, "machine.asl.json"), filepath.Join(dir, "stack.asl.json")
	if err := os.WriteFile(def, definition, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(child, statemachine.StackDefinition, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, def, string(in), name, bridgeURL, child)
	cmd.Dir = filepath.Dir(script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws-local-stepfunctions: %v\n%s\n%s", err, out, stderr.String())
	}
	var r otherRun
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("aws-local-stepfunctions printed %q: %v", out, err)
	}
	return r
}

// waitsOnce folds repeated waits (Decide, WaitForChange, CheckReady, again and again) into
// one: how many turns a namespace takes to go away is the cluster's timing, not the
// interpreter's.
func waitsOnce(states []string) []string {
	wait := []string{"Decide", "WaitForChange", "CheckReady"}
	var out []string
	for i := 0; i < len(states); i++ {
		if i+3 <= len(states) && slices.Equal(states[i:i+3], wait) && len(out) >= 3 && slices.Equal(out[len(out)-3:], wait) {
			i += 2
			continue
		}
		out = append(out, states[i])
	}
	return out
}

// topStates are the top-level states an embedded execution entered, in order.
func topStates(res *Result) []string {
	var def struct{ States map[string]any }
	_ = json.Unmarshal(statemachine.StackDefinition, &def)
	var out []string
	for _, ev := range res.History {
		if _, top := def.States[ev.State]; top && ev.Type == "StateEntered" {
			out = append(out, ev.State)
		}
	}
	return out
}

// events are a stack's events as (node, status, reason), sorted: what two runs of one
// operation on twin stacks record alike, whatever the order concurrent nodes took.
func events(t *testing.T, e *engine.Engine, stack string, after int64) ([]string, int64) {
	evs, err := e.Store.ListEvents(context.Background(), stack, after, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	last := after
	for _, ev := range evs {
		out = append(out, ev.Node+" "+ev.Status+" "+ev.Reason)
		last = ev.Seq
	}
	slices.Sort(out)
	return out, last
}

// The same ASL under a second interpreter, aws-local-stepfunctions, calling the real Go
// handlers against the real cluster and DynamoDB Local: for a create, an update that fails and
// rolls back, a rebuild and a delete, both interpreters enter the same states in the same
// order, record the same events and leave the stack in the same state.
func TestASecondInterpreterAgrees(t *testing.T) {
	e, url := bridged(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	base := fmt.Sprintf("diff-%d", time.Now().UnixNano()%100000)
	ours, theirs := base+"-a", base+"-b"
	t.Cleanup(func() {
		for _, ns := range []string{ours, theirs} {
			_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	})
	src := `format: aos/v1
name: diff
inputs:
  v: {type: string, default: one}
  broken: {type: boolean, default: false}
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {v: "${inputs.v}"}}
  copy:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: copy}, data: {uid: "${nodes.config.metadata.uid}"}}
  bad:
    when: ${inputs.broken}
    dependsOn: [copy]
    manifest: {apiVersion: v1, kind: Service, metadata: {name: bad}, spec: {ports: [{port: 99999}]}}
`
	var cursor [2]int64
	for _, step := range []struct {
		op     string
		params map[string]any
	}{{engine.OpCreate, nil}, {engine.OpUpdate, map[string]any{"v": "two", "broken": true}}, {engine.OpRebuild, nil}, {engine.OpDelete, nil}} {
		var status [2]engine.StackStatus
		var states [2][]string
		var evs [2][]string
		for i, stack := range []string{ours, theirs} {
			op := step.op
			switch op {
			case engine.OpCreate, engine.OpUpdate:
				var err error
				if _, op, err = e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src, Params: step.params}}}); err != nil {
					t.Fatal(err)
				}
			default:
				if err := e.Begin(ctx, stack, op, ""); err != nil {
					t.Fatal(err)
				}
			}
			name := fmt.Sprintf("%s-%s", stack, step.op)
			req := engine.OpRequest{Stack: stack, Operation: op}
			if i == 0 {
				res, err := Execute(ctx, e, name, req)
				if err != nil {
					t.Fatal(err)
				}
				states[i] = topStates(res)
			} else {
				states[i] = runOther(t, url, name, req).States
			}
			st, _ := e.Store.GetStack(ctx, stack)
			status[i] = st.Status
			evs[i], cursor[i] = events(t, e, stack, cursor[i])
		}
		states[0], states[1] = waitsOnce(states[0]), waitsOnce(states[1])
		if status[0] != status[1] || !slices.Equal(states[0], states[1]) || !slices.Equal(evs[0], evs[1]) {
			t.Fatalf("%s: the interpreters differ\nembedded:               %s %v\n  events %q\naws-local-stepfunctions: %s %v\n  events %q", step.op, status[0], states[0], evs[0], status[1], states[1], evs[1])
		}
		t.Logf("%s: %s after %d states, %d events, alike", step.op, status[0], len(states[0]), len(evs[0]))
	}
}

// A batch under both interpreters: the batch machine's Map of startExecution.sync:2 children,
// each the stack machine; one instance of each batch fails (its index picks a bad object),
// which fails only that instance.
func TestASecondInterpreterAgreesOnBatches(t *testing.T) {
	e, url := bridged(t)
	cs := testcluster.Client(t)
	ctx := context.Background()
	base := fmt.Sprintf("dbat%d", time.Now().UnixNano()%100000)
	src := `format: aos/v1
name: batch
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {i: "${stack.index}"}}
  port:
    dependsOn: [config]
    manifest:
      apiVersion: v1
      kind: Service
      metadata: {name: port}
      spec:
        ports:
          - port: ${stack.index}
`
	var out [2]string
	for i, prefix := range []string{base + "a", base + "b"} {
		in, err := e.SubmitBatch(ctx, engine.BatchRequest{TemplateRequest: engine.TemplateRequest{Template: src}, Prefix: prefix, Count: 3, Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for j := range 3 {
				_ = cs.CoreV1().Namespaces().Delete(context.Background(), fmt.Sprintf("%s-%d", prefix, j), metav1.DeleteOptions{})
			}
		})
		var states []string
		if i == 0 {
			res, err := RunBatch(ctx, e, in)
			if err != nil {
				t.Fatal(err)
			}
			states = []string{"Instances"}
			if res.Err != nil {
				states = append(states, "failed: "+res.Err.Error())
			}
			for _, r := range res.Results {
				states = append(states, fmt.Sprint(r["status"]))
			}
		} else {
			body, _ := json.Marshal(in)
			r := runOtherDef(t, url, in.ExecutionName(), statemachine.BatchDefinition, body)
			states = r.States
			if r.Status != "SUCCEEDED" {
				states = append(states, "failed: "+r.Error)
			}
			var doc struct{ Results []map[string]any }
			_ = json.Unmarshal(r.Output, &doc)
			for _, r := range doc.Results {
				states = append(states, fmt.Sprint(r["status"]))
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%v", states)
		for j := range 3 {
			stack := fmt.Sprintf("%s-%d", prefix, j)
			st, err := e.Store.GetStack(ctx, stack)
			if err != nil {
				t.Fatal(err)
			}
			evs, _ := events(t, e, stack, 0)
			fmt.Fprintf(&b, "\n%d: %s %q", j, st.Status, evs)
		}
		out[i] = b.String()
	}
	if out[0] != out[1] {
		t.Fatalf("the interpreters differ\nembedded:\n%s\naws-local-stepfunctions:\n%s", out[0], out[1])
	}
	if !strings.Contains(out[0], "0: CREATE_FAILED") || !strings.Contains(out[0], "2: CREATE_COMPLETE") {
		t.Fatalf("instance 0 (port 0) should fail and the others complete:\n%s", out[0])
	}
	t.Logf("alike:\n%s", out[0])
}
