package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/aos-project/aos/shared/engine"
)

// terminal reports whether w is a terminal, and its size.
func terminal(w io.Writer) (width, height int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) || os.Getenv("TERM") == "dumb" {
		return 0, 0, false
	}
	width, height, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 80, 24, true
	}
	return width, height, true
}

// live redraws a table of the stack's nodes in place until stop is called: each node's
// state and how long it has been at it, and a summary line. The last frame stays on screen.
func (a *app) live(ctx context.Context, e *engine.Engine, stack string, width, height int) (stop func()) {
	start := time.Now()
	drawn := 0
	draw := func() {
		ctx := context.WithoutCancel(ctx)
		st, err := e.Store.GetStack(ctx, stack)
		if err != nil {
			return
		}
		nodes, err := e.Store.ListNodes(ctx, stack)
		if err != nil {
			return
		}
		lines := frame(st, nodes, time.Now(), time.Since(start), width, height-1)
		var b strings.Builder
		if drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", drawn) // back to the top of the last frame
		}
		for _, l := range lines {
			b.WriteString("\x1b[2K" + l + "\n")
		}
		for i := len(lines); i < drawn; i++ { // a shorter frame: clear what is left below
			b.WriteString("\x1b[2K\n")
		}
		io.WriteString(a.stdout, b.String())
		drawn = max(drawn, len(lines))
	}
	return every(250*time.Millisecond, draw)
}

// frame renders the live view: a summary line, then one line per node, in the order nodes
// start. When the nodes do not fit in height, settled nodes are folded into the summary
// first, so the ones still moving stay visible.
func frame(st *engine.StackRecord, nodes []*engine.NodeRecord, now time.Time, elapsed time.Duration, width, height int) []string {
	count := map[engine.NodeStatus]int{}
	for _, n := range nodes {
		count[n.Status]++
	}
	sorted := append([]*engine.NodeRecord(nil), nodes...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].AppliedAt, sorted[j].AppliedAt
		if a.IsZero() != b.IsZero() {
			return !a.IsZero()
		}
		if !a.Equal(b) {
			return a.Before(b)
		}
		return sorted[i].ID < sorted[j].ID
	})
	var parts []string
	for _, s := range []engine.NodeStatus{engine.NodeReady, engine.NodeSkipped, engine.NodeWaiting, engine.NodePending, engine.NodeDeleting, engine.NodeDeleted, engine.NodeFailed} {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], strings.ToLower(string(s))))
		}
	}
	summary := fmt.Sprintf("stack %s  %s  %s  [%s]", st.Name, st.Status, elapsed.Round(100*time.Millisecond), strings.Join(parts, ", "))
	shown := sorted
	hidden := 0
	if height > 1 && len(sorted) > height-1 {
		shown = nil
		for _, n := range sorted {
			if n.Status != engine.NodeReady && n.Status != engine.NodeDeleted && n.Status != engine.NodePending && n.Status != engine.NodeSkipped {
				shown = append(shown, n)
			}
		}
		if len(shown) > height-2 {
			shown = shown[:max(height-2, 0)]
		}
		hidden = len(sorted) - len(shown)
	}
	idw := 4
	for _, n := range shown {
		idw = max(idw, len(n.ID))
	}
	lines := []string{clip(summary, width)}
	for _, n := range shown {
		took := "-"
		switch {
		case !n.ReadyAt.IsZero() && !n.AppliedAt.IsZero():
			took = n.ReadyAt.Sub(n.AppliedAt).Round(100 * time.Millisecond).String()
		case !n.AppliedAt.IsZero() && (n.Status == engine.NodeWaiting || n.Status == engine.NodeDeleting):
			took = now.Sub(n.AppliedAt).Round(100 * time.Millisecond).String()
		}
		detail := n.Reason
		if n.Message != "" && (n.Status == engine.NodeFailed || n.Status == engine.NodeWaiting) {
			detail = strings.TrimSpace(detail + ": " + n.Message)
		}
		lines = append(lines, clip(strings.TrimRight(fmt.Sprintf("  %s %-*s  %-8s %7s  %s", mark(n.Status), idw, n.ID, n.Status, took, detail), " "), width))
	}
	if hidden > 0 {
		lines = append(lines, clip(fmt.Sprintf("  … %d more (done or not started)", hidden), width))
	}
	return lines
}

func mark(s engine.NodeStatus) string {
	switch s {
	case engine.NodeReady, engine.NodeDeleted:
		return "✓"
	case engine.NodeFailed:
		return "✗"
	case engine.NodePending:
		return "·"
	case engine.NodeSkipped:
		return "–"
	}
	return "…"
}

func clip(s string, width int) string {
	r := []rune(s)
	if width > 1 && len(r) > width-1 {
		return string(r[:width-2]) + "…"
	}
	return s
}
