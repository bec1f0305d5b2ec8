package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"
)

// kro (github.com/kubernetes-sigs/kro) is the Kubernetes SIG's resource-graph orchestrator: a
// ResourceGraphDefinition lists resources whose CEL references (${db.metadata.name}) are the
// dependencies, with readyWhen per resource; the controller serves a CRD per definition and
// reconciles each instance of it by walking the graph. Each shape is one definition, each
// run one instance.

var rgdGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}

// kroID is a node id as kro accepts it: lowerCamelCase letters and digits, and none of its
// reserved words ("root" is one): "l0-1" → "dl0x1".
func kroID(id string) string { return "d" + strings.ReplaceAll(id, "-", "x") }

// kroKind is the instance kind of a shape's definition ("lattice-5x10" → "BenchLattice5x10").
func kroKind(shape string) string {
	var b strings.Builder
	b.WriteString("Bench")
	up := true
	for _, r := range shape {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if up {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	return b.String()
}

// KroDefinition is the shape as a ResourceGraphDefinition: each Deployment names its
// dependencies in annotations through references, which is how kro learns the edges, and is
// ready when its replica is available.
func (s Shape) KroDefinition() (map[string]any, error) {
	levels := map[int]int{}
	for l, ids := range s.Levels() {
		for _, i := range ids {
			levels[i] = l
		}
	}
	var resources []any
	for i, n := range s.Nodes {
		var dep map[string]any
		if err := yaml.Unmarshal([]byte(deployment(n, levels[i])), &dep); err != nil {
			return nil, err
		}
		if len(n.Deps) > 0 {
			after := map[string]any{}
			for _, d := range n.Deps {
				after["aos-bench/after-"+d] = fmt.Sprintf("${%s.metadata.name}", kroID(d))
			}
			dep["metadata"].(map[string]any)["annotations"] = after
		}
		id := kroID(n.ID)
		resources = append(resources, map[string]any{
			"id":        id,
			"template":  dep,
			"readyWhen": []any{fmt.Sprintf("${has(%[1]s.status.availableReplicas) && %[1]s.status.availableReplicas >= 1}", id)},
		})
	}
	return map[string]any{
		"apiVersion": "kro.run/v1alpha1",
		"kind":       "ResourceGraphDefinition",
		"metadata":   map[string]any{"name": "bench-" + s.Name},
		"spec": map[string]any{
			"schema": map[string]any{
				"apiVersion": "v1alpha1",
				"kind":       kroKind(s.Name),
				"spec":       map[string]any{"note": "string | default=bench"},
			},
			"resources": resources,
		},
	}, nil
}

// startKro runs kro's controller against the cluster until stop is called. Its metrics and
// probe endpoints bind loopback ports next to each other (base, base+1).
func (b *bench) startKro(ctx context.Context) (stop func(), err error) {
	log, err := os.Create(filepath.Join(b.cfg.Work, "kro.log"))
	if err != nil {
		return nil, err
	}
	base := 18000 + os.Getpid()%1000*2
	cmd := exec.Command(b.cfg.Kro,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", base), fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", base+1),
		// The same client budget helm gets in this bench.
		"--client-qps=100", "--client-burst=200")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+b.cfg.Kubeconfig)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting kro (%s): %w", b.cfg.Kro, err)
	}
	b.logf("kro controller running (pid %d, log %s)", cmd.Process.Pid, log.Name())
	return func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
	}, nil
}

// defineKro creates the shape's definition and waits until kro serves its kind.
func (b *bench) defineKro(ctx context.Context, s Shape) (remove func(), err error) {
	def, err := s.KroDefinition()
	if err != nil {
		return nil, err
	}
	rgd := b.dyn.Resource(rgdGVR)
	name := def["metadata"].(map[string]any)["name"].(string)
	_ = rgd.Delete(ctx, name, metav1.DeleteOptions{}) // a previous bench's, stopped midway
	if _, err := rgd.Create(ctx, &unstructured.Unstructured{Object: def}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating ResourceGraphDefinition %s: %w", name, err)
	}
	remove = func() { _ = rgd.Delete(context.Background(), name, metav1.DeleteOptions{}) }
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := rgd.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last, _, _ = unstructured.NestedString(u.Object, "status", "state")
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if c, ok := c.(map[string]any); ok && c["type"] == "Ready" && c["status"] == "False" {
				last += ": " + fmt.Sprint(c["message"])
			}
		}
		return strings.HasPrefix(last, "Active"), nil
	})
	if err != nil {
		remove()
		return nil, fmt.Errorf("ResourceGraphDefinition %s: state %q after 2 minutes (kro's log: %s): %w", name, last, filepath.Join(b.cfg.Work, "kro.log"), err)
	}
	return remove, nil
}

// kro creates the namespace and one instance of the shape's definition in it, and times it
// to every Deployment available, as kubectl's wait sees it.
func (b *bench) kro(ctx context.Context, s Shape, ns string) (Run, error) {
	// The namespace is part of the run, as kubectl's `create namespace` is of its.
	start := time.Now()
	if _, err := b.cs.CoreV1().Namespaces().Create(ctx, nsObject(ns), metav1.CreateOptions{}); err != nil {
		return Run{}, err
	}
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: strings.ToLower(kroKind(s.Name)) + "s"}
	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": kroKind(s.Name),
		"metadata": map[string]any{"name": "bench", "namespace": ns}, "spec": map[string]any{},
	}}
	if _, err := b.dyn.Resource(gvr).Namespace(ns).Create(ctx, inst, metav1.CreateOptions{}); err != nil {
		return Run{}, fmt.Errorf("creating the %s instance: %w", kroKind(s.Name), err)
	}
	ready := 0
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := b.cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready = 0
		for _, d := range list.Items {
			if d.Status.AvailableReplicas >= 1 {
				ready++
			}
		}
		return ready == len(s.Nodes), nil
	})
	took := time.Since(start)
	if err != nil {
		return Run{}, fmt.Errorf("%d of %d Deployments available after %s (kro's log: %s): %w", ready, len(s.Nodes), took.Round(time.Second), filepath.Join(b.cfg.Work, "kro.log"), err)
	}
	// kro deletes an instance's resources itself, in reverse order; the namespace goes after.
	_ = b.dyn.Resource(gvr).Namespace(ns).Delete(ctx, "bench", metav1.DeleteOptions{})
	return Run{Seconds: took.Seconds()}, nil
}

func nsObject(ns string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
}
