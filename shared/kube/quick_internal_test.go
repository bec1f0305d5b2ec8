package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/aos-project/aos/internal/testcluster"
)

// A rule of stillRolling may only say "rolling" where Evaluate, on the same object as the
// watch hands it on, says WAITING: otherwise a watch would pass over the change that makes a
// node READY or FAILED. Every Deployment of a grid over what kstatus reads is judged both ways.
func TestDeploymentRollingOnlyWhereEvaluateWaits(t *testing.T) {
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	rule := stillRolling[gvk]
	if rule == nil {
		t.Fatal("no rule for Deployments")
	}
	conds := map[string][]appsv1.DeploymentCondition{
		"none": nil,
		"available": {{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}},
		"updating":  {{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"}},
		"deadline":  {{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}},
		"unavail":   {{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable"}},
		"stalled":   {{Type: "Stalled", Status: corev1.ConditionTrue, Reason: "Stuck"}},
		"repfail":   {{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate"}},
		"reconcile": {{Type: "Reconciling", Status: corev1.ConditionTrue, Reason: "Busy"}},
	}
	counts := []int32{0, 1, 3}
	var rolling, judged int
	for _, deleting := range []bool{false, true} {
		for _, deadline := range []*int32{nil, ptr(int32(600))} {
			for _, gen := range []int64{1, 2} {
				for _, observed := range []int64{0, 1, 2} {
					for _, spec := range []*int32{nil, ptr(int32(0)), ptr(int32(1)), ptr(int32(3))} {
						for name, cs := range conds {
							for _, rep := range counts {
								for _, upd := range counts {
									for _, ready := range counts {
										for _, avail := range counts {
											d := &appsv1.Deployment{
												ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", Generation: gen, ResourceVersion: "7"},
												Spec:       appsv1.DeploymentSpec{Replicas: spec, ProgressDeadlineSeconds: deadline},
												Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: rep, UpdatedReplicas: upd,
													ReadyReplicas: ready, AvailableReplicas: avail, Conditions: cs},
											}
											if deleting {
												d.DeletionTimestamp = &metav1.Time{}
											}
											u, err := toUnstructured(d, gvk)
											if err != nil {
												t.Fatal(err)
											}
											judged++
											if !rule(d) {
												continue
											}
											rolling++
											if r := Evaluate(u, nil); r.Phase != PhaseWaiting {
												t.Fatalf("rolling, but Evaluate says %s (%s: %s): generation %d, %s conditions, status %+v, spec %v",
													r.Phase, r.Reason, r.Message, gen, name, d.Status, spec)
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	// A rule that never says "rolling" would pass the above and save nothing.
	if rolling < judged/4 {
		t.Fatalf("rolling for %d of %d Deployments: the rule passes over too little to pay", rolling, judged)
	}
	t.Logf("rolling for %d of %d Deployments", rolling, judged)
	fresh := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	if !rule(fresh) {
		t.Fatal("a Deployment the controller has not yet seen is rolling")
	}
}

func ptr[T any](v T) *T { return &v }

// What a protobuf watch hands on must be the object the dynamic client would have decoded
// from JSON: Evaluate judges it, and a node's live values (references, outputs) are read
// from it. One Deployment with quantities, int-or-strings, probes and times, read both ways.
func TestProtobufReadsAsJSONDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := New(testcluster.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-proto")
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(`{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: %s, labels: {a: b}, annotations: {x: "1"}},
	  spec: {replicas: 2, strategy: {rollingUpdate: {maxSurge: "25%%", maxUnavailable: 1}}, selector: {matchLabels: {app: web}},
	    template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: x, ports: [{containerPort: 8080, name: http}],
	      env: [{name: A, value: "1"}], resources: {requests: {cpu: 500m, memory: 64Mi}, limits: {cpu: "1.5", memory: 1Gi}},
	      readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 3}}]}}}}`, ns)), &u.Object); err != nil {
		t.Fatal(err)
	}
	a, err := c.Apply(ctx, u, ApplyOptions{Owner: Owner{Stack: "test-stack", Namespace: ns, Node: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	rc, err := c.protoClient(gvk.GroupVersion())
	if err != nil {
		t.Fatal(err)
	}
	// The deployment controller writes the status meanwhile: compare one version read both ways.
	for try := 0; ; try++ {
		typed, err := rc.Get().Namespace(ns).Resource("deployments").Name("web").Do(ctx).Get()
		if err != nil {
			t.Fatal(err)
		}
		asJSON, err := c.Get(ctx, a.Ref)
		if err != nil {
			t.Fatal(err)
		}
		fromProto, err := toUnstructured(typed, gvk)
		if err != nil {
			t.Fatal(err)
		}
		if fromProto.GetResourceVersion() != asJSON.GetResourceVersion() {
			if try == 20 {
				t.Fatal("never read the same version both ways")
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if !reflect.DeepEqual(fromProto.Object, asJSON.Object) {
			p, _ := json.MarshalIndent(fromProto.Object, "", " ")
			j, _ := json.MarshalIndent(asJSON.Object, "", " ")
			t.Fatalf("protobuf, converted:\n%s\nJSON:\n%s", p, j)
		}
		return
	}
}
