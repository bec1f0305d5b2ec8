package kube

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTransientClassification(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	cases := []struct {
		err   error
		retry bool
		wait  time.Duration
	}{
		{apierrors.NewTooManyRequests("slow down", 3), true, 3 * time.Second},
		{apierrors.NewTooManyRequests("slow down", 0), true, time.Second}, // the delay was lost on the way: a second
		{apierrors.NewServiceUnavailable("later"), true, 0},
		{apierrors.NewInternalError(errors.New("boom")), true, 0},
		{apierrors.NewConflict(gr, "web", errors.New("the object has been modified")), true, 0},
		{apierrors.NewServerTimeout(gr, "create", 2), true, 2 * time.Second},
		{fmt.Errorf("apply: %w", errors.New("rpc error: etcdserver: leader changed")), true, 0},
		{errors.New(`Internal error occurred: failed calling webhook "v.example.com": context deadline exceeded (Client.Timeout exceeded)`), true, 0},
		{errors.New(`admission webhook "v.example.com" denied the request: failed calling webhook: policy says no`), false, 0},
		{apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "web", nil), false, 0},
		{apierrors.NewForbidden(gr, "web", errors.New("no")), false, 0},
		{apierrors.NewNotFound(gr, "web"), false, 0},
		{apierrors.NewBadRequest("nope"), false, 0},
		{apierrors.NewInternalError(errors.New("failed to create typed patch object (ns/x; batch/v1, Kind=Job): .metadata.labels.shard: expected string, got &value.valueUnstructured{Value:0}")), false, 0},
		{context.Canceled, false, 0},
		{nil, false, 0},
	}
	for _, c := range cases {
		ok, wait := Transient(c.err)
		if ok != c.retry || wait != c.wait {
			t.Errorf("Transient(%v) = %v, %v; want %v, %v", c.err, ok, wait, c.retry, c.wait)
		}
	}
}

func TestRetryStopsOnPermanentErrorsAndWhenSpent(t *testing.T) {
	p := RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond}
	calls := 0
	err := retry(context.Background(), p, "op", func() error { calls++; return apierrors.NewBadRequest("bad") })
	if calls != 1 || !apierrors.IsBadRequest(err) {
		t.Fatalf("permanent error: %d calls, %v", calls, err)
	}
	calls = 0
	err = retry(context.Background(), p, "op", func() error { calls++; return apierrors.NewServiceUnavailable("x") })
	if calls != 3 || !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("transient error: %d calls, %v", calls, err)
	}
	calls = 0
	err = retry(context.Background(), p, "op", func() error {
		if calls++; calls < 3 {
			return apierrors.NewInternalError(errors.New("x"))
		}
		return nil
	})
	if calls != 3 || err != nil {
		t.Fatalf("recovering error: %d calls, %v", calls, err)
	}
}

func TestImmutableRecognition(t *testing.T) {
	gk := schema.GroupKind{Group: "batch", Kind: "Job"}
	inv := func(msg string) error {
		e := apierrors.NewInvalid(gk, "x", nil)
		e.ErrStatus.Message = msg
		return e
	}
	for msg, want := range map[string]bool{
		`Job.batch "x" is invalid: spec.template: Invalid value: ...: field is immutable`:                                              true,
		`Service "x" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.0.0.9"}: may not change once set`:                     true,
		`StatefulSet.apps "x" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas' are forbidden`: true,
		`Deployment.apps "x" is invalid: spec.selector: Required value`:                                                                false,
	} {
		if got := isImmutable(inv(msg)); got != want {
			t.Errorf("isImmutable(%q) = %v", msg, got)
		}
	}
}
