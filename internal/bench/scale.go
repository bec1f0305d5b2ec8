package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aos-project/aos/shared/engine"
)

// ScaleRow is one `aos up` of a generated stack of ConfigMaps: objects that are READY as
// soon as they exist, so the cluster is not what bounds it and cost per node shows whether
// AOS's own work grows with the stack.
type ScaleRow struct {
	Nodes       int     `json:"nodes"`
	Edges       int     `json:"edges"`
	Seconds     float64 `json:"seconds"`
	CPUSeconds  float64 `json:"cpuSeconds"`
	StoreReads  int64   `json:"storeReads"`
	StoreWrites int64   `json:"storeWrites"`
	MaxRSSMiB   float64 `json:"maxRssMiB"`
	// The rest of the stack's life: `aos up` again unchanged, `aos up` with 10 nodes changed,
	// and `aos down`. A no-op and a small update should cost what they change, not what the
	// stack holds.
	Noop   Step `json:"noop"`
	Update Step `json:"update10"`
	Delete Step `json:"delete"`
}

// Step is one `aos` command of a scale row's lifecycle.
type Step struct {
	Seconds     float64 `json:"seconds"`
	CPUSeconds  float64 `json:"cpuSeconds"`
	StoreReads  int64   `json:"storeReads"`
	StoreWrites int64   `json:"storeWrites"`
	MaxRSSMiB   float64 `json:"-"`
}

// ConfigMapDAG is a template of n ConfigMaps with 60-character node ids, each depending on up
// to three of the 500 before it (a fixed seed), and its edge count.
func ConfigMapDAG(n int) (string, int) {
	r := rand.New(rand.NewPCG(7, uint64(n)))
	id := func(i int) string { return fmt.Sprintf("cm-%05d-%s", i, strings.Repeat("x", 51)) }
	var b strings.Builder
	b.WriteString("format: aos/v1\nname: scale\nnodes:\n")
	edges := 0
	for i := range n {
		fmt.Fprintf(&b, "  %s:\n", id(i))
		if i > 0 {
			seen := map[int]bool{}
			var deps []string
			for range r.IntN(4) {
				d := max(0, i-500) + r.IntN(min(i, 500))
				if !seen[d] {
					seen[d] = true
					deps = append(deps, id(d))
				}
			}
			if len(deps) > 0 {
				fmt.Fprintf(&b, "    dependsOn: [%s]\n", strings.Join(deps, ", "))
				edges += len(deps)
			}
		}
		fmt.Fprintf(&b, "    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: c%05d}, data: {k: v%d}}\n", i, i)
	}
	return b.String(), edges
}

// ChangeTen is the DAG with the data of 10 of its nodes, spread over it, changed.
func ChangeTen(tpl string, n int) string {
	for i := 0; i < n; i += max(1, n/10) {
		tpl = strings.Replace(tpl, fmt.Sprintf("data: {k: v%d}}", i), fmt.Sprintf("data: {k: changed%d}}", i), 1)
	}
	return tpl
}

// scale runs `aos up` of a ConfigMap DAG of each size, again unchanged, again with 10 nodes
// changed, then `aos down`.
func (b *bench) scale(ctx context.Context, sizes []int) ([]ScaleRow, error) {
	var rows []ScaleRow
	for _, n := range sizes {
		dir, err := os.MkdirTemp(b.cfg.Work, "scale-")
		if err != nil {
			return nil, err
		}
		tpl, edges := ConfigMapDAG(n)
		file := filepath.Join(dir, "scale.yaml")
		if err := os.WriteFile(file, []byte(tpl), 0o644); err != nil {
			return nil, err
		}
		ns := b.namespace(fmt.Sprintf("scale%d", n))
		state := filepath.Join(dir, "state.db")
		create, err := b.aosStep(ctx, engine.StackCreateComplete, "--state", state, "--kubeconfig", b.cfg.Kubeconfig, "up", file, "--stack", ns, "-o", "json")
		if err != nil {
			return nil, fmt.Errorf("aos up of %d ConfigMaps: %w", n, err)
		}
		row := ScaleRow{Nodes: n, Edges: edges, Seconds: create.Seconds, CPUSeconds: create.CPUSeconds,
			StoreReads: create.StoreReads, StoreWrites: create.StoreWrites, MaxRSSMiB: create.MaxRSSMiB}
		b.logf("scale %5d ConfigMaps: %6.2f s, %.0f nodes/s, %.2f ms CPU/node, %.2f writes/node", n, row.Seconds, float64(n)/row.Seconds, 1000*row.CPUSeconds/float64(n), float64(row.StoreWrites)/float64(n))
		if row.Noop, err = b.aosStep(ctx, engine.StackUpdateComplete, "--state", state, "--kubeconfig", b.cfg.Kubeconfig, "up", file, "--stack", ns, "-o", "json"); err != nil {
			return nil, fmt.Errorf("aos up again of %d ConfigMaps, unchanged: %w", n, err)
		}
		if err := os.WriteFile(file, []byte(ChangeTen(tpl, n)), 0o644); err != nil {
			return nil, err
		}
		if row.Update, err = b.aosStep(ctx, engine.StackUpdateComplete, "--state", state, "--kubeconfig", b.cfg.Kubeconfig, "up", file, "--stack", ns, "-o", "json"); err != nil {
			return nil, fmt.Errorf("aos up of %d ConfigMaps, 10 changed: %w", n, err)
		}
		if row.Delete, err = b.aosStep(ctx, engine.StackDeleteComplete, "--state", state, "--kubeconfig", b.cfg.Kubeconfig, "down", ns, "-o", "json"); err != nil {
			return nil, fmt.Errorf("aos down of the %d ConfigMaps: %w", n, err)
		}
		b.logf("  then: no-op up %.2f s (%d writes), 10 changed %.2f s (%d writes), down %.2f s", row.Noop.Seconds, row.Noop.StoreWrites, row.Update.Seconds, row.Update.StoreWrites, row.Delete.Seconds)
		rows = append(rows, row)
		os.RemoveAll(dir)
	}
	return rows, nil
}

// aosStep runs one aos command that answers -o json with the stack and its cost, and wants
// the stack to end as want.
func (b *bench) aosStep(ctx context.Context, want engine.StackStatus, args ...string) (Step, error) {
	cmd := exec.CommandContext(ctx, b.cfg.AOS, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var res struct {
		Stack struct{ Status engine.StackStatus }
		Cost  struct {
			StoreReads  int64 `json:"storeReads"`
			StoreWrites int64 `json:"storeWrites"`
		}
	}
	if err == nil {
		err = json.Unmarshal(out.Bytes(), &res)
	}
	if err != nil || res.Stack.Status != want {
		return Step{}, fmt.Errorf("%v, status %q (want %s)\n%s%s", err, res.Stack.Status, want, errb.String(), tail(out.String()))
	}
	return Step{Seconds: took.Seconds(), CPUSeconds: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(),
		StoreReads: res.Cost.StoreReads, StoreWrites: res.Cost.StoreWrites, MaxRSSMiB: maxRSS(cmd)}, nil
}

func maxRSS(cmd *exec.Cmd) float64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return 0
}
