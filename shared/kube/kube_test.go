package kube_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/refs"
)

const readyDelay = "pod-ready.stage.kwok.x-k8s.io/delay"

func client(t *testing.T) *kube.Client {
	t.Helper()
	c, err := kube.New(testcluster.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func obj(t *testing.T, y string, args ...any) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(y, args...)), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v\n%s", err, y)
	}
	return u
}

func owner(ns, node string) kube.ApplyOptions {
	return kube.ApplyOptions{Owner: kube.Owner{Stack: "test-stack", Namespace: ns, Node: node}}
}

func apply(t *testing.T, c *kube.Client, u *unstructured.Unstructured, o kube.ApplyOptions) *kube.Applied {
	t.Helper()
	a, err := c.Apply(context.Background(), u, o)
	if err != nil {
		t.Fatalf("apply %s: %v", u.GetName(), err)
	}
	return a
}

// waitPhase polls the live object until it reaches want (or FAILED, or the timeout).
func waitPhase(t *testing.T, c *kube.Client, ref kube.Ref, conds []kube.Condition, want kube.Phase, timeout time.Duration) (kube.Readiness, *unstructured.Unstructured) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var r kube.Readiness
	for {
		u, err := c.Get(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		r = kube.Evaluate(u, conds)
		if r.Phase == want || r.Phase == kube.PhaseFailed || time.Now().After(deadline) {
			if r.Phase != want {
				t.Fatalf("%s: phase %s (%s: %s), want %s within %v", ref, r.Phase, r.Reason, r.Message, want, timeout)
			}
			return r, u
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKindsBecomeReady(t *testing.T) {
	t.Parallel()
	c := client(t)
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "kube-kinds")
	pv := "aos-test-pv-" + ns
	t.Cleanup(func() { _ = cs.CoreV1().PersistentVolumes().Delete(context.Background(), pv, metav1.DeleteOptions{}) })
	cases := map[string]string{
		"configmap":   `{apiVersion: v1, kind: ConfigMap, metadata: {name: cm}, data: {a: b}}`,
		"secret":      `{apiVersion: v1, kind: Secret, metadata: {name: s}, stringData: {password: x}}`,
		"namespace":   `{apiVersion: v1, kind: Namespace, metadata: {name: ` + ns + `-extra}}`,
		"deployment":  `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {replicas: 2, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: x}]}}}}`,
		"statefulset": `{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: kv}, spec: {serviceName: kv, replicas: 2, selector: {matchLabels: {app: kv}}, template: {metadata: {labels: {app: kv}}, spec: {containers: [{name: c, image: x}]}}}}`,
		"daemonset":   `{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: agent}, spec: {selector: {matchLabels: {app: agent}}, template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: c, image: x}]}}}}`,
		"job":         `{apiVersion: batch/v1, kind: Job, metadata: {name: once}, spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: x}]}}}}`,
		"cronjob":     `{apiVersion: batch/v1, kind: CronJob, metadata: {name: nightly}, spec: {schedule: "0 2 * * *", jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: x}]}}}}}}`,
		"service":     `{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {selector: {app: web}, ports: [{port: 80}]}}`,
		"ingress":     `{apiVersion: networking.k8s.io/v1, kind: Ingress, metadata: {name: web}, spec: {rules: [{host: a.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]}}`,
		"pv":          `{apiVersion: v1, kind: PersistentVolume, metadata: {name: ` + pv + `}, spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], storageClassName: "", hostPath: {path: /tmp/aos}, claimRef: {namespace: ` + ns + `, name: data}}}`,
		"pvc":         `{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: data}, spec: {accessModes: [ReadWriteOnce], storageClassName: "", volumeName: ` + pv + `, resources: {requests: {storage: 1Gi}}}}`,
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns+"-extra", metav1.DeleteOptions{}) })
	for name, y := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := apply(t, c, obj(t, "%s", y), owner(ns, name))
			if !a.Created || a.Ref.UID == "" {
				t.Fatalf("applied %+v", a.Ref)
			}
			r, live := waitPhase(t, c, a.Ref, nil, kube.PhaseReady, 60*time.Second)
			if live.GetLabels()[kube.LabelManagedBy] != "aos" || live.GetAnnotations()[kube.AnnotationNode] != name {
				t.Fatalf("ownership marks missing: %v %v", live.GetLabels(), live.GetAnnotations())
			}
			t.Logf("%s READY: %s", a.Ref, r.Message)
			if name == "pvc" {
				if phase, _, _ := unstructured.NestedString(live.Object, "status", "phase"); phase != "Bound" {
					t.Fatalf("pvc phase %s, want Bound", phase)
				}
			}
		})
	}
}

func TestNodePortFlowsToDependent(t *testing.T) {
	t.Parallel()
	c := client(t)
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-nodeport")
	svc := apply(t, c, obj(t, `{apiVersion: v1, kind: Service, metadata: {name: db}, spec: {type: NodePort, selector: {app: db}, ports: [{port: 5432}]}}`), owner(ns, "db-svc"))
	_, live := waitPhase(t, c, svc.Ref, nil, kube.PhaseReady, 30*time.Second)
	// The engine resolves ${nodes.db-svc...} against the captured live object, exactly so:
	e, err := refs.Parse("${nodes.db-svc.spec.ports[0].nodePort}")
	if err != nil {
		t.Fatal(err)
	}
	values := kube.Live(live)
	port, err := refs.Render(e, func(r *refs.Ref) (any, error) { return refs.Get(values, r.Path) })
	if err != nil {
		t.Fatal(err)
	}
	n, ok := port.(int64)
	if !ok || n < 30000 || n > 32767 {
		t.Fatalf("nodePort = %#v, want an allocated port", port)
	}
	if _, ok := values["metadata"].(map[string]any)["managedFields"]; ok {
		t.Fatal("live values keep managedFields")
	}
	dep := obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: app}, spec: {replicas: 1, selector: {matchLabels: {app: app}},
		template: {metadata: {labels: {app: app}}, spec: {containers: [{name: c, image: x, env: [{name: DB_PORT, value: "%d"}]}]}}}}`, n)
	a := apply(t, c, dep, owner(ns, "app"))
	_, got := waitPhase(t, c, a.Ref, nil, kube.PhaseReady, 30*time.Second)
	env, _, _ := unstructured.NestedSlice(got.Object, "spec", "template", "spec", "containers")
	if !strings.Contains(fmt.Sprint(env), fmt.Sprint(n)) {
		t.Fatalf("dependent's env %v lacks nodePort %d", env, n)
	}
}

func TestJobFailureIsFailedWithReason(t *testing.T) {
	t.Parallel()
	c := client(t)
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-jobfail")
	// The pod cannot become ready before the Job's deadline, so the Job controller fails it.
	a := apply(t, c, obj(t, `{apiVersion: batch/v1, kind: Job, metadata: {name: late}, spec: {activeDeadlineSeconds: 1, backoffLimit: 0,
		template: {metadata: {annotations: {%q: "60s"}}, spec: {restartPolicy: Never, containers: [{name: c, image: x}]}}}}`, readyDelay), owner(ns, "late"))
	r, _ := waitPhase(t, c, a.Ref, nil, kube.PhaseFailed, 30*time.Second)
	if r.Reason != "DeadlineExceeded" || !strings.Contains(r.Message, "the Job failed") {
		t.Fatalf("failed job readiness = %+v", r)
	}
}

func TestDeploymentPastProgressDeadlineFails(t *testing.T) {
	t.Parallel()
	c := client(t)
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-deadline")
	a := apply(t, c, obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: slow}, spec: {progressDeadlineSeconds: 1, replicas: 1,
		selector: {matchLabels: {app: slow}}, template: {metadata: {labels: {app: slow}, annotations: {%q: "120s"}}, spec: {containers: [{name: c, image: x}]}}}}`, readyDelay), owner(ns, "slow"))
	r, _ := waitPhase(t, c, a.Ref, nil, kube.PhaseFailed, 60*time.Second)
	if r.Reason != "ProgressDeadlineExceeded" {
		t.Fatalf("readiness = %+v", r)
	}
}

func TestCRDAndCustomResourceInOneSession(t *testing.T) {
	t.Parallel()
	c := client(t)
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "kube-crd")
	group := strings.ReplaceAll(ns, "-", "") + ".aos.dev"
	crd := apply(t, c, obj(t, `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: backups.%s},
		spec: {group: %s, scope: Namespaced, names: {plural: backups, singular: backup, kind: Backup},
		versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]}}`, group, group), owner(ns, "crd"))
	t.Cleanup(func() {
		_ = c.Delete(context.Background(), crd.Ref, owner(ns, "crd").Owner)
	})
	waitPhase(t, c, crd.Ref, nil, kube.PhaseReady, 30*time.Second)
	// The same client has never seen the kind: applying it must refresh discovery.
	cr := apply(t, c, obj(t, `{apiVersion: %s/v1, kind: Backup, metadata: {name: nightly}, spec: {retentionDays: 7}}`, group), owner(ns, "cr"))
	conds := []kube.Condition{{Path: mustPath(t, ".spec.retentionDays"), Op: ">=", Value: int64(1)}}
	waitPhase(t, c, cr.Ref, conds, kube.PhaseReady, 10*time.Second)

	_, err := c.Apply(context.Background(), obj(t, `{apiVersion: nowhere.aos.dev/v1, kind: Ghost, metadata: {name: g}}`), owner(ns, "ghost"))
	if !kube.IsUnknownKind(err) || !strings.Contains(err.Error(), `does not serve kind "Ghost"`) {
		t.Fatalf("unknown kind: %v", err)
	}
}

func mustPath(t *testing.T, s string) refs.Path {
	p, err := refs.ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCustomConditions(t *testing.T) {
	t.Parallel()
	c := client(t)
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "kube-conds")
	a := apply(t, c, obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: gate}, data: {state: pending}}`), owner(ns, "gate"))
	conds := []kube.Condition{
		{Path: mustPath(t, ".data.state"), Op: "in", Value: []any{"open", "ajar"}},
		{Path: mustPath(t, ".metadata.labels.missing"), Op: "notExists"},
	}
	u, _ := c.Get(context.Background(), a.Ref)
	if r := kube.Evaluate(u, conds); r.Phase != kube.PhaseWaiting || !strings.Contains(r.Message, "now pending") {
		t.Fatalf("before: %+v", r)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Patch(context.Background(), "gate", types.MergePatchType, []byte(`{"data":{"state":"open"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, c, a.Ref, conds, kube.PhaseReady, 10*time.Second)
}

func TestLoadBalancerWaitsForIngress(t *testing.T) {
	t.Parallel()
	c := client(t)
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "kube-lb")
	a := apply(t, c, obj(t, `{apiVersion: v1, kind: Service, metadata: {name: edge}, spec: {type: LoadBalancer, selector: {app: edge}, ports: [{port: 443}]}}`), owner(ns, "edge"))
	u, _ := c.Get(context.Background(), a.Ref)
	if r := kube.Evaluate(u, nil); r.Phase != kube.PhaseWaiting || r.Reason != "NoIngress" {
		t.Fatalf("LB without address: %+v", r)
	}
	// No cloud here: play the load-balancer controller.
	svc, err := cs.CoreV1().Services(ns).Get(context.Background(), "edge", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}
	if _, err := cs.CoreV1().Services(ns).UpdateStatus(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, live := waitPhase(t, c, a.Ref, nil, kube.PhaseReady, 10*time.Second)
	if ip, _ := refs.Get(kube.Live(live), mustPath(t, ".status.loadBalancer.ingress[0].ip")); ip != "203.0.113.7" {
		t.Fatalf("ingress ip = %v", ip)
	}
}

func TestOwnershipRefusalAndAdopt(t *testing.T) {
	t.Parallel()
	c := client(t)
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "kube-owner")
	ctx := context.Background()
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}, Data: map[string]string{"k": "old"}},
		metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
	cm := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: legacy}, data: {k: new}}`)
	_, err := c.Apply(ctx, cm, owner(ns, "legacy"))
	if !kube.IsOwnership(err) || !strings.Contains(err.Error(), "is not managed by AOS (field managers: kubectl-create)") || !strings.Contains(err.Error(), "adopt: true") {
		t.Fatalf("unmanaged object: %v", err)
	}
	got, _ := cs.CoreV1().ConfigMaps(ns).Get(ctx, "legacy", metav1.GetOptions{})
	if got.Data["k"] != "old" {
		t.Fatal("a refused apply changed the object")
	}
	o := owner(ns, "legacy")
	o.Adopt = true
	a := apply(t, c, cm, o)
	if !a.Adopted || a.Object.GetLabels()[kube.LabelStack] != "test-stack" {
		t.Fatalf("adopt: %+v", a)
	}
	// Another stack may not take it, and a second node of this stack may not either.
	other := owner(ns, "legacy")
	other.Stack = "other-stack"
	if _, err := c.Apply(ctx, cm, other); !kube.IsOwnership(err) || !strings.Contains(err.Error(), `belongs to stack "test-stack"`) {
		t.Fatalf("other stack: %v", err)
	}
	if _, err := c.Apply(ctx, cm, owner(ns, "second")); !kube.IsOwnership(err) || !strings.Contains(err.Error(), `belongs to node "legacy" of this stack`) {
		t.Fatalf("other node: %v", err)
	}
	// Re-applying as the owner is an ordinary update.
	if a := apply(t, c, cm, owner(ns, "legacy")); a.Created || a.Adopted {
		t.Fatalf("owner re-apply: %+v", a)
	}
}

func TestImmutableChangeWithAndWithoutReplace(t *testing.T) {
	t.Parallel()
	c := client(t)
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-immutable")
	job := `{apiVersion: batch/v1, kind: Job, metadata: {name: migrate}, spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: %s}]}}}}`
	first := apply(t, c, obj(t, job, "v1"), owner(ns, "migrate"))
	waitPhase(t, c, first.Ref, nil, kube.PhaseReady, 30*time.Second)

	_, err := c.Apply(context.Background(), obj(t, job, "v2"), owner(ns, "migrate"))
	if !kube.IsImmutable(err) || !strings.Contains(err.Error(), "field is immutable") || !strings.Contains(err.Error(), "replace: true") {
		t.Fatalf("immutable change without replace: %v", err)
	}
	o := owner(ns, "migrate")
	o.Replace = true
	second := apply(t, c, obj(t, job, "v2"), o)
	if !second.Replaced || second.Ref.UID == first.Ref.UID {
		t.Fatalf("replace: replaced=%v uid %s -> %s", second.Replaced, first.Ref.UID, second.Ref.UID)
	}
	waitPhase(t, c, second.Ref, nil, kube.PhaseReady, 30*time.Second)
}

func TestDeleteWaitsForFinalizers(t *testing.T) {
	t.Parallel()
	c := client(t)
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "kube-finalizer")
	a := apply(t, c, obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: held, finalizers: [aos.dev/test-hold]}}`), owner(ns, "held"))
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- c.Delete(ctx, a.Ref, owner(ns, "held").Owner)
	}()
	select {
	case err := <-done:
		t.Fatalf("Delete returned (%v) while a finalizer still held the object", err)
	case <-time.After(700 * time.Millisecond):
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Patch(context.Background(), "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Delete: %v", err)
	}
	t.Logf("delete waited %v for the finalizer", time.Since(start).Round(time.Millisecond))
	if u, err := c.Get(context.Background(), a.Ref); err != nil || u != nil {
		t.Fatalf("after delete: %v %v", u, err)
	}
	// Deleting what is already gone is success.
	if err := c.Delete(context.Background(), a.Ref, owner(ns, "held").Owner); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestInvalidObjectFailsAtOnceWithServerMessage(t *testing.T) {
	t.Parallel()
	c := client(t)
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-invalid")
	start := time.Now()
	_, err := c.Apply(context.Background(), obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: broken}, spec: {template: {spec: {containers: [{name: c, image: x}]}}}}`), owner(ns, "broken"))
	if err == nil || !strings.Contains(err.Error(), "spec.selector: Required value") {
		t.Fatalf("invalid deployment: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("an invalid object took %v to fail; it must not be retried", took)
	}
	var ok bool
	for e := err; e != nil; e = errors.Unwrap(e) {
		ok = ok || strings.Contains(fmt.Sprintf("%T", e), "StatusError")
	}
	if !ok {
		t.Fatalf("the API server's error is not kept in the chain: %T", err)
	}
}

// ListStack finds a stack's objects by its label, with their kind set (check-ready matches
// them to nodes by name and kind), and nothing of another stack.
func TestListStack(t *testing.T) {
	c := client(t)
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-list")
	for i := range 3 {
		apply(t, c, obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: cm%d, namespace: %s}}`, i, ns), owner(ns, fmt.Sprint("n", i)))
	}
	other := owner(ns, "x")
	other.Stack = "another-stack"
	other2 := apply(t, c, obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: theirs, namespace: %s}}`, ns), other)
	got, rv, err := c.ListStack(context.Background(), other2.Ref.GVR, ns, "test-stack")
	if err != nil || rv == "" {
		t.Fatal(err, rv)
	}
	if cur, err := c.CurrentVersion(context.Background(), other2.Ref.GVR, ns, "test-stack"); err != nil || cur == "" {
		t.Fatalf("CurrentVersion: %q %v", cur, err)
	}
	if len(got) != 3 || got["cm1"] == nil || got["cm1"].GetKind() != "ConfigMap" || got["theirs"] != nil {
		t.Fatalf("ListStack: %d objects, cm1 kind %q", len(got), got["cm1"].GetKind())
	}
}

// GoneAll answers per object whether it is gone: with a LIST where a resource has several
// objects in a namespace, a GET where it has one; an object recreated under the same name
// (another UID) is gone, and one someone unlabelled is not.
func TestGoneAll(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "kube-gone")
	var refs []kube.Ref
	for i := range 4 {
		refs = append(refs, apply(t, c, obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: cm%d, namespace: %s}}`, i, ns), owner(ns, fmt.Sprint("n", i))).Ref)
	}
	refs = append(refs, apply(t, c, obj(t, `{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: %s}}`, ns), owner(ns, "s")).Ref)
	// cm0 deleted; cm1 deleted and created again; cm2 loses the stack's label; s deleted (a GET).
	for _, name := range []string{"cm0", "cm1"} {
		if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, "cm2", types.MergePatchType, []byte(`{"metadata":{"labels":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Secrets(ns).Delete(ctx, "s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GoneAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false, false, true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GoneAll(cm0 deleted, cm1 recreated, cm2 unlabelled, cm3, s deleted) = %v, want %v", got, want)
	}
}
