package kube

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Decoding a watch event of a Deployment from JSON into an Unstructured took about 150 µs of
// CPU (a 2.8 KB object, mostly reflection and maps); on a stack of 1,000 Deployments that
// was a third of AOS's CPU, as the deployment controller writes each one's status about four
// times before it is available. The same event as protobuf decodes into the typed object in
// about 7 µs, and most events only say that the rollout goes on: a typed rule (stillRolling)
// tells those apart, and only the others are converted to the Unstructured that Evaluate and
// the node's live values need (about 70 µs).
//
// So a kind is watched as protobuf when it has a rule here. A rule answers true only when
// Evaluate, with no conditions of the node's own, would certainly say WAITING: kstatus says
// InProgress and nothing could make it FAILED. When unsure it answers false, and the event is
// judged whole, as before. quick_internal_test.go checks each rule against Evaluate over a
// grid of objects, and reads an object of each kind both ways. StatefulSets have no rule:
// protobuf leaves out the apiVersion and kind of their volumeClaimTemplates, which JSON has,
// so the converted object would not be the one a reference reads.

// stillRolling holds, per kind, the rule that says an object of it is still in progress.
var stillRolling = map[schema.GroupVersionKind]func(runtime.Object) bool{
	appsv1.SchemeGroupVersion.WithKind("Deployment"): deploymentRolling,
	appsv1.SchemeGroupVersion.WithKind("DaemonSet"):  daemonSetRolling,
}

// quickScheme knows the typed kinds of stillRolling, and nothing else: what a protobuf watch
// of them needs to decode.
var quickScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := appsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

var quickCodecs = serializer.NewCodecFactory(quickScheme)

// generic is kstatus's checkGenericProperties as far as a rule may lean on it, on an object
// with the observed generation and conditions given (cond reads one): done says the rule must
// answer rolling; unsure that it must answer false (terminating, or a condition that may read
// as failed).
func generic[C any](m metav1.Object, observed int64, conds []C, cond func(C) (kind, status, reason string)) (done, unsure bool) {
	if m.GetDeletionTimestamp() != nil {
		return false, true
	}
	for _, c := range conds {
		kind, status, reason := cond(c)
		if reason == "ProgressDeadlineExceeded" || kind == "Stalled" && status == string(corev1.ConditionTrue) {
			return false, true
		}
	}
	return observed != 0 && observed != m.GetGeneration(), false
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1 // what the controllers take, and kstatus too
	}
	return *r
}

// deploymentRolling follows kstatus's rules for a Deployment (checkGenericProperties, then
// deploymentConditions) as far as they end in InProgress before any condition is read.
func deploymentRolling(o runtime.Object) bool {
	d, ok := o.(*appsv1.Deployment)
	if !ok {
		return false
	}
	done, unsure := generic(d, d.Status.ObservedGeneration, d.Status.Conditions, func(c appsv1.DeploymentCondition) (string, string, string) {
		return string(c.Type), string(c.Status), c.Reason
	})
	if done || unsure {
		return done
	}
	spec, st := replicas(d.Spec.Replicas), d.Status
	return spec > st.Replicas || spec > st.UpdatedReplicas || st.Replicas > spec ||
		st.UpdatedReplicas > st.AvailableReplicas || spec > st.ReadyReplicas
}

// daemonSetRolling follows kstatus's daemonsetConditions, which wants the observed
// generation set.
func daemonSetRolling(o runtime.Object) bool {
	d, ok := o.(*appsv1.DaemonSet)
	if !ok {
		return false
	}
	done, unsure := generic(d, d.Status.ObservedGeneration, d.Status.Conditions, func(c appsv1.DaemonSetCondition) (string, string, string) {
		return string(c.Type), string(c.Status), c.Reason
	})
	if done || unsure {
		return done
	}
	st := d.Status
	want := st.DesiredNumberScheduled
	return st.ObservedGeneration == 0 || want > st.CurrentNumberScheduled || want > st.UpdatedNumberScheduled ||
		want > st.NumberAvailable || want > st.NumberReady
}

// toUnstructured is a typed object of gvk as the dynamic client would have decoded it.
func toUnstructured(o runtime.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", gvk.Kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// protoClients are REST clients that speak protobuf, one per group and version.
type protoClients struct {
	mu sync.Mutex
	by map[schema.GroupVersion]rest.Interface
}

// protoClient is a REST client for gv that asks for protobuf and decodes into the typed kinds
// of quickScheme.
func (c *Client) protoClient(gv schema.GroupVersion) (rest.Interface, error) {
	c.proto.mu.Lock()
	defer c.proto.mu.Unlock()
	if rc, ok := c.proto.by[gv]; ok {
		return rc, nil
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	if gv.Group == "" {
		cfg.APIPath = "/api"
	}
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cfg.NegotiatedSerializer = quickCodecs.WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("protobuf client for %s: %w", gv, err)
	}
	if c.proto.by == nil {
		c.proto.by = map[schema.GroupVersion]rest.Interface{}
	}
	c.proto.by[gv] = rc
	return rc, nil
}

// quickWatch opens a protobuf watch of g's objects (of gvk, which has a rule in
// stillRolling).
func (c *Client) quickWatch(ctx context.Context, g Group, gvk schema.GroupVersionKind, o metav1.ListOptions) (watch.Interface, error) {
	rc, err := c.protoClient(gvk.GroupVersion())
	if err != nil {
		return nil, err
	}
	o.Watch = true
	return rc.Get().NamespaceIfScoped(g.Namespace, g.Namespace != "").Resource(g.GVR.Resource).
		VersionedParams(&o, metav1.ParameterCodec).Watch(ctx)
}
