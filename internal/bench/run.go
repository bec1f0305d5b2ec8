package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aos-project/aos/internal/gen"
	"github.com/aos-project/aos/shared/engine"
)

// Config says what to run and where.
type Config struct {
	Kubeconfig         string
	AOS, Kubectl, Helm string // binaries
	// Kro is kro's controller binary and KroCRDs the folder of its CRDs (its module's
	// helm/crds); empty leaves kro out.
	Kro, KroCRDs string
	Runs         int // runs per shape and tool (medians are reported)
	Shapes       []Shape
	ScaleShape   *Shape // aos up only; nil skips it
	ScaleRuns    int
	// ConfigMapSizes are the sizes of the ConfigMap stacks of the cost-per-node scale row.
	ConfigMapSizes  []int
	PlanNodes       int // validate + plan of a generated template of this many nodes; 0 skips it
	Work            string
	Log             io.Writer
	SkipPeers       bool
	CalibrationRuns int
}

// Run is one deployment of a shape by one tool.
type Run struct {
	Seconds float64 `json:"seconds"`
	// AOS only:
	CPUSeconds  float64          `json:"cpuSeconds,omitempty"`
	MaxRSSMiB   float64          `json:"maxRssMiB,omitempty"`
	Transitions int64            `json:"stateTransitions,omitempty"`
	Invocations map[string]int64 `json:"invocations,omitempty"`
	StoreReads  int64            `json:"storeReads,omitempty"`
	StoreWrites int64            `json:"storeWrites,omitempty"`
	// ObservedPath is the critical path with each node's apply-to-ready time as this run saw
	// it (from its events): what the cluster, loaded by the whole stack, allowed. Makespan
	// over it is AOS's own scheduling overhead.
	ObservedPath float64 `json:"observedCriticalPathSeconds,omitempty"`
	// Gap is the median, over nodes with dependencies, of the time from the last dependency
	// seen READY to the start of the node's own apply (the node records' readyAt and
	// appliedAt): the idle time between a dependency's readiness and its dependent's start.
	Gap float64 `json:"readyToAppliedSeconds,omitempty"`
	// GapP90 is the 90th percentile of the same: the wait of the unlucky nodes.
	GapP90 float64 `json:"readyToAppliedP90Seconds,omitempty"`
}

// ShapeResult is every tool's runs of one shape, and the shape's critical path.
type ShapeResult struct {
	Shape        string           `json:"shape"`
	About        string           `json:"about"`
	Nodes        int              `json:"nodes"`
	Levels       int              `json:"levels"`
	CriticalPath float64          `json:"criticalPathSeconds"`
	WaveBound    float64          `json:"waveBoundSeconds"`
	Runs         map[string][]Run `json:"runs"` // by tool: aos, kubectl, helm
}

// Results is what one make bench measured.
type Results struct {
	Date        time.Time          `json:"date"`
	Host        string             `json:"host"`
	CPUs        int                `json:"cpus"`
	Calibration map[string]float64 `json:"calibrationSeconds"` // pod delay -> apply-to-ready
	Shapes      []ShapeResult      `json:"shapes"`
	Scale       *ShapeResult       `json:"scale,omitempty"`
	ConfigMaps  []ScaleRow         `json:"configMapScale,omitempty"`
	PlanNodes   int                `json:"validatePlanNodes,omitempty"`
	Plan        []float64          `json:"validatePlanSeconds,omitempty"`
	PlanJSON    []float64          `json:"validatePlanJSONSeconds,omitempty"`
}

type bench struct {
	cfg Config
	cs  *kubernetes.Clientset
	dyn *dynamic.DynamicClient
	cal map[time.Duration]time.Duration
	seq int
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.cfg.Log, "[bench] "+format+"\n", args...)
}

// Measure runs everything Config asks for.
func Measure(ctx context.Context, cfg Config) (*Results, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rc.QPS, rc.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, cs: cs, dyn: dyn}
	res := &Results{Date: time.Now().UTC(), Host: host, CPUs: runtime.NumCPU(), Calibration: map[string]float64{}}

	delays := map[time.Duration]bool{}
	all := slices.Clone(cfg.Shapes)
	if cfg.ScaleShape != nil {
		all = append(all, *cfg.ScaleShape)
	}
	for _, s := range all {
		for _, n := range s.Nodes {
			delays[n.Delay] = true
		}
	}
	if err := b.calibrate(ctx, delays); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	for d, t := range b.cal {
		res.Calibration[d.String()] = t.Seconds()
	}
	took := func(n Node) time.Duration { return b.cal[n.Delay] }

	if !cfg.SkipPeers && cfg.Kro != "" && len(cfg.Shapes) > 0 {
		if err := b.run(ctx, cfg.Kubectl, "--kubeconfig", cfg.Kubeconfig, "apply", "--server-side", "-f", cfg.KroCRDs); err != nil {
			return nil, fmt.Errorf("installing kro's CRDs: %w", err)
		}
		if err := b.run(ctx, cfg.Kubectl, "--kubeconfig", cfg.Kubeconfig, "wait", "--for=condition=Established", "crd/resourcegraphdefinitions.kro.run", "--timeout=60s"); err != nil {
			return nil, err
		}
		stop, err := b.startKro(ctx)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	for _, s := range cfg.Shapes {
		sr := ShapeResult{Shape: s.Name, About: s.About, Nodes: len(s.Nodes), Levels: len(s.Levels()), Runs: map[string][]Run{}}
		cp, _ := s.CriticalPath(took)
		sr.CriticalPath, sr.WaveBound = cp.Seconds(), s.WaveTime(took).Seconds()
		tools := []string{"aos", "kubectl", "helm"}
		if cfg.SkipPeers {
			tools = tools[:1]
		}
		removeKro := func() {}
		if !cfg.SkipPeers && cfg.Kro != "" {
			tools = append(tools, "kro")
			if removeKro, err = b.defineKro(ctx, s); err != nil {
				return nil, err
			}
		}
		// Runs alternate between tools, so drift in the machine's load spreads evenly.
		for r := range cfg.Runs {
			for _, tool := range tools {
				run, err := b.deploy(ctx, tool, s)
				if err != nil {
					return nil, fmt.Errorf("%s, %s run %d: %w", s.Name, tool, r+1, err)
				}
				b.logf("%-13s %-7s run %d: %6.2f s (critical path %.2f s)", s.Name, tool, r+1, run.Seconds, sr.CriticalPath)
				sr.Runs[tool] = append(sr.Runs[tool], run)
			}
		}
		removeKro()
		res.Shapes = append(res.Shapes, sr)
	}
	if s := cfg.ScaleShape; s != nil {
		sr := ShapeResult{Shape: s.Name, About: s.About, Nodes: len(s.Nodes), Levels: len(s.Levels()), Runs: map[string][]Run{}}
		cp, _ := s.CriticalPath(took)
		sr.CriticalPath, sr.WaveBound = cp.Seconds(), s.WaveTime(took).Seconds()
		for r := range max(cfg.ScaleRuns, 1) {
			run, err := b.deploy(ctx, "aos", *s)
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", s.Name, r+1, err)
			}
			b.logf("%-13s aos     run %d: %6.2f s (critical path %.2f s), peak RSS %.0f MiB", s.Name, r+1, run.Seconds, sr.CriticalPath, run.MaxRSSMiB)
			sr.Runs["aos"] = append(sr.Runs["aos"], run)
		}
		res.Scale = &sr
	}
	if len(cfg.ConfigMapSizes) > 0 {
		if res.ConfigMaps, err = b.scale(ctx, cfg.ConfigMapSizes); err != nil {
			return nil, err
		}
	}
	// In this process, and last: a child's peak RSS (what the runs report) starts from its
	// parent's at fork, and parsing 10,000 nodes here grew this process to about 330 MiB.
	if cfg.PlanNodes > 0 {
		res.PlanNodes = cfg.PlanNodes
		tpl := gen.Layered(cfg.PlanNodes, 500)
		if res.Plan, err = validatePlan(ctx, string(tpl), max(cfg.Runs, 3)); err != nil {
			return nil, fmt.Errorf("validate + plan of %d nodes: %w", cfg.PlanNodes, err)
		}
		b.logf("validate + plan of %d nodes: %v s", cfg.PlanNodes, res.Plan)
		if res.PlanJSON, err = validatePlan(ctx, string(gen.AsJSON(tpl)), max(cfg.Runs, 3)); err != nil {
			return nil, fmt.Errorf("validate + plan of %d nodes written as JSON: %w", cfg.PlanNodes, err)
		}
		b.logf("validate + plan of %d nodes written as JSON: %v s", cfg.PlanNodes, res.PlanJSON)
	}
	return res, nil
}

// calibrate measures, for each pod delay, how long one Deployment takes from create to its
// pod Ready on this cluster, alone: the per-node time the critical path is made of.
func (b *bench) calibrate(ctx context.Context, delays map[time.Duration]bool) error {
	ns := b.namespace("cal")
	nso := nsObject(ns)
	if _, err := b.cs.CoreV1().Namespaces().Create(ctx, nso, metav1.CreateOptions{}); err != nil {
		return err
	}
	defer b.dropNamespace(ns)
	b.cal = map[time.Duration]time.Duration{}
	keys := make([]time.Duration, 0, len(delays))
	for d := range delays {
		keys = append(keys, d)
	}
	slices.Sort(keys)
	for _, d := range keys {
		var times []time.Duration
		for i := range max(b.cfg.CalibrationRuns, 3) {
			n := Node{ID: fmt.Sprintf("cal-%d-%d", d.Milliseconds(), i), Delay: d}
			var dep appsv1.Deployment
			if err := yaml.Unmarshal([]byte(deployment(n, 0)), &dep); err != nil {
				return err
			}
			t, err := b.applyAlone(ctx, ns, &dep)
			if err != nil {
				return err
			}
			times = append(times, t)
		}
		slices.Sort(times)
		b.cal[d] = times[len(times)/2]
		b.logf("calibration: a Deployment with a %v pod delay is ready %v after create (median of %d)", d, b.cal[d].Round(time.Millisecond), len(times))
	}
	return nil
}

func (b *bench) applyAlone(ctx context.Context, ns string, dep *appsv1.Deployment) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	w, err := b.cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + dep.Name})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if _, err := b.cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	for ev := range w.ResultChan() {
		d, ok := ev.Object.(*appsv1.Deployment)
		if ok && d.Status.ReadyReplicas == 1 && d.Status.UpdatedReplicas == 1 {
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("deployment %s not ready: %v", dep.Name, ctx.Err())
}

// namespace names a fresh namespace for one run.
func (b *bench) namespace(what string) string {
	b.seq++
	ns := fmt.Sprintf("bench-%s-%d-%d", what, time.Now().Unix()%100000, b.seq)
	if len(ns) > 63 {
		ns = ns[:63]
	}
	return strings.TrimRight(ns, "-")
}

// dropNamespace deletes a run's namespace and waits until it is gone, so that one run's
// teardown does not load the cluster during the next.
func (b *bench) dropNamespace(ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_ = b.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	for ctx.Err() == nil {
		if _, err := b.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.logf("namespace %s still terminating after 3 minutes", ns)
}

func (b *bench) deploy(ctx context.Context, tool string, s Shape) (Run, error) {
	ns := b.namespace(tool[:3] + "-" + s.Name)
	dir := filepath.Join(b.cfg.Work, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Run{}, err
	}
	defer os.RemoveAll(dir)
	defer b.dropNamespace(ns)
	switch tool {
	case "aos":
		return b.aos(ctx, s, ns, dir)
	case "kubectl":
		return b.kubectl(ctx, s, ns, dir)
	case "helm":
		return b.helm(ctx, s, ns, dir)
	case "kro":
		return b.kro(ctx, s, ns)
	}
	return Run{}, fmt.Errorf("unknown tool %q", tool)
}

func (b *bench) aos(ctx context.Context, s Shape, ns, dir string) (Run, error) {
	file := filepath.Join(dir, s.Name+".yaml")
	if err := os.WriteFile(file, []byte(s.Template()), 0o644); err != nil {
		return Run{}, err
	}
	cmd := exec.CommandContext(ctx, b.cfg.AOS, "--state", filepath.Join(dir, "state.db"), "--kubeconfig", b.cfg.Kubeconfig,
		"up", file, "--stack", ns, "-o", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return Run{}, fmt.Errorf("aos up: %v\n%s%s", err, errb.String(), tail(out.String()))
	}
	var res struct {
		Stack struct{ Status engine.StackStatus }
		Cost  struct {
			Transitions int64            `json:"stateTransitions"`
			Invocations map[string]int64 `json:"invocations"`
			StoreReads  int64            `json:"storeReads"`
			StoreWrites int64            `json:"storeWrites"`
		}
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Stack.Status != engine.StackCreateComplete {
		return Run{}, fmt.Errorf("aos up: %v, status %q\n%s", err, res.Stack.Status, tail(out.String()))
	}
	observed, gap, p90, err := b.observedPath(ctx, s, dir, ns)
	if err != nil {
		return Run{}, err
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	run := Run{Seconds: took.Seconds(), CPUSeconds: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(),
		Transitions: res.Cost.Transitions, Invocations: res.Cost.Invocations, StoreReads: res.Cost.StoreReads, StoreWrites: res.Cost.StoreWrites,
		ObservedPath: observed.Seconds(), Gap: gap.Seconds(), GapP90: p90.Seconds()}
	if ru != nil {
		run.MaxRSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return run, nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

func (b *bench) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(string(out)))
	}
	return nil
}

// kubectl applies each level and waits for every Deployment of it to have its pod Ready
// before the next: how a script or a CI pipeline orders objects with plain kubectl.
func (b *bench) kubectl(ctx context.Context, s Shape, ns, dir string) (Run, error) {
	levels := s.LevelManifests()
	for l, m := range levels {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("level-%d.yaml", l)), []byte(m), 0o644); err != nil {
			return Run{}, err
		}
	}
	k := func(args ...string) error {
		return b.run(ctx, b.cfg.Kubectl, append([]string{"--kubeconfig", b.cfg.Kubeconfig}, args...)...)
	}
	start := time.Now()
	if err := k("create", "namespace", ns); err != nil {
		return Run{}, err
	}
	for l := range levels {
		if err := k("apply", "-n", ns, "-f", filepath.Join(dir, fmt.Sprintf("level-%d.yaml", l))); err != nil {
			return Run{}, err
		}
		if err := k("wait", "-n", ns, "--for=jsonpath={.status.readyReplicas}=1", "deployment", "-l", fmt.Sprintf("%s=%d", levelLabel, l), "--timeout=10m"); err != nil {
			return Run{}, err
		}
	}
	return Run{Seconds: time.Since(start).Seconds()}, nil
}

// helm installs one chart per level, in order, each with --wait.
func (b *bench) helm(ctx context.Context, s Shape, ns, dir string) (Run, error) {
	levels := s.LevelManifests()
	for l, m := range levels {
		chart := filepath.Join(dir, fmt.Sprintf("level-%d", l))
		if err := os.MkdirAll(filepath.Join(chart, "templates"), 0o755); err != nil {
			return Run{}, err
		}
		meta := fmt.Sprintf("apiVersion: v2\nname: level-%d\nversion: 0.1.0\n", l)
		if err := os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte(meta), 0o644); err != nil {
			return Run{}, err
		}
		if err := os.WriteFile(filepath.Join(chart, "templates", "deployments.yaml"), []byte(m), 0o644); err != nil {
			return Run{}, err
		}
	}
	start := time.Now()
	for l := range levels {
		args := []string{"--kubeconfig", b.cfg.Kubeconfig, "install", fmt.Sprintf("level-%d", l), filepath.Join(dir, fmt.Sprintf("level-%d", l)),
			"-n", ns, "--wait", "--timeout", "10m",
			// helm's default client budget (5 queries/s) makes --wait of 50 Deployments take a
			// minute; it gets the same budget as AOS's client.
			"--qps", "100", "--burst-limit", "200"}
		if l == 0 {
			args = append(args, "--create-namespace")
		}
		if err := b.run(ctx, b.cfg.Helm, args...); err != nil {
			return Run{}, err
		}
	}
	return Run{Seconds: time.Since(start).Seconds()}, nil
}

// median of the runs' seconds.
func median(runs []Run, f func(Run) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// observedPath reads the run's events and returns the critical path of the apply-to-ready
// times it observed; and from the node records, the median gap from a node's last
// dependency READY to the start of its own apply.
func (b *bench) observedPath(ctx context.Context, s Shape, dir, stack string) (time.Duration, time.Duration, time.Duration, error) {
	state := filepath.Join(dir, "state.db")
	out, err := exec.CommandContext(ctx, b.cfg.AOS, "--state", state, "events", stack, "-o", "json").Output()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("aos events: %w", err)
	}
	var evs []Event
	if err := json.Unmarshal(out, &evs); err != nil {
		return 0, 0, 0, err
	}
	if out, err = exec.CommandContext(ctx, b.cfg.AOS, "--state", state, "status", stack, "-o", "json").Output(); err != nil {
		return 0, 0, 0, fmt.Errorf("aos status: %w", err)
	}
	var st struct{ Nodes []NodeTimes }
	if err := json.Unmarshal(out, &st); err != nil {
		return 0, 0, 0, err
	}
	median, p90 := gap(s, st.Nodes)
	return observed(s, evs), median, p90, nil
}

// Event is the part of an `aos events -o json` entry the bench reads.
type Event struct {
	Node, Status string
	Time         time.Time
}

// NodeTimes is the part of a node of `aos status -o json` the bench reads: when its apply
// started and when it was seen READY.
type NodeTimes struct {
	ID        string    `json:"id"`
	AppliedAt time.Time `json:"appliedAt"`
	ReadyAt   time.Time `json:"readyAt"`
}

// observed is the critical path with each node's apply-to-ready time as the events show it.
func observed(s Shape, evs []Event) time.Duration {
	applied, ready := map[string]time.Time{}, map[string]time.Time{}
	for _, e := range evs {
		switch {
		case e.Status == "WAITING" && applied[e.Node].IsZero():
			applied[e.Node] = e.Time
		case e.Status == "READY":
			ready[e.Node] = e.Time
		}
	}
	cp, _ := s.CriticalPath(func(n Node) time.Duration { return ready[n.ID].Sub(applied[n.ID]) })
	return cp
}

// gap is the median and the 90th percentile, over nodes with dependencies, of the time from
// the last dependency's READY to the start of the node's apply.
func gap(s Shape, nodes []NodeTimes) (time.Duration, time.Duration) {
	byID := map[string]NodeTimes{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	var gaps []time.Duration
	for _, n := range s.Nodes {
		if len(n.Deps) == 0 || byID[n.ID].AppliedAt.IsZero() {
			continue
		}
		var last time.Time
		for _, d := range n.Deps {
			if r := byID[d].ReadyAt; r.After(last) {
				last = r
			}
		}
		if !last.IsZero() {
			gaps = append(gaps, byID[n.ID].AppliedAt.Sub(last))
		}
	}
	if len(gaps) == 0 {
		return 0, 0
	}
	slices.Sort(gaps)
	return gaps[len(gaps)/2], gaps[len(gaps)*9/10]
}

// validatePlan times the state machine's first two steps on a template, runs times.
func validatePlan(ctx context.Context, tpl string, runs int) ([]float64, error) {
	var times []float64
	for i := range runs {
		// A text of its own per run: a process parses a template once for validate and plan
		// (template's cache), and each run is one such pair. Both YAML and JSON end with a
		// space there.
		tpl := tpl + strings.Repeat(" ", i+1)
		start := time.Now()
		v, err := engine.Validate(ctx, engine.TemplateRequest{Template: tpl})
		if err != nil || !v.Valid {
			return nil, fmt.Errorf("validate: %v %v", err, v.Problems)
		}
		if _, err := engine.Plan(ctx, engine.PlanRequest{TemplateRequest: engine.TemplateRequest{Template: tpl}}); err != nil {
			return nil, err
		}
		times = append(times, time.Since(start).Seconds())
	}
	return times, nil
}
