package bench

import (
	"fmt"
	"io"
	"slices"
	"sort"
)

func mark(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// Target ratios (docs/performance.md).
const (
	maxRatio         = 1.10
	maxWritesPerNode = 4
	maxGapSeconds    = 0.1
	maxCPUPerNodeMs  = 5
	// #17's target for the state machine's first two steps, whether the template is YAML
	// or JSON.
	maxPlanSeconds    = 0.6
	maxScaleMemoryMiB = 500
)

// Write prints the results as Markdown tables.
func Write(w io.Writer, r *Results) {
	fmt.Fprintf(w, "## Makespan against the critical path (%s, %d CPUs, medians of %d runs)\n\n", r.Date.Format("2006-01-02"), r.CPUs, runsOf(r))
	fmt.Fprintln(w, "| shape | nodes | levels | critical path | AOS | AOS ÷ critical path | critical path as the run saw it | AOS ÷ that | kubectl apply+wait per level | helm install --wait per level | kro (one ResourceGraphDefinition) | best wave-by-wave | ≤ 1.10× | beats every peer |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	secs := func(r Run) float64 { return r.Seconds }
	for _, s := range r.Shapes {
		aos := median(s.Runs["aos"], secs)
		k, h, kr := median(s.Runs["kubectl"], secs), median(s.Runs["helm"], secs), median(s.Runs["kro"], secs)
		ratio := aos / s.CriticalPath
		beats := "-"
		if len(s.Runs["kubectl"]) > 0 && len(s.Runs["helm"]) > 0 {
			beats = mark(aos < k && aos < h && (len(s.Runs["kro"]) == 0 || aos < kr))
		}
		seen := median(s.Runs["aos"], func(r Run) float64 { return r.ObservedPath })
		fmt.Fprintf(w, "| %s (%s) | %d | %d | %.2f s | %.2f s | %.3f | %.2f s | %.3f | %s | %s | %s | %.2f s | %s | %s |\n",
			s.Shape, s.About, s.Nodes, s.Levels, s.CriticalPath, aos, ratio, seen, aos/seen, opt(k), opt(h), opt(kr), s.WaveBound, mark(ratio <= maxRatio), beats)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Cost per node (AOS, medians)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| shape | last dependency READY → apply starts, median node (≤ 0.1 s); p90 | state transitions / node | limit: 3 / node + 3 / loop turn | loop turns | store writes / node (≤ 4) | store reads / node | function invocations / node | AOS CPU / node (≤ 5 ms) | peak RSS |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	all := append([]ShapeResult(nil), r.Shapes...)
	if r.Scale != nil {
		all = append(all, *r.Scale)
	}
	for _, s := range all {
		runs := s.Runs["aos"]
		n := float64(s.Nodes)
		tr := median(runs, func(r Run) float64 { return float64(r.Transitions) })
		turns := median(runs, func(r Run) float64 { return float64(r.Invocations["checkready"]) })
		limit := 3*n + 3*turns
		wr := median(runs, func(r Run) float64 { return float64(r.StoreWrites) }) / n
		rd := median(runs, func(r Run) float64 { return float64(r.StoreReads) }) / n
		inv := median(runs, func(r Run) float64 {
			var t int64
			for _, c := range r.Invocations {
				t += c
			}
			return float64(t)
		}) / n
		cpu := median(runs, func(r Run) float64 { return r.CPUSeconds }) / n * 1000
		rss := median(runs, func(r Run) float64 { return r.MaxRSSMiB })
		gap := median(runs, func(r Run) float64 { return r.Gap })
		p90 := median(runs, func(r Run) float64 { return r.GapP90 })
		fmt.Fprintf(w, "| %s | %.3f s (%s); %.3f s | %.2f | %.0f (%s) | %.0f | %.2f (%s) | %.2f | %.2f | %.2f ms (%s) | %.0f MiB |\n",
			s.Shape, gap, mark(gap <= maxGapSeconds), p90, tr/n, limit, mark(tr <= limit), turns, wr, mark(wr <= maxWritesPerNode), rd, inv, cpu, mark(cpu <= maxCPUPerNodeMs), rss)
	}
	if len(r.Plan) > 0 || len(r.PlanJSON) > 0 || r.Scale != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "## Scale")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| what | measured | target | met |")
		fmt.Fprintln(w, "|---|---|---|---|")
	}
	planRow := func(what string, runs []float64, target float64) {
		v := append([]float64(nil), runs...)
		sort.Float64s(v)
		m := v[len(v)/2]
		fmt.Fprintf(w, "| validate + plan of a generated %d-node template%s | %.0f ms (median of %d; runs %s) | ≤ %g s | %s |\n", r.PlanNodes, what, m*1000, len(v), msList(runs), target, mark(m <= target))
	}
	if len(r.Plan) > 0 {
		planRow("", r.Plan, maxPlanSeconds)
	}
	if len(r.PlanJSON) > 0 {
		planRow(", written as JSON", r.PlanJSON, maxPlanSeconds)
	}
	if s := r.Scale; s != nil {
		aos := median(s.Runs["aos"], secs)
		ratio := aos / s.CriticalPath
		rss := median(s.Runs["aos"], func(r Run) float64 { return r.MaxRSSMiB })
		fmt.Fprintf(w, "| `aos up` of %d nodes (%s): makespan ÷ critical path | %.2f s ÷ %.2f s = %.3f | ≤ 1.10 | %s |\n", s.Nodes, s.About, aos, s.CriticalPath, ratio, mark(ratio <= maxRatio))
		seen := median(s.Runs["aos"], func(r Run) float64 { return r.ObservedPath })
		fmt.Fprintf(w, "| `aos up` of %d nodes: makespan ÷ the critical path as the run saw it | %.2f s ÷ %.2f s = %.3f | (diagnostic) | - |\n", s.Nodes, aos, seen, aos/seen)
		fmt.Fprintf(w, "| `aos up` of %d nodes: peak memory (max RSS) | %.0f MiB | < 500 MiB | %s |\n", s.Nodes, rss, mark(rss < maxScaleMemoryMiB))
	}
	if len(r.ConfigMaps) > 0 {
		writeConfigMaps(w, r.ConfigMaps)
		writeLifecycle(w, r.ConfigMaps)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Calibration (one Deployment alone, create → pod Ready, median):")
	keys := make([]string, 0, len(r.Calibration))
	for k := range r.Calibration {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s → %.3f s; ", k, r.Calibration[k])
	}
	fmt.Fprintln(w)
}

func opt(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f s", v)
}

func msList(v []float64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.0f", x*1000)
	}
	return s
}

func runsOf(r *Results) int {
	for _, s := range r.Shapes {
		return len(s.Runs["aos"])
	}
	return 0
}

// flatWithin is how far apart (largest ÷ smallest) the per-node figures of the ConfigMap
// scale row may be: cost per node should not grow with the stack.
const flatWithin = 1.20

func writeConfigMaps(w io.Writer, rows []ScaleRow) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Cost per node as the stack grows: ConfigMaps in a random DAG (`aos up`, one run each)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| nodes | edges | aos up | nodes/s | AOS CPU / node | store writes / node | store requests / node | peak RSS |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	var cpu, req, rate []float64
	for _, r := range rows {
		n := float64(r.Nodes)
		cpu, req, rate = append(cpu, 1000*r.CPUSeconds/n), append(req, float64(r.StoreReads+r.StoreWrites)/n), append(rate, n/r.Seconds)
		fmt.Fprintf(w, "| %d | %d | %.2f s | %.0f | %.2f ms | %.2f | %.2f | %.0f MiB |\n", r.Nodes, r.Edges, r.Seconds, n/r.Seconds,
			1000*r.CPUSeconds/n, float64(r.StoreWrites)/n, float64(r.StoreReads+r.StoreWrites)/n, r.MaxRSSMiB)
	}
	spread := func(v []float64) float64 { return slices.Max(v) / slices.Min(v) }
	fmt.Fprintf(w, "\nLargest ÷ smallest across sizes (target ≤ %.2f): CPU per node %.2f (%s), store requests per node %.2f (%s), nodes/s %.2f (%s).\n",
		flatWithin, spread(cpu), mark(spread(cpu) <= flatWithin), spread(req), mark(spread(req) <= flatWithin), spread(rate), mark(spread(rate) <= flatWithin))
}

// writeLifecycle shows the rest of each ConfigMap stack's life: an unchanged `aos up` and
// one that changes 10 nodes should cost what they change, so their writes per changed node
// are the figure to watch; delete is shown in nodes per second.
func writeLifecycle(w io.Writer, rows []ScaleRow) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### The rest of the stack's life: the same stacks updated and deleted (one run each)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| nodes | `aos up` unchanged | its store writes | `aos up`, 10 nodes changed | its store writes | `aos down` | nodes/s deleted |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %.2f s | %d | %.2f s | %d | %.2f s | %.0f |\n", r.Nodes, r.Noop.Seconds, r.Noop.StoreWrites,
			r.Update.Seconds, r.Update.StoreWrites, r.Delete.Seconds, float64(r.Nodes)/r.Delete.Seconds)
	}
}
