package engine

import (
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/template"
)

func resolved(t *testing.T, nodes ...string) *template.Resolved {
	t.Helper()
	src := "format: aos/v1\nname: p\nnodes:\n"
	for _, n := range nodes {
		src += n + "\n"
	}
	r, probs := template.Validate("p.yaml", []byte(src), template.Params{})
	if len(probs) > 0 {
		t.Fatalf("%s: %v", src, probs)
	}
	return r
}

const (
	nodeA = "  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}"
	nodeB = "  b:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: {a: \"${nodes.a.metadata.uid}\"}}"
	nodeC = "  c:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}"
)

func writes(ws []nodeWrite) map[string]string {
	out := map[string]string{}
	for _, w := range ws {
		r := w.rec
		out[r.ID] = fmt.Sprintf("%s rev %d expect %d remove %v hash %q deps %v", r.Status, r.Revision, w.expect, r.Remove, r.AppliedHash, r.DependsOn)
	}
	return out
}

func TestPlanNodesOfACreate(t *testing.T) {
	st := &StackRecord{Name: "p", Namespace: "p", Revision: 1}
	got := writes(planNodes(st, resolved(t, nodeA, nodeB), nil))
	want := map[string]string{
		"a": `PENDING rev 1 expect 0 remove false hash "" deps []`,
		"b": `PENDING rev 1 expect 0 remove false hash "" deps [a]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("create:\n got %v\nwant %v", got, want)
	}
}

func TestPlanNodesOfAResumedRun(t *testing.T) {
	st := &StackRecord{Name: "p", Namespace: "p", Revision: 1}
	existing := []*NodeRecord{{ID: "a", Status: NodeReady, Revision: 1, Version: 3}}
	got := writes(planNodes(st, resolved(t, nodeA, nodeB), existing))
	if _, ok := got["a"]; ok || len(got) != 1 {
		t.Fatalf("a node this revision planned already is left as it is: %v", got)
	}
}

// An update that fails, then its rollback: the rollback re-plans the last good template on
// top of what the failed update left, so unchanged nodes keep what was applied, the failed
// node is applied again, and the node only the failed update had is removed.
func TestPlanNodesOfAFailedUpdateThenItsRollback(t *testing.T) {
	ref := &kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "p", Name: "x"}
	afterUpdate := []*NodeRecord{
		{ID: "a", Status: NodeReady, Revision: 2, Version: 4, Ref: ref, AppliedHash: "ha", Live: map[string]any{"metadata": map[string]any{"uid": "u"}}},
		{ID: "b", Status: NodeFailed, Revision: 2, Version: 5, Ref: ref, AppliedHash: "hb"},
		{ID: "c", Status: NodeReady, Revision: 2, Version: 2, Ref: ref, AppliedHash: "hc"},
	}
	st := &StackRecord{Name: "p", Namespace: "p", Revision: 3}
	ws := planNodes(st, resolved(t, nodeA, nodeB), afterUpdate)
	got := writes(ws)
	wantWrites := map[string]string{
		"a": `PENDING rev 3 expect 4 remove false hash "ha" deps []`,
		"b": `PENDING rev 3 expect 5 remove false hash "hb" deps [a]`,
		"c": `PENDING rev 3 expect 2 remove true hash "hc" deps []`,
	}
	if !reflect.DeepEqual(got, wantWrites) {
		t.Fatalf("rollback:\n got %v\nwant %v", got, wantWrites)
	}
	if afterUpdate[2].Remove || afterUpdate[2].Status != NodeReady {
		t.Fatal("planNodes changed a record it was given")
	}
	var next []*NodeRecord
	for _, w := range ws {
		next = append(next, w.rec)
	}
	sort.Slice(next, func(i, j int) bool { return next[i].ID < next[j].ID })
	check(t, "the rollback's first check", decide(next), want{startable: []string{"a"}, pending: 2})
}

func TestPlanNodesAfterADeleteStartsAfresh(t *testing.T) {
	ref := &kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "p", Name: "c"}
	existing := []*NodeRecord{{ID: "c", Status: NodeDeleted, Revision: 4, Version: 9, Ref: ref, AppliedHash: "hc"}}
	st := &StackRecord{Name: "p", Namespace: "p", Revision: 5}
	got := writes(planNodes(st, resolved(t, nodeC), existing))
	if got["c"] != `PENDING rev 5 expect 9 remove false hash "" deps []` {
		t.Fatalf("a deleted node is created again, keeping nothing of its old object: %v", got)
	}
}
