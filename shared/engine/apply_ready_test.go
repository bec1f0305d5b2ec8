package engine

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
)

func object(apiVersion, kind string, fields map[string]any) *unstructured.Unstructured {
	o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "x", "generation": int64(1)}}
	for k, v := range fields {
		o[k] = v
	}
	return &unstructured.Unstructured{Object: o}
}

// What an apply returns settles a node READY only when check-ready would have called it
// READY on that same object: an object READY as it exists, a ready.when already true.
// Anything still rolling out, a failWhen, a chart or a lookup is left to check-ready.
func TestReadyOnApply(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	applied := func() *NodeRecord {
		return &NodeRecord{ID: "n", Status: NodeWaiting, AppliedAt: now, Timeout: time.Minute}
	}
	deployment := object("apps/v1", "Deployment", map[string]any{"spec": map[string]any{"replicas": int64(1)}})
	rolledOut := object("apps/v1", "Deployment", map[string]any{"spec": map[string]any{"replicas": int64(1)},
		"status": map[string]any{"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1),
			"readyReplicas": int64(1), "availableReplicas": int64(1),
			"conditions": []any{map[string]any{"type": "Available", "status": "True"}}}})
	cm := object("v1", "ConfigMap", map[string]any{"data": map[string]any{"k": "v"}})
	withConds := func(c ...kube.Condition) *NodeRecord { n := applied(); n.Conds = c; return n }
	chart, lookup := applied(), applied()
	chart.Source, lookup.Lookup = "chart", true
	for _, tc := range []struct {
		name  string
		n     *NodeRecord
		live  *unstructured.Unstructured
		ready bool
	}{
		{"a ConfigMap", applied(), cm, true},
		{"a Deployment just created", applied(), deployment, false},
		{"a Deployment rolled out (an unchanged node's read)", applied(), rolledOut, true},
		{"ready.when true", withConds(kube.Condition{Expr: "self.data.k == 'v'"}), cm, true},
		{"ready.when not yet", withConds(kube.Condition{Expr: "self.data.k == 'w'"}), cm, false},
		{"failWhen true: check-ready records it", withConds(kube.Condition{Expr: "self.data.k == 'v'", Fail: true}), cm, false},
		{"no object returned", applied(), nil, false},
		{"a chart", chart, cm, false},
		{"a lookup", lookup, cm, false},
	} {
		if _, ok := readyOnApply(tc.n, tc.live, now); ok != tc.ready {
			t.Errorf("%s: READY on apply = %v, want %v", tc.name, ok, tc.ready)
		}
	}
}

// A node READY on its apply tells two events from one record: WAITING as applied, then READY,
// each at its own time; a later apply (waiting) forgets the first one's WAITING.
func TestRecordEventsOfANodeReadyOnApply(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	e := &Engine{Now: func() time.Time { return t0.Add(time.Second) }}
	n := &NodeRecord{Stack: "s", ID: "cm", Trimmed: true}
	n.waiting(t0, "Applied", "ConfigMap s/cm created", true)
	e.settleOnApply(n, object("v1", "ConfigMap", nil), secrets.NewRedactor(nil))
	evs := e.recordEvents(context.Background(), n)
	if len(evs) != 2 || evs[0].Status != "WAITING" || evs[0].Message != "ConfigMap s/cm created" || !evs[0].Time.Equal(t0) ||
		evs[1].Status != "READY" || !evs[1].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("events %+v %+v, want WAITING at the apply then READY", evs[0], evs[len(evs)-1])
	}
	n.waiting(t0.Add(time.Minute), "Applied", "ConfigMap s/cm configured", true)
	if evs := e.recordEvents(context.Background(), n); len(evs) != 1 || evs[0].Status != "WAITING" || evs[0].Message != "ConfigMap s/cm configured" {
		t.Fatalf("after a new apply: %+v", evs)
	}
}
