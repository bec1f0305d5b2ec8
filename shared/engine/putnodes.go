package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/rs/zerolog"
)

// putNodes writes node records, each conditional on the version it carries: in groups of up
// to MaxNodesPerWrite, one store request each (a turn that finds hundreds of nodes READY, or a
// plan of a thousand, costs a few requests, not one per node). A group the store refuses (a
// version that moved, a write too large for one request) is written again one record at a
// time, so that the others still land and each conflict is its record's own. With lostOK, a
// write that loses to a concurrent one is no error.
func (e *Engine) putNodes(ctx context.Context, nodes []*NodeRecord, lostOK bool) error {
	if len(nodes) > 1 {
		var again []*NodeRecord
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for group := range slices.Chunk(nodes, MaxNodesPerWrite) {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := e.Store.PutNodes(ctx, group); err != nil {
					zerolog.Ctx(ctx).Debug().Err(err).Int("nodes", len(group)).Msg("group write refused: writing its records one by one")
					mu.Lock()
					again = append(again, group...)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		nodes = again
	}
	return e.putEach(ctx, nodes, lostOK)
}

// putEach writes node records side by side, a request each.
func (e *Engine) putEach(ctx context.Context, nodes []*NodeRecord, lostOK bool) error {
	errs := make([]error, len(nodes))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := e.Store.PutNode(ctx, n, n.Version); err != nil && !(lostOK && errors.Is(err, ErrVersionConflict)) {
				errs[i] = fmt.Errorf("node %q: %w", n.ID, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
