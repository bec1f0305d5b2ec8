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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/aos-project/aos/internal/testcluster"
)

// grids are, per kind with a rule, objects over everything kstatus reads of the kind; a rule
// without a grid fails TestRollingOnlyWhereEvaluateWaits.
var grids = map[schema.GroupVersionKind]func(yield func(runtime.Object)){
	appsv1.SchemeGroupVersion.WithKind("Deployment"): func(yield func(runtime.Object)) {
		conds := [][]appsv1.DeploymentCondition{
			nil,
			{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}},
			{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"}},
			{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}},
			{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable"}},
			{{Type: "Stalled", Status: corev1.ConditionTrue, Reason: "Stuck"}},
			{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate"}},
			{{Type: "Reconciling", Status: corev1.ConditionTrue, Reason: "Busy"}},
		}
		for _, m := range metas() {
			for _, deadline := range []*int32{nil, ptr(int32(600))} {
				for _, observed := range []int64{0, 1, 2} {
					for _, spec := range specs() {
						for _, cs := range conds {
							counts(4, func(c []int32) {
								yield(&appsv1.Deployment{ObjectMeta: m,
									Spec: appsv1.DeploymentSpec{Replicas: spec, ProgressDeadlineSeconds: deadline},
									Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: c[0], UpdatedReplicas: c[1],
										ReadyReplicas: c[2], AvailableReplicas: c[3], Conditions: cs}})
							})
						}
					}
				}
			}
		}
	},
	appsv1.SchemeGroupVersion.WithKind("DaemonSet"): func(yield func(runtime.Object)) {
		conds := [][]appsv1.DaemonSetCondition{nil, {{Type: "Stalled", Status: corev1.ConditionTrue}}}
		for _, m := range metas() {
			for _, observed := range []int64{0, 1, 2} {
				for _, cs := range conds {
					counts(5, func(c []int32) {
						yield(&appsv1.DaemonSet{ObjectMeta: m,
							Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: c[0], CurrentNumberScheduled: c[1],
								UpdatedNumberScheduled: c[2], NumberAvailable: c[3], NumberReady: c[4], Conditions: cs}})
					})
				}
			}
		}
	},
}

// metas: generations 1 and 2, each also being deleted.
func metas() []metav1.ObjectMeta {
	var out []metav1.ObjectMeta
	for _, gen := range []int64{1, 2} {
		m := metav1.ObjectMeta{Name: "x", Namespace: "ns", Generation: gen, ResourceVersion: "7"}
		out = append(out, m)
		m.DeletionTimestamp = &metav1.Time{}
		out = append(out, m)
	}
	return out
}

func specs() []*int32 { return []*int32{nil, ptr(int32(0)), ptr(int32(1)), ptr(int32(3))} }

// counts calls f with every n counts of 0, 1 and 3.
func counts(n int, f func([]int32)) {
	c := make([]int32, n)
	var walk func(int)
	walk = func(i int) {
		if i == n {
			f(c)
			return
		}
		for _, v := range []int32{0, 1, 3} {
			c[i] = v
			walk(i + 1)
		}
	}
	walk(0)
}

// A rule of stillRolling may only say "rolling" where Evaluate, on the same object as the
// watch hands it on, says WAITING: otherwise a watch would pass over the change that makes a
// node READY or FAILED. Every object of each kind's grid is judged both ways.
func TestRollingOnlyWhereEvaluateWaits(t *testing.T) {
	for gvk, rule := range stillRolling {
		t.Run(gvk.Kind, func(t *testing.T) {
			grid := grids[gvk]
			if grid == nil {
				t.Fatalf("no grid for %s: every rule is checked against Evaluate", gvk)
			}
			var rolling, judged int
			grid(func(o runtime.Object) {
				u, err := toUnstructured(o, gvk)
				if err != nil {
					t.Fatal(err)
				}
				judged++
				if !rule(o) {
					return
				}
				rolling++
				if r := Evaluate(u, nil); r.Phase != PhaseWaiting {
					j, _ := json.Marshal(u.Object)
					t.Fatalf("rolling, but Evaluate says %s (%s: %s): %s", r.Phase, r.Reason, r.Message, j)
				}
			})
			// A rule that never says "rolling" would pass the above and save nothing.
			if rolling < judged/5 {
				t.Fatalf("rolling for %d of %d: the rule passes over too little to pay", rolling, judged)
			}
			t.Logf("rolling for %d of %d", rolling, judged)
		})
	}
}

func TestAnObjectTheControllerHasNotSeenIsRolling(t *testing.T) {
	m := metav1.ObjectMeta{Generation: 1}
	for _, o := range []runtime.Object{&appsv1.Deployment{ObjectMeta: m}, &appsv1.DaemonSet{ObjectMeta: m}} {
		gvk := appsv1.SchemeGroupVersion.WithKind(reflect.TypeOf(o).Elem().Name())
		if !stillRolling[gvk](o) {
			t.Errorf("a %s the controller has not yet seen is not rolling", gvk.Kind)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// manifests are one object of each kind with a rule, with the fields whose encodings differ
// most between protobuf and JSON (quantities, int-or-strings, times, maps).
var manifests = map[string]string{
	"Deployment": `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: %[1]s, labels: {a: b}, annotations: {x: "1"}},
	  spec: {replicas: 2, strategy: {rollingUpdate: {maxSurge: "25%%", maxUnavailable: 1}}, selector: {matchLabels: {app: web}},
	    template: {metadata: {labels: {app: web}}, spec: %[2]s}}}`,
	"DaemonSet": `{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: agent, namespace: %[1]s},
	  spec: {selector: {matchLabels: {app: agent}}, updateStrategy: {rollingUpdate: {maxUnavailable: "10%%"}},
	    template: {metadata: {labels: {app: agent}}, spec: %[2]s}}}`,
}

const podSpec = `{containers: [{name: c, image: x, ports: [{containerPort: 8080, name: http}],
	env: [{name: A, value: "1"}], resources: {requests: {cpu: 500m, memory: 64Mi}, limits: {cpu: "1.5", memory: 1Gi}},
	readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 3}}]}`

// What a protobuf watch hands on must be the object the dynamic client would have decoded
// from JSON: Evaluate judges it, and a node's live values (references, outputs) are read
// from it. One object of each kind with a rule, read both ways at the same version.
func TestProtobufReadsAsJSONDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := New(testcluster.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-proto")
	for gvk := range stillRolling {
		m := manifests[gvk.Kind]
		if m == "" {
			t.Fatalf("no manifest for %s: every kind watched as protobuf is read both ways", gvk)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(fmt.Sprintf(m, ns, podSpec)), &u.Object); err != nil {
			t.Fatal(err)
		}
		a, err := c.Apply(ctx, u, ApplyOptions{Owner: Owner{Stack: "test-stack", Namespace: ns, Node: u.GetName()}})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.protoClient(gvk.GroupVersion())
		if err != nil {
			t.Fatal(err)
		}
		// The controllers write the status meanwhile: compare one version read both ways.
		for try := 0; ; try++ {
			typed, err := rc.Get().Namespace(ns).Resource(a.Ref.GVR.Resource).Name(u.GetName()).Do(ctx).Get()
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
					t.Fatalf("%s: never read the same version both ways", gvk.Kind)
				}
				time.Sleep(200 * time.Millisecond)
				continue
			}
			if !reflect.DeepEqual(fromProto.Object, asJSON.Object) {
				p, _ := json.MarshalIndent(fromProto.Object, "", " ")
				j, _ := json.MarshalIndent(asJSON.Object, "", " ")
				t.Fatalf("%s: protobuf, converted:\n%s\nJSON:\n%s", gvk.Kind, p, j)
			}
			break
		}
	}
}
