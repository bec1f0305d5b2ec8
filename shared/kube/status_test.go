package kube

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Readiness expressions, judged without a cluster: failWhen first, whatever the built-in
// rules say; when after them, as one more requirement; a field not there yet is "not yet".
func TestReadinessExpressionsAreJudged(t *testing.T) {
	deploy := func(ready, unavailable int64) *unstructured.Unstructured {
		status := map[string]any{"replicas": int64(2), "updatedReplicas": int64(2), "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": int64(1),
			"conditions": []any{map[string]any{"type": "Available", "status": "True"}, map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}}}
		if unavailable > 0 {
			status["unavailableReplicas"] = unavailable
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "generation": int64(1)}, "spec": map[string]any{"replicas": int64(2)}, "status": status}}
	}
	failWhen := Condition{Expr: "self.status.?unavailableReplicas.orValue(0) > 1", Fail: true}
	when := Condition{Expr: "self.status.readyReplicas >= 2 && self.metadata.?labels['approved'].orValue('') == 'yes'"}
	for _, c := range []struct {
		name  string
		obj   *unstructured.Unstructured
		conds []Condition
		phase Phase
		why   string
	}{
		{"failWhen holds while the built-in rules still wait", deploy(0, 2), []Condition{failWhen}, PhaseFailed, "FailWhen"},
		{"failWhen does not hold", deploy(1, 1), []Condition{failWhen}, PhaseWaiting, ""},
		{"available, but when is false", deploy(2, 0), []Condition{when, failWhen}, PhaseWaiting, "ConditionNotMet"},
		{"when cannot be evaluated yet", deploy(2, 0), []Condition{{Expr: "self.spec.strategy.type == 'RollingUpdate'"}}, PhaseWaiting, "ConditionNotMet"},
		{"no expressions", deploy(2, 0), nil, PhaseReady, "Current"},
	} {
		r := Evaluate(c.obj, c.conds)
		if r.Phase != c.phase || c.why != "" && r.Reason != c.why {
			t.Errorf("%s: %+v, want %s %s", c.name, r, c.phase, c.why)
		}
	}
	approved := deploy(2, 0)
	approved.SetLabels(map[string]string{"approved": "yes"})
	if r := Evaluate(approved, []Condition{when, failWhen}); r.Phase != PhaseReady {
		t.Fatalf("when holds: %+v", r)
	}
}
