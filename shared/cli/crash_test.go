package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
)

// The test binary doubles as the aos command, so a real process can be killed midway.
func TestMain(m *testing.M) {
	if os.Getenv("AOS_TEST_AS_CLI") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func aosProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "AOS_TEST_AS_CLI=1")
	return cmd
}

const thirty = `format: aos/v1
name: thirty
nodes:
  a:
    count: 10
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "a-${index}"}
      spec: {replicas: 1, selector: {matchLabels: {app: "a-${index}"}}, template: {metadata: {labels: {app: "a-${index}"}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1s}}, spec: {containers: [{name: c, image: x}]}}}
  b:
    count: 10
    dependsOn: [a]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "b-${index}"}
      spec: {replicas: 1, selector: {matchLabels: {app: "b-${index}"}}, template: {metadata: {labels: {app: "b-${index}"}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1s}}, spec: {containers: [{name: c, image: x}]}}}
  c:
    count: 10
    dependsOn: [b]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "c-${index}"}
      spec: {replicas: 1, selector: {matchLabels: {app: "c-${index}"}}, template: {metadata: {labels: {app: "c-${index}"}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1s}}, spec: {containers: [{name: c, image: x}]}}}
`

// kill -9 an `aos up` of a 30-node stack midway; `aos up` again refuses (busy) and points at
// resume; `aos resume` completes with every node READY, no object applied twice, and an
// event log without gaps.
func TestKilledUpResumes(t *testing.T) {
	kc := kubeconfigPath(t)
	cs := testcluster.Client(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("crash-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(t.Context(), stack, metav1.DeleteOptions{}) })
	tpl := write(t, "thirty.yaml", thirty)
	g := []string{"--state", state, "--kubeconfig", kc}

	up := aosProcess(append(g, "up", tpl, "--stack", stack)...)
	var out bytes.Buffer
	up.Stdout, up.Stderr = &out, &out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once the first level is READY and the second has started.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "b-") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := up.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = up.Wait()
	if strings.Contains(out.String(), "CREATE_COMPLETE") {
		t.Fatalf("the run finished before it could be killed:\n%s", out.String())
	}

	code, _, errs := run(t, "", append(g, "up", tpl, "--stack", stack)...)
	if code != ExitError || !strings.Contains(errs, "is busy: create_in_progress") || !strings.Contains(errs, "aos resume "+stack) {
		t.Fatalf("up on an interrupted stack: exit %d %s", code, errs)
	}
	code, rout, errs := run(t, "", append(g, "resume", stack)...)
	if code != ExitOK || !strings.Contains(rout, "CREATE_COMPLETE") {
		t.Fatalf("resume: exit %d\n%s\n%s", code, rout, errs)
	}
	_, sout, _ := run(t, "", append(g, "status", stack, "-o", "json")...)
	var status struct {
		Nodes []struct{ ID, Status string }
	}
	if err := json.Unmarshal([]byte(sout), &status); err != nil || len(status.Nodes) != 30 {
		t.Fatalf("status: %v %s", err, sout)
	}
	for _, n := range status.Nodes {
		if n.Status != "READY" {
			t.Fatalf("node %s is %s", n.ID, n.Status)
		}
	}
	deps, err := cs.AppsV1().Deployments(stack).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(deps.Items) != 30 {
		t.Fatalf("%d deployments, %v", len(deps.Items), err)
	}
	for _, d := range deps.Items {
		if d.Generation != 1 {
			t.Fatalf("deployment %s has generation %d: it was changed after creation", d.Name, d.Generation)
		}
	}
	_, eout, _ := run(t, "", append(g, "events", stack, "-o", "json")...)
	var evs []struct {
		Seq          int64
		Node, Status string
	}
	if err := json.Unmarshal([]byte(eout), &evs); err != nil {
		t.Fatal(err)
	}
	ready := map[string]int{}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has sequence %d: a gap", i+1, ev.Seq)
		}
		if ev.Status == "READY" {
			ready[ev.Node]++
		}
	}
	for id, n := range ready {
		if n != 1 {
			t.Fatalf("node %s became READY %d times", id, n)
		}
	}
	if len(ready) != 30 {
		t.Fatalf("%d nodes have a READY event", len(ready))
	}
	t.Logf("killed after %d bytes of progress; resumed; %d events", out.Len(), len(evs))
}

// Two `aos up` of one stack at once, as two processes on one state file: exactly one runs,
// the other exits 1 saying the stack is busy; `aos status` from a third process answers while
// the winner is still running.
func TestTwoUpsAtOnceOneRuns(t *testing.T) {
	kc := kubeconfigPath(t)
	cs := testcluster.Client(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("race-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(t.Context(), stack, metav1.DeleteOptions{}) })
	tpl := write(t, "thirty.yaml", thirty)
	g := []string{"--state", state, "--kubeconfig", kc}

	var outs [2]bytes.Buffer
	var procs [2]*exec.Cmd
	for i := range procs {
		procs[i] = aosProcess(append(g, "up", tpl, "--stack", stack)...)
		procs[i].Stdout, procs[i].Stderr = &outs[i], &outs[i]
	}
	for _, p := range procs {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	// While they run, a reader gets its answer between the writer's transactions.
	time.Sleep(1500 * time.Millisecond)
	code, sout, serr := run(t, "", append(g, "status", stack, "-o", "json")...)
	if code != ExitOK || !strings.Contains(sout, "CREATE_IN_PROGRESS") {
		t.Fatalf("status during up: exit %d\n%s\n%s", code, sout, serr)
	}
	// events -f from a fourth process follows the run to its end.
	code, fout, ferr := run(t, "", append(g, "events", stack, "-f")...)
	if code != ExitOK || !strings.Contains(fout, "CREATE_COMPLETE") || strings.Count(fout, "READY") < 30 {
		t.Fatalf("events -f: exit %d\n%s\n%s", code, fout, ferr)
	}
	codes := [2]int{}
	for i, p := range procs {
		err := p.Wait()
		codes[i] = p.ProcessState.ExitCode()
		if err != nil && codes[i] == -1 {
			t.Fatal(err)
		}
	}
	winner, loser := 0, 1
	if codes[1] == ExitOK {
		winner, loser = 1, 0
	}
	if codes[winner] != ExitOK || codes[loser] != ExitError {
		t.Fatalf("exit codes %v\n--- first:\n%s\n--- second:\n%s", codes, outs[0].String(), outs[1].String())
	}
	if !strings.Contains(outs[loser].String(), "stack \""+stack+"\" is busy") {
		t.Fatalf("the refused run does not say the stack is busy:\n%s", outs[loser].String())
	}
	if !strings.Contains(outs[winner].String(), "CREATE_COMPLETE") {
		t.Fatalf("the winner did not complete:\n%s", outs[winner].String())
	}
	deps, err := cs.AppsV1().Deployments(stack).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(deps.Items) != 30 {
		t.Fatalf("%d deployments, %v", len(deps.Items), err)
	}
	for _, d := range deps.Items {
		if d.Generation != 1 {
			t.Fatalf("deployment %s has generation %d: both runs applied it", d.Name, d.Generation)
		}
	}
	t.Logf("loser said: %s", strings.TrimSpace(outs[loser].String()))
}
