package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
)

// Batches. An inline Map runs at most 40 iterations at once on AWS (MapConcurrency), so a
// turn that started more nodes than that applied them 40 at a time: the 41st node waited
// for one of the first 40 applies to return (the fan-out's 10 last leaves, docs/
// performance.md). Check-ready now hands the Map at most 40 items, each a batch of the
// turn's nodes, and apply-node applies a batch's nodes side by side. What bounds the applies
// a process sends is then the limiter that adapts to the API server (limiter.go), not the
// Map. An iteration per batch rather than per node also costs the execution fewer history
// events (continue.go), state transitions and function calls.

// batches splits ids into at most n batches of near-equal size, in order.
func batches(ids []string, n int) [][]string {
	k := min(len(ids), n)
	out := make([][]string, k)
	for i := range k {
		out[i] = ids[i*len(ids)/k : (i+1)*len(ids)/k]
	}
	return out
}

// Applied are the ids a Map applied, as check-ready is handed them: the Map's items, batches
// of ids, flattened. A plain list of ids is what an execution started before batches passes
// (Step Functions runs an execution to its end on the definition it started with), and is
// taken as it is.
type Applied []string

// UnmarshalJSON takes [["a","b"],["c"]] or ["a","b","c"].
func (a *Applied) UnmarshalJSON(b []byte) error {
	var flat []string
	if err := json.Unmarshal(b, &flat); err == nil {
		*a = flat
		return nil
	}
	var nested [][]string
	if err := json.Unmarshal(b, &nested); err != nil {
		return fmt.Errorf("applied: want the Map's items, batches of node ids: %w", err)
	}
	*a = (*a)[:0]
	for _, ids := range nested {
		*a = append(*a, ids...)
	}
	return nil
}

// applyBatch applies each node of req.Nodes as ApplyNode applies one, side by side, and
// answers with each node's answer. Every node is tried: one node's error does not stop the
// others, whose applies are idempotent anyway when the state machine retries the batch. The
// error returned is the first node's in the batch's order, unwrapped, so that the state
// machine's Retry and Catch match its name (the error's type) as they would for that node
// alone; the others are logged.
func (e *Engine) applyBatch(ctx context.Context, req NodeRequest) (NodeResponse, error) {
	if req.Node != "" {
		return NodeResponse{}, fmt.Errorf("stack %q: a request names node %q and a batch of %d; want one or the other", req.Stack, req.Node, len(req.Nodes))
	}
	resps := make([]NodeResponse, len(req.Nodes))
	errs := make([]error, len(req.Nodes))
	var wg sync.WaitGroup
	for i, id := range req.Nodes {
		one := req
		one.Node, one.Nodes = id, nil
		wg.Go(func() { resps[i], errs[i] = e.applyOne(ctx, one, true) })
	}
	wg.Wait()
	var first error
	for i, err := range errs {
		switch {
		case err == nil:
		case first == nil:
			first = err
		default:
			zerolog.Ctx(ctx).Warn().Err(err).Str("stack", req.Stack).Str("node", req.Nodes[i]).
				Msg("another node of the batch failed too; the batch reports the first")
		}
	}
	return NodeResponse{Nodes: resps}, first
}
