package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aos-project/aos/shared/engine"
)

func TestLiveFrame(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	st := &engine.StackRecord{Name: "shop", Status: engine.StackCreateInProgress}
	nodes := []*engine.NodeRecord{
		{ID: "web", Status: engine.NodePending},
		{ID: "db", Status: engine.NodeReady, AppliedAt: t0, ReadyAt: t0.Add(1500 * time.Millisecond)},
		{ID: "cache", Status: engine.NodeWaiting, AppliedAt: t0.Add(time.Second), Reason: "Progressing", Message: "0 of 1 updated replicas are available"},
		{ID: "migrate", Status: engine.NodeFailed, AppliedAt: t0.Add(2 * time.Second), Reason: "JobFailed", Message: "BackoffLimitExceeded"},
	}
	got := strings.Join(frame(st, nodes, t0.Add(3*time.Second), 3200*time.Millisecond, 120, 24), "\n")
	want := strings.Join([]string{
		"stack shop  CREATE_IN_PROGRESS  3.2s  [1 ready, 1 waiting, 1 pending, 1 failed]",
		"  ✓ db       READY       1.5s",
		"  … cache    WAITING       2s  Progressing: 0 of 1 updated replicas are available",
		"  ✗ migrate  FAILED         -  JobFailed: BackoffLimitExceeded",
		"  · web      PENDING        -",
	}, "\n")
	if got != want {
		t.Fatalf("frame:\n%s\nwant:\n%s", got, want)
	}

	// More nodes than lines: the moving ones stay, the rest are folded; lines fit the width.
	var many []*engine.NodeRecord
	for i := range 50 {
		many = append(many, &engine.NodeRecord{ID: fmt.Sprint("n", i), Status: engine.NodeReady, AppliedAt: t0, ReadyAt: t0.Add(time.Second)})
	}
	many = append(many, &engine.NodeRecord{ID: "slow-one-with-a-long-name", Status: engine.NodeWaiting, AppliedAt: t0, Reason: strings.Repeat("x", 200)})
	lines := frame(st, many, t0.Add(5*time.Second), 5*time.Second, 60, 10)
	if len(lines) > 10 || !strings.Contains(strings.Join(lines, "\n"), "slow-one-with-a-long-name") || !strings.Contains(lines[len(lines)-1], "50 more") {
		t.Fatalf("folded frame:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if n := len([]rune(l)); n >= 60 {
			t.Fatalf("line of %d runes in a 60-column terminal: %q", n, l)
		}
	}
}
