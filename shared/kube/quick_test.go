package kube_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/kube"
)

// A Deployment's status is written several times on its way to available. A watch of a Quick
// target hands on only the change that can settle it; one of a target that is not Quick hands
// on every change, as before.
func TestQuickWatchPassesOverARollout(t *testing.T) {
	t.Parallel()
	c := client(t)
	ctx := context.Background()
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-quick")
	phases := func(name string, quick bool) []kube.Phase {
		a := apply(t, c, obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: %s, namespace: %s}, spec: {replicas: 2,
			selector: {matchLabels: {app: %s}}, template: {metadata: {labels: {app: %s}, annotations: {%q: "1s"}}, spec: {containers: [{name: c, image: x}]}}}}`,
			name, ns, name, name, readyDelay), owner(ns, name))
		g, err := c.GroupOf(ctx, a.Ref)
		if err != nil {
			t.Fatal(err)
		}
		rv := a.Object.GetResourceVersion()
		from := kube.From{Versions: map[kube.Group]string{g: rv}, Floors: map[string]string{name: rv}}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var seen []kube.Phase
		resync, _, err := c.Watch(wctx, "test-stack", []kube.Target{{ID: name, Ref: a.Ref, Quick: quick}}, from, func(id string, u *unstructured.Unstructured) (bool, error) {
			r := kube.Evaluate(u, nil)
			seen = append(seen, r.Phase)
			return r.Phase != kube.PhaseWaiting, nil
		})
		if err != nil || resync {
			t.Fatalf("%s: watch ended: resync %v, %v (saw %v)", name, resync, err, seen)
		}
		return seen
	}
	if seen := phases("quick", true); len(seen) != 1 || seen[0] != kube.PhaseReady {
		t.Fatalf("quick: handed %v, want only the change that made it READY", seen)
	}
	if seen := phases("whole", false); len(seen) < 2 || seen[len(seen)-1] != kube.PhaseReady {
		t.Fatalf("not quick: handed %v, want the rollout's changes, then READY", seen)
	}
}
