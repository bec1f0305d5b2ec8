package engine

import (
	"reflect"
	"slices"
	"testing"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/template"
)

const carryTemplate = `format: aos/v1
name: p
inputs:
  greeting: {type: string, default: hello}
  size: {type: integer, default: 1}
nodes:
  a:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {g: "${inputs.greeting}"}}
  b:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: {a: "${nodes.a.metadata.uid}"}}
  c:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {s: "${inputs.size}"}}
  d:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: d}}
`

func carryResolved(t *testing.T, src string) *template.Resolved {
	t.Helper()
	r, probs := template.Validate("p.yaml", []byte(src), template.Params{})
	if len(probs) > 0 {
		t.Fatalf("%v", probs)
	}
	return r
}

// appliedBefore is what revision 1 of src left: every node READY with its object.
func appliedBefore(t *testing.T, src string) []*NodeRecord {
	t.Helper()
	var out []*NodeRecord
	for _, w := range planNodes(&StackRecord{Name: "p", Revision: 1}, carryResolved(t, src), nil) {
		n := *w.rec
		n.Status, n.Ref, n.Version = NodeReady, &kube.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "p", Name: n.ID}, 3
		n.Live = map[string]any{"metadata": map[string]any{"uid": "u-" + n.ID}}
		out = append(out, &n)
	}
	return out
}

func candidateIDs(planned []nodeWrite, existing []*NodeRecord, r *template.Resolved, changed map[string]bool) []string {
	have := map[string]*NodeRecord{}
	for _, n := range existing {
		have[n.ID] = n
	}
	var ids []string
	for id := range carryCandidates(planned, have, r, changed) {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestCarryCandidates(t *testing.T) {
	st := &StackRecord{Name: "p", Revision: 2}
	before := appliedBefore(t, carryTemplate)
	r := carryResolved(t, carryTemplate)
	planned := planNodes(st, r, before)

	if got := candidateIDs(planned, before, r, nil); !reflect.DeepEqual(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("same template, same inputs: every node is a candidate; got %v", got)
	}
	// b reads no input: an input only a reads leaves b a candidate here; the closure decides.
	if got := candidateIDs(planned, before, r, map[string]bool{"greeting": true}); !reflect.DeepEqual(got, []string{"b", "c", "d"}) {
		t.Fatalf("greeting changed: got %v", got)
	}

	edited := carryResolved(t, carryTemplate[:len(carryTemplate)-len("{name: d}}\n")]+"{name: d}, data: {x: y}}\n")
	if got := candidateIDs(planNodes(st, edited, before), before, edited, nil); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("d's manifest changed: got %v", got)
	}

	drifted := appliedBefore(t, carryTemplate)
	drifted[2].Drifted = true // c
	drifted[3].Status = NodeFailed
	if got := candidateIDs(planNodes(st, r, drifted), drifted, r, nil); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("c drifted and d failed: got %v", got)
	}
}

func TestCarryCandidatesLeaveSourcesLookupsAndStacksAlone(t *testing.T) {
	st := &StackRecord{Name: "p", Revision: 2}
	src := `format: aos/v1
name: p
nodes:
  files: {manifests: ./objects}
  seen: {lookup: {apiVersion: v1, kind: ConfigMap, name: x}}
`
	r := carryResolved(t, src)
	before := appliedBefore(t, src)
	if got := candidateIDs(planNodes(st, r, before), before, r, nil); len(got) != 0 {
		t.Fatalf("what a chart, a folder or a looked-up object holds changes outside the template: got %v", got)
	}
}

func TestCarriedClosure(t *testing.T) {
	st := &StackRecord{Name: "p", Revision: 2}
	before := appliedBefore(t, carryTemplate)
	r := carryResolved(t, carryTemplate+"    dependsOn: [c]\n")
	planned := planNodes(st, r, before)
	for _, tc := range []struct {
		fresh map[string]bool
		want  []string
	}{
		{map[string]bool{"a": true, "b": true, "c": true, "d": true}, []string{"a", "b", "c", "d"}},
		// a is applied again: b, which reads a's live uid, must be too.
		{map[string]bool{"a": false, "b": true, "c": true, "d": true}, []string{"c", "d"}},
		// d comes after c but reads nothing of it.
		{map[string]bool{"b": true, "d": true}, []string{"d"}},
		{map[string]bool{"a": true, "b": true, "c": false, "d": true}, []string{"a", "b", "d"}},
	} {
		var got []string
		for id := range carriedClosure(planned, tc.fresh, nodesRead(r)) {
			got = append(got, id)
		}
		slices.Sort(got)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("fresh %v: carried %v, want %v", tc.fresh, got, tc.want)
		}
	}
}
