// Command bench is make bench: it deploys generated stacks with AOS, kubectl and helm on the
// local control plane and prints the comparison as Markdown (internal/bench does the work).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aos-project/aos/internal/bench"
)

func main() {
	var cfg bench.Config
	var shapes, results string
	var scaleNodes int
	var configMaps string
	flag.StringVar(&cfg.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "cluster to measure on")
	flag.StringVar(&cfg.AOS, "aos", "bin/aos", "aos binary")
	flag.StringVar(&cfg.Kubectl, "kubectl", os.Getenv("KUBECTL"), "kubectl binary (peer)")
	flag.StringVar(&cfg.Helm, "helm", os.Getenv("HELM"), "helm binary (peer)")
	flag.StringVar(&cfg.Kro, "kro", os.Getenv("KRO"), "kro's controller binary (peer); empty leaves kro out")
	flag.StringVar(&cfg.KroCRDs, "kro-crds", os.Getenv("KRO_CRDS"), "folder of kro's CRDs (its module's helm/crds)")
	flag.IntVar(&cfg.Runs, "runs", 3, "runs per shape and tool; medians are reported")
	flag.StringVar(&shapes, "shapes", "chain,fanout,lattice,skewed,random", "shapes to run (comma-separated)")
	flag.IntVar(&scaleNodes, "scale", 1000, "nodes of the scale stack (20 levels); 0 skips it")
	flag.IntVar(&cfg.ScaleRuns, "scale-runs", 3, "runs of the scale stack; its median is the 1,000-node row")
	flag.StringVar(&configMaps, "configmaps", "100,1000,10000", "sizes of the ConfigMap stacks of the cost-per-node scale row (comma-separated); empty skips it")
	flag.IntVar(&cfg.PlanNodes, "plan-nodes", 10000, "validate + plan of a generated template this large; 0 skips it")
	flag.BoolVar(&cfg.SkipPeers, "no-peers", false, "measure AOS only")
	flag.StringVar(&results, "results", "bench/results", "directory for the JSON results")
	flag.Parse()
	if cfg.Kubeconfig == "" {
		fail("no cluster: run through `make bench`, which starts the local control plane, or pass --kubeconfig")
	}
	if !cfg.SkipPeers && (cfg.Kubectl == "" || cfg.Helm == "") {
		fail("kubectl and helm are needed for the peers: `make bench` builds them (hack/cluster.sh peers), or pass --no-peers")
	}
	if cfg.Kro != "" && cfg.KroCRDs == "" {
		fail("--kro needs --kro-crds, the folder of kro's CRDs: `make bench` passes both (hack/cluster.sh peers)")
	}
	all := map[string]bench.Shape{
		"chain":   bench.Chain(10, 2*time.Second),
		"fanout":  bench.FanOut(50, time.Second),
		"lattice": bench.Lattice(5, 10),
		"skewed":  bench.Skewed(),
		"random":  bench.Random(200),
	}
	for _, name := range strings.Split(shapes, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		s, ok := all[name]
		if !ok {
			fail(fmt.Sprintf("unknown shape %q (chain, fanout, lattice, skewed, random)", name))
		}
		cfg.Shapes = append(cfg.Shapes, s)
	}
	for _, f := range strings.Split(configMaps, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 || n > 10000 {
			fail(fmt.Sprintf("-configmaps: %q is not a size between 1 and 10000", f))
		}
		cfg.ConfigMapSizes = append(cfg.ConfigMapSizes, n)
	}
	if scaleNodes > 0 {
		s := bench.Layers(20, max(scaleNodes/20, 1), time.Second)
		cfg.ScaleShape = &s
	}
	work, err := os.MkdirTemp("", "aos-bench-")
	if err != nil {
		fail(err.Error())
	}
	defer os.RemoveAll(work)
	cfg.Work, cfg.Log = work, os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.Measure(ctx, cfg)
	if err != nil {
		fail(err.Error())
	}
	bench.Write(os.Stdout, res)
	if err := os.MkdirAll(results, 0o755); err != nil {
		fail(err.Error())
	}
	path := filepath.Join(results, res.Date.Format("2006-01-02T150405Z")+".json")
	data, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		fail(err.Error())
	}
	fmt.Fprintf(os.Stderr, "[bench] results written to %s\n", path)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "bench:", msg)
	os.Exit(1)
}
