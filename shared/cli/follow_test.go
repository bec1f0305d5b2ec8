package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
)

// With AOS_APPLY_FOLLOW set, an apply-node that sees its node READY starts the dependents it
// unblocked itself: a chain of five is applied by the Map's one apply-node call, each link
// right after the one before is READY, with no check-ready turn between. Unset, each link is
// an apply-node of its own, started by check-ready.
func TestApplyNodeFollowsItsDependents(t *testing.T) {
	for _, tc := range []struct {
		follow string
		calls  int64
	}{{"", 5}, {"20s", 1}} {
		t.Run("AOS_APPLY_FOLLOW="+tc.follow, func(t *testing.T) {
			t.Setenv("AOS_APPLY_FOLLOW", tc.follow)
			followChain(t, tc.calls)
		})
	}
}

func followChain(t *testing.T, calls int64) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("follow-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	tpl := filepath.Join(t.TempDir(), "chain.yaml")
	body := "format: aos/v1\nname: chain\nnodes:\n  n0:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: n0}, data: {v: \"0\"}}\n"
	for i := 1; i < 5; i++ {
		body += fmt.Sprintf("  n%d:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: n%d}, data: {v: \"${nodes.n%d.data.v}%d\"}}\n", i, i, i-1, i)
	}
	if err := os.WriteFile(tpl, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack, "-o", "json")...)
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	if code != ExitOK {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errs)
	}
	var res struct {
		Stack struct{ Status string }
		Cost  struct {
			Invocations map[string]int64 `json:"invocations"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Stack.Status != "CREATE_COMPLETE" || res.Cost.Invocations["applynode"] != calls {
		t.Fatalf("status %s, apply-node invoked %d times, want %d\n%s", res.Stack.Status, res.Cost.Invocations["applynode"], calls, out)
	}
	cm, err := testcluster.Client(t).CoreV1().ConfigMaps(stack).Get(context.Background(), "n4", metav1.GetOptions{})
	if err != nil || cm.Data["v"] != "01234" {
		t.Fatalf("n4 rendered from the live values before it: %v %v", cm.Data, err)
	}
}

// A node that fails while a follower runs stops every follower starting anything new: the
// branch beside it is not carried on.
func TestFollowStopsAtAFailure(t *testing.T) {
	t.Setenv("AOS_APPLY_FOLLOW", "20s")
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("followfail-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	tpl := filepath.Join(t.TempDir(), "fail.yaml")
	// bad fails at its apply (a ConfigMap's data must be strings); side, applied beside it, is
	// READY 1.5 s later, when the failure is long recorded; after is what side would start.
	body := `format: aos/v1
name: followfail
nodes:
  root:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: root}}
  bad:
    dependsOn: [root]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: bad}, data: {n: {not: a string}}}
  side:
    dependsOn: [root]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: side}
      spec:
        replicas: 1
        selector: {matchLabels: {app: side}}
        template:
          metadata: {labels: {app: side}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: "1500ms"}}
          spec: {containers: [{name: app, image: registry.example/side:1}]}
  after:
    dependsOn: [side]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: after}}
`
	if err := os.WriteFile(tpl, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack)...)
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	if code == ExitOK || !strings.Contains(out+errs, "CREATE_FAILED") {
		t.Fatalf("up: exit %d, want a failed create\n%s\n%s", code, out, errs)
	}
	_, err := testcluster.Client(t).CoreV1().ConfigMaps(stack).Get(context.Background(), "after", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("after bad failed, a follower still started after: %v\n%s", err, out)
	}
}
