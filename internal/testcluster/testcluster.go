// Package testcluster connects tests to the local control plane started by `make cluster-up`
// (hack/cluster.sh): a real kube-apiserver with controllers, a scheduler and kwok nodes.
//
// A test that needs the cluster calls Config or Client; when no cluster is reachable the test
// fails and says how to start one. It never skips.
package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeconfigEnv names the variable that points tests at a cluster; KUBECONFIG is the fallback.
const KubeconfigEnv = "AOS_TEST_KUBECONFIG"

const howTo = "run the tests with `make test`, which starts the local control plane, " +
	"or start it yourself with `make cluster-up && eval $(make cluster-env)` before `go test`"

var (
	once    sync.Once
	cfg     *rest.Config
	loadErr error
)

func load() (*rest.Config, error) {
	path := os.Getenv(KubeconfigEnv)
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if path == "" {
		return nil, fmt.Errorf("no test cluster: neither %s nor KUBECONFIG is set; %s", KubeconfigEnv, howTo)
	}
	c, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("test cluster: reading kubeconfig %s: %w; %s", path, err, howTo)
	}
	c.QPS, c.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("test cluster: client for %s: %w", c.Host, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return nil, fmt.Errorf("test cluster at %s (kubeconfig %s) is not answering /readyz: %w; %s", c.Host, path, err, howTo)
	}
	return c, nil
}

// Config returns a REST config for the local control plane, or fails the test.
func Config(t testing.TB) *rest.Config {
	t.Helper()
	once.Do(func() { cfg, loadErr = load() })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return rest.CopyConfig(cfg)
}

// Client returns a typed clientset for the local control plane, or fails the test.
func Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Namespace creates a fresh namespace for one test and deletes it when the test ends.
// Its name starts with prefix and ends with random hex, so parallel tests never collide.
func Namespace(t testing.TB, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(b))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"aos.dev/test": "true"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating test namespace %s: %v", name, err)
	}
	// Pods can be created only once the service-account controller has made the default account.
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("namespace %s: default service account never appeared (is kube-controller-manager running?): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting test namespace %s: %v", name, err)
		}
	})
	return name
}
