package engine

import "context"

// sharedLister is a store that lists a stack's records without copying them: the records are
// the store's, shared with every other caller, never to be changed (the bolt store).
type sharedLister interface {
	ListNodesShared(ctx context.Context, stack string) ([]*NodeRecord, error)
}

// listForCheck lists a stack's records for check-ready: shared where the store can share them
// and the check only reads them, the check's own copies of the rest.
//
// A check changes only records that are not READY: those in flight it judges (evaluate), a
// PENDING one it fails as blocked, the DELETING ones it finds gone (awaitGone). READY ones,
// most of a large stack for most of its run, it only reads. Their copies were over a third of
// the bytes `aos up` of 1,000 Deployments allocated, all of it garbage after each turn.
func (e *Engine) listForCheck(ctx context.Context, stack string) ([]*NodeRecord, error) {
	l, ok := e.Store.(sharedLister)
	if !ok {
		return e.Store.ListNodes(ctx, stack)
	}
	nodes, err := l.ListNodesShared(ctx, stack)
	if err != nil {
		return nil, err
	}
	for i, n := range nodes {
		if n.Status != NodeReady {
			own := *n
			nodes[i] = &own
		}
	}
	return nodes, nil
}
