package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/local"
)

// reads counts the reads of Deployments a client makes: GETs by name, and LISTs that return
// objects (not a one-item LIST for a version; not watches).
type reads struct {
	mu sync.Mutex
	n  map[string]int
	rt http.RoundTripper
}

func (g *reads) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	if r.Method == http.MethodGet && q.Get("watch") == "" && q.Get("limit") != "1" {
		if _, name, ok := strings.Cut(r.URL.Path+"/", "/deployments/"); ok {
			if name = strings.TrimSuffix(name, "/"); name == "" {
				name = "LIST"
			}
			if !strings.Contains(name, "/") {
				g.mu.Lock()
				g.n[name]++
				g.mu.Unlock()
			}
		}
	}
	return g.rt.RoundTrip(r)
}

// countedEngine is newEngine's on the bolt store, with a cluster client whose requests go
// through wrap.
func countedEngine(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *engine.Engine {
	t.Helper()
	e, _ := newEngine(t, "bolt")
	cfg := testcluster.Config(t)
	cfg.WrapTransport = wrap
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Kube = func(context.Context, kube.Access) (*kube.Client, error) { return client, nil }
	return e
}

// Each check resumes from the version the check before answered: a Deployment is read once
// (by the first check after its apply), and the rest is learnt from a watch. Here ten
// Deployments become READY one after another, over many checks; reading every one in flight
// at every check, as checks did before, took a read (a LIST, or GETs) at each. Each is still
// READY only once its pod is.
func TestChecksResumeRatherThanReadEverythingAgain(t *testing.T) {
	counted := &reads{n: map[string]int{}}
	e := countedEngine(t, func(rt http.RoundTripper) http.RoundTripper { counted.rt = rt; return counted })
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("resume-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	const n = 10
	src := `format: aos/v1
name: resume
nodes:
  d:
    count: 10
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "d-${index}"}
      spec: {replicas: 1, selector: {matchLabels: {app: "d-${index}"}}, template: {metadata: {labels: {app: "d-${index}"}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: "${string(500 + index * 300)}ms"}}, spec: {containers: [{name: c, image: x}]}}}
`
	res := createThroughTheStateMachine(t, e, stack, src)
	st, _ := e.Store.GetStack(ctx, stack)
	if st.Status != engine.StackCreateComplete {
		t.Fatalf("stack is %s", st.Status)
	}
	nodes, _ := e.Store.ListNodes(ctx, stack)
	for _, nd := range nodes {
		if took, want := nd.ReadyAt.Sub(nd.AppliedAt), time.Duration(500+nd.Index*300)*time.Millisecond; nd.Status != engine.NodeReady || took < want {
			t.Fatalf("%s is %s %s after its apply; its pod is ready after %s", nd.ID, nd.Status, took, want)
		}
	}
	counted.mu.Lock()
	defer counted.mu.Unlock()
	total := 0
	for _, c := range counted.n {
		total += c
	}
	checks := res.Invocations["checkready"]
	t.Logf("%d reads of Deployments over %d checks: %v", total, checks, counted.n)
	if checks < n/2 {
		t.Fatalf("%d checks: the test needs Deployments READY at different checks", checks)
	}
	// Each apply reads its object first (whose it is): n reads. The checks add the first
	// check's LIST, and a little for a watch that ends early; without resuming they added 16.
	if total > n+3 {
		t.Fatalf("%d reads of %d Deployments over %d checks (%v): the checks read again what they could resume", total, n, checks, counted.n)
	}
}

// A node whose object stops changing is still read once it has waited 5 s (progressAfter),
// so that status views say why it waits, though checks keep ending early for other nodes and
// never reach the end of their watch (where everything is read again). Here a chain of 1 s
// Deployments keeps checks short while a 14 s one waits.
func TestASlowNodesProgressIsNotedWhileOthersKeepChecksShort(t *testing.T) {
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("progress-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	dep := func(id, delay, after string) string {
		s := fmt.Sprintf(`  %[1]s:
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: %[1]s}
      spec: {replicas: 1, selector: {matchLabels: {app: %[1]s}}, template: {metadata: {labels: {app: %[1]s}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: %[2]s}}, spec: {containers: [{name: c, image: x}]}}}
`, id, delay)
		if after != "" {
			s += "    dependsOn: [" + after + "]\n"
		}
		return s
	}
	src := "format: aos/v1\nname: progress\nnodes:\n" + dep("slow", "14s", "")
	const chain = 10
	for i := range chain {
		after := ""
		if i > 0 {
			after = fmt.Sprintf("c%d", i-1)
		}
		src += dep(fmt.Sprintf("c%d", i), "1s", after)
	}
	_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		res, err := local.RunOp(ctx, e, engine.OpRequest{Stack: stack, Operation: op})
		if err == nil {
			err = res.Err
		}
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		slow, err := e.Store.GetNode(ctx, stack, "slow")
		if err != nil || slow.AppliedAt.IsZero() || time.Since(slow.AppliedAt) < 7*time.Second {
			continue
		}
		last, _ := e.Store.GetNode(ctx, stack, fmt.Sprintf("c%d", chain-1))
		if last.Status == engine.NodeReady {
			t.Fatalf("the chain was READY %s after slow's apply: the test needs it still running", time.Since(slow.AppliedAt))
		}
		if slow.Status != engine.NodeWaiting || slow.Reason == "Applied" {
			t.Fatalf("slow, %s after its apply, while checks kept ending early: %s %s (%s)", time.Since(slow.AppliedAt).Round(time.Millisecond), slow.Status, slow.Reason, slow.Message)
		}
		break
	}
	if err := <-done; err != nil {
		t.Fatalf("create: %v", err)
	}
}

// A node the Map applied was judged on the object its apply answered with, and kept that
// object's version: the next check resumes it from the watch like any other rather than read
// it. Here a chain of Deployments is applied one a turn, each by its own Map; reading each
// again at the check after its Map made twice the reads. Each is still READY only once its
// pod is.
func TestANodeTheMapAppliedIsNotReadAgain(t *testing.T) {
	counted := &reads{n: map[string]int{}}
	e := countedEngine(t, func(rt http.RoundTripper) http.RoundTripper { counted.rt = rt; return counted })
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("mapread-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	const n = 6
	src := "format: aos/v1\nname: mapread\nnodes:\n"
	for i := range n {
		src += fmt.Sprintf(`  c%[1]d:
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: c%[1]d}
      spec: {replicas: 1, selector: {matchLabels: {app: c%[1]d}}, template: {metadata: {labels: {app: c%[1]d}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 400ms}}, spec: {containers: [{name: c, image: x}]}}}
`, i)
		if i > 0 {
			src += fmt.Sprintf("    dependsOn: [c%d]\n", i-1)
		}
	}
	res := createThroughTheStateMachine(t, e, stack, src)
	if st, _ := e.Store.GetStack(ctx, stack); st.Status != engine.StackCreateComplete {
		t.Fatalf("stack is %s", st.Status)
	}
	nodes, _ := e.Store.ListNodes(ctx, stack)
	for _, nd := range nodes {
		if took := nd.ReadyAt.Sub(nd.AppliedAt); nd.Status != engine.NodeReady || took < 400*time.Millisecond {
			t.Fatalf("%s is %s %s after its apply; its pod is ready after 400ms", nd.ID, nd.Status, took)
		}
	}
	if maps := mapIterations(res); len(maps) < n {
		t.Fatalf("Map iterations %v: the test needs each node applied by a Map of its own", maps)
	}
	counted.mu.Lock()
	defer counted.mu.Unlock()
	total := 0
	for _, c := range counted.n {
		total += c
	}
	t.Logf("%d reads of %d Deployments over %d checks: %v", total, n, res.Invocations["checkready"], counted.n)
	// Each apply reads its object first (whose it is): n reads. The first check reads the
	// first node (no version to resume from yet); a watch that ends early may add one.
	if total > n+2 {
		t.Fatalf("%d reads of %d Deployments (%v): the checks read again what the Map's applies judged", total, n, counted.n)
	}
}
