package kube

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/expr"
	"github.com/aos-project/aos/shared/refs"
)

// Phase is where an applied object stands.
type Phase string

// Phases. Waiting means applied but not yet ready.
const (
	PhaseReady   Phase = "READY"
	PhaseWaiting Phase = "WAITING"
	PhaseFailed  Phase = "FAILED"
)

// Condition is a custom readiness rule on the live object (a template's ready.conditions).
// Its own type, not the template's, so that this package knows nothing of templates; the
// field names are those the store has always written.
type Condition struct {
	Path  refs.Path
	Op    string
	Value any
	// Expr, when set, is a CEL expression over the object (`self`) instead of Path, Op and
	// Value: ready.when, or with Fail ready.failWhen.
	Expr string `json:",omitempty"`
	Fail bool   `json:",omitempty"`
}

// Readiness is the verdict on one live object.
type Readiness struct {
	Phase   Phase  `json:"phase"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Evaluate decides whether a live object is ready: kstatus's rules, corrected where they are
// too lenient for "ready means ready", then the node's own conditions. A nil object (deleted
// from under us) has failed.
func Evaluate(u *unstructured.Unstructured, conds []Condition) Readiness {
	if u == nil {
		return Readiness{PhaseFailed, "NotFound", "the object no longer exists"}
	}
	// A failWhen is a verdict the built-in rules may never reach (a Deployment stuck with
	// unavailable replicas waits for its timeout): it comes first.
	for _, c := range conds {
		if c.Fail {
			if failed, why := failing(u.Object, c); failed {
				return Readiness{PhaseFailed, "FailWhen", why}
			}
		}
	}
	r := builtin(u)
	if r.Phase != PhaseReady {
		return r
	}
	for _, c := range conds {
		if c.Fail {
			continue
		}
		if ok, why := holds(u.Object, c); !ok {
			return Readiness{PhaseWaiting, "ConditionNotMet", why}
		}
	}
	return r
}

// failing evaluates a ready.failWhen; one that cannot be evaluated yet (a field not there)
// has not failed. Messages quote the expression, never the object's values.
func failing(obj map[string]any, c Condition) (bool, string) {
	rule, err := expr.Cached(c.Expr)
	if err != nil {
		return false, ""
	}
	failed, err := rule.Eval(obj)
	return err == nil && failed, fmt.Sprintf("ready.failWhen is true: %s", c.Expr)
}

// rule evaluates a ready.when.
func rule(obj map[string]any, c Condition) (bool, string) {
	r, err := expr.Cached(c.Expr)
	if err != nil {
		return false, fmt.Sprintf("ready.when does not compile: %v", err)
	}
	ok, err := r.Eval(obj)
	if err != nil {
		return false, fmt.Sprintf("waiting for ready.when %s (%v)", c.Expr, err)
	}
	return ok, fmt.Sprintf("waiting for ready.when %s", c.Expr)
}

func builtin(u *unstructured.Unstructured) Readiness {
	gk := u.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "batch" && gk.Kind == "Job":
		// kstatus calls a started Job Current; a dependent of a Job wants it finished.
		return jobReadiness(u)
	case gk.Group == "" && gk.Kind == "Service":
		if t, _, _ := unstructured.NestedString(u.Object, "spec", "type"); t == "LoadBalancer" {
			ing, _, _ := unstructured.NestedSlice(u.Object, "status", "loadBalancer", "ingress")
			if len(ing) == 0 {
				return Readiness{PhaseWaiting, "NoIngress", "waiting for the load balancer's address (status.loadBalancer.ingress)"}
			}
		}
	}
	res, err := status.Compute(u)
	if err != nil {
		return Readiness{PhaseWaiting, "StatusUnknown", fmt.Sprintf("cannot read status yet: %v", err)}
	}
	switch res.Status {
	case status.CurrentStatus:
		return Readiness{PhaseReady, "Current", res.Message}
	case status.FailedStatus:
		reason := "Failed"
		for _, c := range res.Conditions {
			if c.Reason != "" {
				reason = c.Reason
			}
		}
		return Readiness{PhaseFailed, reason, res.Message}
	case status.TerminatingStatus:
		return Readiness{PhaseWaiting, "Terminating", res.Message}
	default:
		return Readiness{PhaseWaiting, string(res.Status), res.Message}
	}
}

func jobReadiness(u *unstructured.Unstructured) Readiness {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, raw := range conds {
		c, _ := raw.(map[string]any)
		if c["status"] != "True" {
			continue
		}
		reason, _ := c["reason"].(string)
		msg, _ := c["message"].(string)
		switch c["type"] {
		case "Complete":
			return Readiness{PhaseReady, "Complete", "the Job completed"}
		case "Failed":
			if reason == "" {
				reason = "Failed"
			}
			return Readiness{PhaseFailed, reason, strings.TrimSpace("the Job failed: " + msg)}
		}
	}
	active, _, _ := unstructured.NestedInt64(u.Object, "status", "active")
	succeeded, _, _ := unstructured.NestedInt64(u.Object, "status", "succeeded")
	return Readiness{PhaseWaiting, "Running", fmt.Sprintf("the Job has not completed (active %d, succeeded %d)", active, succeeded)}
}

// holds evaluates one custom condition on the live object.
func holds(obj map[string]any, c Condition) (bool, string) {
	if c.Expr != "" {
		return rule(obj, c)
	}
	v, err := refs.Get(obj, c.Path)
	exists := err == nil
	switch c.Op {
	case "exists":
		return exists, fmt.Sprintf("waiting for %s to exist", c.Path)
	case "notExists":
		return !exists, fmt.Sprintf("waiting for %s to go away", c.Path)
	}
	if !exists {
		return false, fmt.Sprintf("waiting for %s %s %v (not set yet)", c.Path, c.Op, c.Value)
	}
	why := fmt.Sprintf("waiting for %s %s %v (now %v)", c.Path, c.Op, c.Value, v)
	switch c.Op {
	case "==":
		return equal(v, c.Value), why
	case "!=":
		return !equal(v, c.Value), why
	case "in":
		list, _ := c.Value.([]any)
		for _, x := range list {
			if equal(v, x) {
				return true, why
			}
		}
		return false, why
	case ">", ">=", "<", "<=":
		a, aok := number(v)
		b, bok := number(c.Value)
		if !aok || !bok {
			return false, why + ": both sides must be numbers"
		}
		switch c.Op {
		case ">":
			return a > b, why
		case ">=":
			return a >= b, why
		case "<":
			return a < b, why
		default:
			return a <= b, why
		}
	}
	return false, "unknown operator " + c.Op
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	case int32:
		return float64(x), true
	}
	return 0, false
}

func equal(a, b any) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	return reflect.DeepEqual(a, b)
}

// Live returns the parts of a live object that references may read: everything but
// metadata.managedFields, which is bookkeeping and large.
func Live(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
	return c.Object
}
