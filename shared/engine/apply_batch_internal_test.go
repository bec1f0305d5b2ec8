package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

func TestBatchesAreAtMostNEvenAndInOrder(t *testing.T) {
	for _, tc := range []struct{ ids, n, batches, smallest, largest int }{
		{0, 40, 0, 0, 0},
		{1, 40, 1, 1, 1},
		{40, 40, 40, 1, 1},
		{41, 40, 40, 1, 2},
		{50, 40, 40, 1, 2},
		{1000, 40, 40, 25, 25},
		{1001, 40, 40, 25, 26},
	} {
		ids := make([]string, tc.ids)
		for i := range ids {
			ids[i] = fmt.Sprintf("n%04d", i)
		}
		got := batches(ids, tc.n)
		if len(got) != tc.batches {
			t.Fatalf("%d ids in at most %d: %d batches, want %d", tc.ids, tc.n, len(got), tc.batches)
		}
		var flat []string
		smallest, largest := tc.ids, 0
		for _, b := range got {
			flat = append(flat, b...)
			smallest, largest = min(smallest, len(b)), max(largest, len(b))
		}
		if !slices.Equal(flat, ids) && tc.ids > 0 {
			t.Fatalf("%d ids in at most %d: the batches do not hold the ids in order", tc.ids, tc.n)
		}
		if tc.ids > 0 && (smallest != tc.smallest || largest != tc.largest) {
			t.Fatalf("%d ids in at most %d: batches of %d to %d ids, want %d to %d", tc.ids, tc.n, smallest, largest, tc.smallest, tc.largest)
		}
	}
}

// An execution started before batches hands check-ready a flat list; one started after, the
// Map's items.
func TestAppliedTakesBatchesAndFlatLists(t *testing.T) {
	for _, in := range []string{`{"applied":[["a","b"],["c"]]}`, `{"applied":["a","b","c"]}`} {
		var req CheckRequest
		if err := json.Unmarshal([]byte(in), &req); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !slices.Equal(req.Applied, Applied{"a", "b", "c"}) {
			t.Fatalf("%s: applied %q", in, req.Applied)
		}
	}
	var req CheckRequest
	if err := json.Unmarshal([]byte(`{"applied":[1,2]}`), &req); err == nil {
		t.Fatalf("numbers as applied ids: no error (%q)", req.Applied)
	}
}

// A Map of batches records an iteration a batch; one of single nodes (an execution started
// before batches, which does not say batched) an iteration a node.
func TestATurnIsCountedAnIterationABatch(t *testing.T) {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i)
	}
	for _, batched := range []bool{true, false} {
		resp := CheckResponse{Startable: ids, Batches: batches(ids, MapConcurrency)}
		if err := (&Engine{}).budget(t.Context(), CheckRequest{Stack: "s", Spent: 10, Batched: batched}, &resp); err != nil {
			t.Fatal(err)
		}
		want := 10 + turnEvents(100)
		if batched {
			want = 10 + turnEvents(MapConcurrency)
		}
		if resp.Spent != want || resp.Continue {
			t.Fatalf("batched %v: spent %d (continue %v), want %d", batched, resp.Spent, resp.Continue, want)
		}
	}
}
