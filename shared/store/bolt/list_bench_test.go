package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/aos-project/aos/shared/engine"
)

// BenchmarkListNodes10k is a read of a 10,000-node stack, copies of every record.
func BenchmarkListNodes10k(b *testing.B) { benchmarkList(b, (*Store).ListNodes) }

// BenchmarkListNodesShared10k is check-ready's read of a 10,000-node stack, once per turn.
func BenchmarkListNodesShared10k(b *testing.B) { benchmarkList(b, (*Store).ListNodesShared) }

func benchmarkList(b *testing.B, list func(*Store, context.Context, string) ([]*engine.NodeRecord, error)) {
	s, err := Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 10000 {
		n := &engine.NodeRecord{Stack: "s", ID: fmt.Sprintf("cm%05d", i), Node: fmt.Sprintf("cm%05d", i), Status: engine.NodeReady,
			DependsOn: []string{fmt.Sprintf("cm%05d", max(i-1, 0))},
			Manifest:  map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": fmt.Sprintf("cm%05d", i)}, "data": map[string]any{"k": "v"}}}
		if err := s.PutNode(ctx, n, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if ns, err := list(s, ctx, "s"); err != nil || len(ns) != 10000 {
			b.Fatal(len(ns), err)
		}
	}
}
