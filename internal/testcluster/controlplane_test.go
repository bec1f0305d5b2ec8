package testcluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/aos-project/aos/internal/testcluster"
)

const readyDelayAnnotation = "pod-ready.stage.kwok.x-k8s.io/delay"

// eventually polls cond every 50 ms until it holds or the timeout passes, then fails with what
// was last seen, so a failure says how far the cluster got.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ok, seen, err := cond(ctx)
		last = seen
		return ok, err
	})
	if err != nil {
		t.Fatalf("%s: not reached within %s (last seen: %s): %v", what, timeout, last, err)
	}
}

func podTemplate(app string, annotations map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "registry.example/app:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, nil),
		},
	}
}

func TestDeploymentReachesAvailableReplicas(t *testing.T) {
	t.Parallel()
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "cp-deploy")
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "deployment web with 3 available replicas", func(ctx context.Context) (bool, string, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return d.Status.AvailableReplicas == 3, fmt.Sprintf("%d available", d.Status.AvailableReplicas), nil
	})
}

func TestJobCompletes(t *testing.T) {
	t.Parallel()
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "cp-job")
	ctx := context.Background()
	tpl := podTemplate("migrate", nil)
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate"}, Spec: batchv1.JobSpec{Template: tpl}}
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "job migrate Complete", func(ctx context.Context) (bool, string, error) {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "migrate", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return false, "", fmt.Errorf("job failed: %s: %s", c.Reason, c.Message)
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, "Complete", nil
			}
		}
		return false, fmt.Sprintf("succeeded=%d active=%d", j.Status.Succeeded, j.Status.Active), nil
	})
}

func TestServiceGetsReadyEndpoints(t *testing.T) {
	t.Parallel()
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "cp-svc")
	ctx := context.Background()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("api", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "api"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	created, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Spec.ClusterIP == "" {
		t.Fatalf("service api was given no clusterIP")
	}
	eventually(t, 60*time.Second, "EndpointSlice of service api with 3 ready addresses", func(ctx context.Context) (bool, string, error) {
		slices, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=api"})
		if err != nil {
			return false, "", err
		}
		ready := 0
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready && len(e.Addresses) > 0 {
					ready++
				}
			}
		}
		return ready == 3, fmt.Sprintf("%d slice(s), %d ready endpoint(s)", len(slices.Items), ready), nil
	})
}

func TestPodHonoursReadinessDelay(t *testing.T) {
	t.Parallel()
	cs := testcluster.Client(t)
	ns := testcluster.Namespace(t, cs, "cp-delay")
	ctx := context.Background()
	tpl := podTemplate("slow", map[string]string{readyDelayAnnotation: "3s"})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "slow", Labels: tpl.Labels, Annotations: tpl.Annotations}, Spec: tpl.Spec}
	start := time.Now()
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "pod slow Ready", func(ctx context.Context) (bool, string, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "slow", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return podReady(p), string(p.Status.Phase), nil
	})
	took := time.Since(start)
	t.Logf("pod with a 3s readiness delay became Ready %v after creation", took.Round(time.Millisecond))
	if took < 3*time.Second || took > 6*time.Second {
		t.Fatalf("pod became Ready %v after creation; want between 3s and 6s", took)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestNamespaceDeletionRemovesObjects(t *testing.T) {
	t.Parallel()
	cs := testcluster.Client(t)
	ctx := context.Background()
	// Not testcluster.Namespace: this test deletes the namespace itself and waits for it.
	ns := "cp-nsdel-" + fmt.Sprint(time.Now().UnixNano())
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	eventually(t, 30*time.Second, "default service account in "+ns, func(ctx context.Context) (bool, string, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, "", client404(err)
	})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("worker", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "2 running pods in "+ns, func(ctx context.Context) (bool, string, error) {
		n, err := runningPods(ctx, cs, ns)
		return n == 2, fmt.Sprintf("%d running", n), err
	})

	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "namespace "+ns+" gone", func(ctx context.Context) (bool, string, error) {
		got, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "gone", nil
		}
		if err != nil {
			return false, "", err
		}
		return false, string(got.Status.Phase), nil
	})
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("configmap settings after namespace deletion: want NotFound, got %v", err)
	}
	if n, err := runningPods(ctx, cs, ns); err != nil || n != 0 {
		t.Fatalf("pods after namespace deletion: %d (err %v), want 0", n, err)
	}
}

func client404(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func runningPods(ctx context.Context, cs kubernetes.Interface, ns string) (int, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			n++
		}
	}
	return n, nil
}
