package kube

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

// listAtLeast is how many objects of one resource in one namespace make one LIST cheaper than
// a GET each.
const listAtLeast = 3

// GoneAll reports, for each ref, whether its object no longer exists (or exists as a newer
// object of the same name). Deleting a 1,000-node stack looked every 50 ms at each object with
// a GET of its own; now a resource in a namespace costs one LIST. The LIST is not filtered by
// the stack's label: an object someone unlabelled is still there, and must not read as gone.
func (c *Client) GoneAll(ctx context.Context, refs []Ref) ([]bool, error) {
	out := make([]bool, len(refs))
	groups := map[Group][]int{}
	for i, r := range refs {
		gvr, err := c.Resource(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		g := Group{gvr, r.Namespace}
		groups[g] = append(groups[g], i)
	}
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for g, idx := range groups {
		if len(idx) < listAtLeast {
			for _, i := range idx {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					gone, err := c.Gone(ctx, refs[i])
					if err != nil {
						fail(err)
					}
					out[i] = gone
				}()
			}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Names and uids are all a look needs: the metadata alone, not every object whole
			// (10,000 ConfigMaps with their data, at every look of a large delete).
			var ri metadata.ResourceInterface = c.meta.Resource(g.GVR)
			if g.Namespace != "" {
				ri = c.meta.Resource(g.GVR).Namespace(g.Namespace)
			}
			uids := map[string]types.UID{}
			err := retry(ctx, DefaultRetry, "list "+g.GVR.Resource, func() error {
				list, err := ri.List(ctx, metav1.ListOptions{})
				if err != nil {
					return err
				}
				clear(uids)
				for i := range list.Items {
					uids[list.Items[i].GetName()] = list.Items[i].GetUID()
				}
				return nil
			})
			if err != nil {
				fail(fmt.Errorf("list %s in %q: %w", g.GVR.Resource, g.Namespace, err))
				return
			}
			for _, i := range idx {
				uid, ok := uids[refs[i].Name]
				out[i] = !ok || refs[i].UID != "" && uid != refs[i].UID
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}
