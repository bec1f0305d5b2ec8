// Package storetest is the conformance suite every engine.Store implementation runs.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aos-project/aos/shared/engine"
)

// Run checks an engine.Store. newStore must return an empty store.
func Run(t *testing.T, newStore func(t *testing.T) engine.Store) {
	ctx := context.Background()
	t.Run("stack versions are conditional", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetStack(ctx, "shop"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("missing stack: %v", err)
		}
		r := &engine.StackRecord{Name: "shop", Namespace: "shop", Status: "CREATE_IN_PROGRESS", Inputs: map[string]any{"n": 3.0}, CreatedAt: time.Unix(100, 0).UTC()}
		if err := s.PutStack(ctx, r, 0); err != nil || r.Version != 1 {
			t.Fatalf("create: %v, version %d", err, r.Version)
		}
		if err := s.PutStack(ctx, &engine.StackRecord{Name: "shop"}, 0); !errors.Is(err, engine.ErrVersionConflict) {
			t.Fatalf("second create: %v", err)
		}
		r.Status = "CREATE_COMPLETE"
		if err := s.PutStack(ctx, r, 1); err != nil || r.Version != 2 {
			t.Fatalf("update: %v, version %d", err, r.Version)
		}
		stale := *r
		if err := s.PutStack(ctx, &stale, 1); !errors.Is(err, engine.ErrVersionConflict) {
			t.Fatalf("stale update: %v", err)
		}
		if err := s.PutStack(ctx, &engine.StackRecord{Name: "alpha"}, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.PutNode(ctx, &engine.NodeRecord{Stack: "shop", ID: "n"}, 0); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListStacks(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "shop" {
			t.Fatalf("ListStacks = %v, %v", list, err)
		}
		got, err := s.GetStack(ctx, "shop")
		if err != nil || got.Status != "CREATE_COMPLETE" || got.Version != 2 || got.Inputs["n"] != 3.0 || !got.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("read back: %+v, %v", got, err)
		}
	})
	t.Run("records as large as templates: a 3 MiB template, twice in one stack record", func(t *testing.T) {
		s := newStore(t)
		// Distinct text, so no compression hides the size.
		var b strings.Builder
		for i := 0; b.Len() < 3<<20; i++ {
			fmt.Fprintf(&b, "# line %07d of a large template\n", i)
		}
		tpl := b.String()
		r := &engine.StackRecord{Name: "big", Namespace: "big", Status: "CREATE_IN_PROGRESS", Template: tpl}
		if err := s.PutStack(ctx, r, 0); err != nil {
			t.Fatalf("create: %v", err)
		}
		r.Previous = &engine.Revision{Number: 1, Template: tpl + "# previous\n"}
		r.Template, r.Status = tpl+"# current\n", "UPDATE_IN_PROGRESS"
		if err := s.PutStack(ctx, r, 1); err != nil {
			t.Fatalf("update: %v", err)
		}
		stale := *r
		if err := s.PutStack(ctx, &stale, 1); !errors.Is(err, engine.ErrVersionConflict) {
			t.Fatalf("a stale update of a large record: %v", err)
		}
		got, err := s.GetStack(ctx, "big")
		if err != nil || got.Template != r.Template || got.Previous == nil || got.Previous.Template != r.Previous.Template || got.Version != 2 {
			t.Fatalf("read back: %v (template %d bytes)", err, len(got.Template))
		}
		list, err := s.ListStacks(ctx)
		if err != nil || len(list) != 1 || list[0].Template != r.Template {
			t.Fatalf("ListStacks: %v", err)
		}
		n := &engine.NodeRecord{Stack: "big", ID: "cm", Manifest: map[string]any{"data": map[string]any{"big": tpl[:1<<20]}}, Live: map[string]any{"data": map[string]any{"big": tpl[:1<<20]}}}
		if err := s.PutNode(ctx, n, 0); err != nil {
			t.Fatalf("a node record of 2 MiB: %v", err)
		}
		nodes, err := s.ListNodes(ctx, "big")
		if err != nil || len(nodes) != 1 || nodes[0].Live["data"].(map[string]any)["big"] != tpl[:1<<20] {
			t.Fatalf("ListNodes: %v", err)
		}
		if err := s.PutRevision(ctx, "big", &engine.Revision{Number: 2, Template: r.Template}); err != nil {
			t.Fatalf("a 3 MiB revision: %v", err)
		}
		revs, err := s.ListRevisions(ctx, "big")
		if err != nil || len(revs) != 1 || revs[0].Template != r.Template {
			t.Fatalf("ListRevisions: %v", err)
		}
	})
	t.Run("nodes are listed per stack", func(t *testing.T) {
		s := newStore(t)
		for _, st := range []string{"a", "ab", "b"} {
			for i := range 3 {
				n := &engine.NodeRecord{Stack: st, ID: fmt.Sprintf("n%d", i), Status: engine.NodePending, DependsOn: []string{}}
				if err := s.PutNode(ctx, n, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		nodes, err := s.ListNodes(ctx, "a")
		if err != nil || len(nodes) != 3 {
			t.Fatalf("ListNodes(a) = %d, %v", len(nodes), err)
		}
		for _, n := range nodes {
			if n.Stack != "a" {
				t.Fatalf("ListNodes(a) returned a node of stack %q", n.Stack)
			}
		}
		n, err := s.GetNode(ctx, "ab", "n2")
		if err != nil || n.ID != "n2" || n.Version != 1 {
			t.Fatalf("GetNode = %+v, %v", n, err)
		}
		n.Status = engine.NodeReady
		n.Live = map[string]any{"spec": map[string]any{"clusterIP": "10.96.0.7"}}
		if err := s.PutNode(ctx, n, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.PutNode(ctx, n, 1); !errors.Is(err, engine.ErrVersionConflict) {
			t.Fatalf("stale node write: %v", err)
		}
		got, _ := s.GetNode(ctx, "ab", "n2")
		if got.Status != engine.NodeReady || got.Live["spec"].(map[string]any)["clusterIP"] != "10.96.0.7" {
			t.Fatalf("node read back: %+v", got)
		}
		if _, err := s.GetNode(ctx, "ab", "zz"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("missing node: %v", err)
		}
	})
	t.Run("node records written together: all or none", func(t *testing.T) {
		s := newStore(t)
		group := make([]*engine.NodeRecord, engine.MaxNodesPerWrite)
		for i := range group {
			group[i] = &engine.NodeRecord{Stack: "g", ID: fmt.Sprintf("n%03d", i), Status: engine.NodePending, DependsOn: []string{},
				Manifest: map[string]any{"kind": "ConfigMap", "data": map[string]any{"k": strings.Repeat("v", 512)}}}
		}
		if err := s.PutNodes(ctx, group); err != nil {
			t.Fatalf("a new group of %d: %v", len(group), err)
		}
		for _, n := range group {
			if n.Version != 1 {
				t.Fatalf("%s: version %d after the write, want 1", n.ID, n.Version)
			}
		}
		nodes, err := s.ListNodes(ctx, "g")
		if err != nil || len(nodes) != len(group) {
			t.Fatalf("ListNodes = %d, %v", len(nodes), err)
		}
		// Two records moved on, one of them stale in the next group: none of it is written.
		a, b, c := *group[0], *group[1], *group[2]
		a.Status, b.Status, c.Status = engine.NodeReady, engine.NodeReady, engine.NodeReady
		if err := s.PutNode(ctx, group[1], 1); err != nil {
			t.Fatal(err)
		}
		next := []*engine.NodeRecord{&a, &b, &c, {Stack: "g", ID: "new", Status: engine.NodePending}}
		err = s.PutNodes(ctx, next)
		if !errors.Is(err, engine.ErrVersionConflict) {
			t.Fatalf("a group with a stale record: %v, want a version conflict", err)
		}
		if !strings.Contains(err.Error(), "n001") {
			t.Errorf("the conflict does not name the stale record: %v", err)
		}
		for i, n := range next {
			if want := []int64{1, 1, 1, 0}[i]; n.Version != want {
				t.Errorf("%s: version %d after a refused write, want %d as given", n.ID, n.Version, want)
			}
		}
		for _, id := range []string{"n000", "n002"} {
			if got, err := s.GetNode(ctx, "g", id); err != nil || got.Status != engine.NodePending || got.Version != 1 {
				t.Fatalf("%s after a refused group: %+v, %v; want it as it was", id, got, err)
			}
		}
		if _, err := s.GetNode(ctx, "g", "new"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("the new record of a refused group: %v, want not found", err)
		}
		// Without the stale one, it goes through, and a new record must be new.
		b.Version = 2
		if err := s.PutNodes(ctx, next); err != nil {
			t.Fatalf("the group again: %v", err)
		}
		if err := s.PutNodes(ctx, []*engine.NodeRecord{{Stack: "g", ID: "new"}, {Stack: "g", ID: "other"}}); !errors.Is(err, engine.ErrVersionConflict) {
			t.Fatalf("a group creating an existing record: %v, want a version conflict", err)
		}
		if got, err := s.GetNode(ctx, "g", "n001"); err != nil || got.Status != engine.NodeReady || got.Version != 3 {
			t.Fatalf("n001 read back: %+v, %v", got, err)
		}
	})
	t.Run("concurrent conditional writes: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		n := &engine.NodeRecord{Stack: "c", ID: "x", Status: engine.NodePending}
		if err := s.PutNode(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wins := make(chan int, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := *n
				c.Message = fmt.Sprint(i)
				if s.PutNode(ctx, &c, 1) == nil {
					wins <- i
				}
			}()
		}
		wg.Wait()
		close(wins)
		if len(wins) != 1 {
			t.Fatalf("%d writers won the same version", len(wins))
		}
	})
	t.Run("deleting a stack removes it and its nodes, not its events", func(t *testing.T) {
		s := newStore(t)
		for _, st := range []string{"gone", "gone2"} {
			if err := s.PutStack(ctx, &engine.StackRecord{Name: st}, 0); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := s.PutNode(ctx, &engine.NodeRecord{Stack: st, ID: fmt.Sprint("n", i)}, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		_ = s.AppendEvent(ctx, &engine.Event{Stack: "gone", Status: "DELETE_COMPLETE"})
		if err := s.DeleteStack(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetStack(ctx, "gone"); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("stack after delete: %v", err)
		}
		if nodes, _ := s.ListNodes(ctx, "gone"); len(nodes) != 0 {
			t.Fatalf("%d nodes after delete", len(nodes))
		}
		if nodes, _ := s.ListNodes(ctx, "gone2"); len(nodes) != 3 {
			t.Fatalf("another stack lost nodes: %d", len(nodes))
		}
		if evs, _ := s.ListEvents(ctx, "gone", 0, 0); len(evs) != 1 {
			t.Fatalf("events after delete: %d", len(evs))
		}
		// The name can be used again.
		if err := s.PutStack(ctx, &engine.StackRecord{Name: "gone"}, 0); err != nil {
			t.Fatalf("re-create: %v", err)
		}
	})
	t.Run("stacks are paged by name", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []string{"c", "a", "e", "b", "d"} {
			if err := s.PutStack(ctx, &engine.StackRecord{Name: n, Template: "t-" + n}, 0); err != nil {
				t.Fatal(err)
			}
		}
		// An index may lag its table for a moment (DynamoDB's is eventually consistent): a
		// page is read again until it is as expected, for a few seconds.
		page := func(after string, limit int, want string) string {
			var got []string
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				stacks, err := s.PageStacks(ctx, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				got = got[:0]
				for _, st := range stacks {
					if st.Template != "t-"+st.Name {
						t.Fatalf("stack %s read back with template %q", st.Name, st.Template)
					}
					got = append(got, st.Name)
				}
				if strings.Join(got, ",") == want || time.Now().After(deadline) {
					return strings.Join(got, ",")
				}
			}
		}
		for _, c := range []struct {
			after string
			limit int
			want  string
		}{{"", 2, "a,b"}, {"b", 2, "c,d"}, {"d", 2, "e"}, {"e", 2, ""}, {"", 10, "a,b,c,d,e"}} {
			if got := page(c.after, c.limit, c.want); got != c.want {
				t.Errorf("PageStacks(%q, %d) = %s, want %s", c.after, c.limit, got, c.want)
			}
		}
	})
	t.Run("events appended together keep their order", func(t *testing.T) {
		s := newStore(t)
		b, ok := s.(interface {
			AppendEvents(context.Context, []*engine.Event) error
		})
		if !ok {
			t.Fatal("a store appends a turn's events in one write: AppendEvents(ctx, []*engine.Event)")
		}
		_ = s.AppendEvent(ctx, &engine.Event{Stack: "b", Node: "first", Status: "X"})
		evs := []*engine.Event{{Stack: "b", Node: "n0", Status: "READY"}, {Stack: "b", Node: "n1", Status: "READY"}, {Stack: "b", Node: "n2", Status: "FAILED"}}
		if err := b.AppendEvents(ctx, evs); err != nil || evs[0].Seq != 2 || evs[2].Seq != 4 {
			t.Fatalf("AppendEvents: %v, seqs %d..%d", err, evs[0].Seq, evs[2].Seq)
		}
		got, err := s.ListEvents(ctx, "b", 1, 0)
		if err != nil || len(got) != 3 || got[0].Node != "n0" || got[2].Node != "n2" || got[2].Seq != 4 {
			t.Fatalf("ListEvents: %v %v", got, err)
		}
	})
	t.Run("events are ordered and read after a cursor", func(t *testing.T) {
		s := newStore(t)
		for i := range 5 {
			e := &engine.Event{Stack: "e", Node: fmt.Sprint("n", i), Status: "READY", Time: time.Unix(int64(i), 0).UTC()}
			if err := s.AppendEvent(ctx, e); err != nil || e.Seq != int64(i+1) {
				t.Fatalf("append: %v seq %d", err, e.Seq)
			}
		}
		_ = s.AppendEvent(ctx, &engine.Event{Stack: "other", Status: "X"})
		evs, err := s.ListEvents(ctx, "e", 2, 0)
		if err != nil || len(evs) != 3 || evs[0].Seq != 3 || evs[0].Node != "n2" || evs[2].Seq != 5 {
			t.Fatalf("ListEvents after 2 = %v, %v", evs, err)
		}
		if evs, _ := s.ListEvents(ctx, "nobody", 0, 0); len(evs) != 0 {
			t.Fatalf("events of an unknown stack: %v", evs)
		}
		// A page: at most limit events, from the cursor on.
		evs, err = s.ListEvents(ctx, "e", 1, 2)
		if err != nil || len(evs) != 2 || evs[0].Seq != 2 || evs[1].Seq != 3 {
			t.Fatalf("ListEvents after 1, limit 2 = %v, %v", evs, err)
		}
		if evs, _ := s.ListEvents(ctx, "e", 4, 10); len(evs) != 1 || evs[0].Seq != 5 {
			t.Fatalf("the last page: %v", evs)
		}
	})
	t.Run("revisions are listed by number, overwritten in place, and outlive the stack", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []int{2, 10, 1} {
			r := &engine.Revision{Number: n, Template: fmt.Sprint("t", n), Status: "UPDATE_IN_PROGRESS", Sealed: map[string]string{"pw": "sealed"}}
			if err := s.PutRevision(ctx, "r", r); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.PutRevision(ctx, "r2", &engine.Revision{Number: 1})
		if err := s.PutRevision(ctx, "r", &engine.Revision{Number: 2, Template: "t2", Status: "UPDATE_COMPLETE"}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutStack(ctx, &engine.StackRecord{Name: "r"}, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteStack(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		revs, err := s.ListRevisions(ctx, "r")
		if err != nil || len(revs) != 3 {
			t.Fatalf("ListRevisions = %v, %v", revs, err)
		}
		for i, want := range []int{1, 2, 10} {
			if revs[i].Number != want {
				t.Fatalf("revision %d is number %d, want %d", i, revs[i].Number, want)
			}
		}
		if revs[1].Status != "UPDATE_COMPLETE" || revs[2].Sealed["pw"] != "sealed" {
			t.Fatalf("revision contents: %+v %+v", revs[1], revs[2])
		}
		if revs, _ := s.ListRevisions(ctx, "nobody"); len(revs) != 0 {
			t.Fatalf("revisions of an unknown stack: %v", revs)
		}
	})
	t.Run("a record read is the caller's to change", func(t *testing.T) {
		s := newStore(t)
		rec := &engine.StackRecord{Name: "c", Template: strings.Repeat("x", 1000), Lease: &engine.Lease{Holder: "a"}, Previous: &engine.Revision{Number: 1}}
		if err := s.PutStack(ctx, rec, 0); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := s.GetStack(ctx, "c")
			if err != nil || got.Lease.Holder != "a" || got.Previous.Number != 1 || got.Status != "" {
				t.Fatalf("read: %+v %v", got, err)
			}
			got.Lease.Holder, got.Previous.Number, got.Status = "b", 2, "CHANGED"
		}
		rec.Status = "STORED"
		if err := s.PutStack(ctx, rec, rec.Version); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetStack(ctx, "c"); got.Status != "STORED" {
			t.Fatalf("a write is read back: %q", got.Status)
		}
	})
}
