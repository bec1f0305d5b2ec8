package kube_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/kube"
)

// A watch from an earlier version resumes where a check stopped: the changes since come first,
// to Backlog at once, without those at or below a target's floor (what an object was before
// its last apply), and Watch says up to which version it handed everything, so that the next
// watch from there sees only what came after.
func TestWatchResumesFromAVersion(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-resume")
	cm := func(v string) *unstructured.Unstructured {
		return obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: cm, namespace: %s}, data: {v: "%s"}}`, ns, v)
	}
	first := apply(t, c, cm("1"), owner(ns, "cm"))
	g, err := c.GroupOf(ctx, first.Ref)
	if err != nil {
		t.Fatal(err)
	}
	since := first.Object.GetResourceVersion()
	applied := apply(t, c, cm("2"), owner(ns, "cm")) // the apply the floor stands for
	latest := apply(t, c, cm("3"), owner(ns, "cm"))
	targets := []kube.Target{{ID: "node-cm", Ref: first.Ref}}
	never := func(string, *unstructured.Unstructured) (bool, error) {
		t.Fatal("changed was called for a change the backlog held")
		return true, nil
	}

	var got map[string]*unstructured.Unstructured
	from := kube.From{Versions: map[kube.Group]string{g: since}, Floors: map[string]string{"node-cm": latest.Object.GetResourceVersion()},
		Backlog: func(objs map[string]*unstructured.Unstructured) (bool, error) { got = objs; return true, nil }}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Every change is at or below the floor: none is handed, and the version still moves on.
	resync, at, err := c.Watch(wctx, "test-stack", targets, from, never)
	if err != nil || resync || len(got) != 0 || at[g] != latest.Object.GetResourceVersion() {
		t.Fatalf("all below the floor: resync %v, %v, backlog %v, handed up to %q (want %q)", resync, err, got, at[g], latest.Object.GetResourceVersion())
	}

	from.Floors["node-cm"] = applied.Object.GetResourceVersion()
	resync, at, err = c.Watch(wctx, "test-stack", targets, from, never)
	if err != nil || resync {
		t.Fatalf("watch: resync %v, %v", resync, err)
	}
	if u := got["node-cm"]; len(got) != 1 || u == nil || u.Object["data"].(map[string]any)["v"] != "3" {
		t.Fatalf("backlog %v: want only the latest change, v=3", got)
	}
	if at[g] != latest.Object.GetResourceVersion() {
		t.Fatalf("handed up to %q, want the last change's version %q", at[g], latest.Object.GetResourceVersion())
	}

	// From there: nothing held, so Backlog is handed nothing and changed sees the next change.
	from.Versions[g], got = at[g], nil
	from.Backlog = func(objs map[string]*unstructured.Unstructured) (bool, error) {
		if len(objs) != 0 {
			t.Fatalf("backlog from the last version: %v", objs)
		}
		go func() { _, _ = c.Apply(ctx, cm("4"), owner(ns, "cm")) }() // a failure shows as a timeout
		return false, nil
	}
	var seen string
	resync, at, err = c.Watch(wctx, "test-stack", targets, from, func(_ string, u *unstructured.Unstructured) (bool, error) {
		seen = u.Object["data"].(map[string]any)["v"].(string)
		return true, nil
	})
	if err != nil || resync || seen != "4" {
		t.Fatalf("live change: resync %v, err %v, saw v=%q", resync, err, seen)
	}
	if at[g] == latest.Object.GetResourceVersion() {
		t.Fatalf("the version did not move past the live change: %q", at[g])
	}

	// A floor that is not a resourceVersion cannot place a change: read everything again.
	from.Versions[g], from.Floors["node-cm"], from.Backlog = since, "not-a-version", nil
	resync, _, err = c.Watch(wctx, "test-stack", targets, from, never)
	if err != nil || !resync {
		t.Fatalf("a floor that does not compare: resync %v, %v", resync, err)
	}
}
