package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// nodeStore keeps node records with versions, as the real stores do (they pass storetest);
// refuse decides whether a PutNodes group is refused whole.
type nodeStore struct {
	Store
	mu              sync.Mutex
	nodes           map[string]int64 // id → version
	groups, singles int
	refuse          func(group []*NodeRecord) error
}

func (m *nodeStore) PutNode(_ context.Context, n *NodeRecord, expect int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.singles++
	if m.nodes[n.ID] != expect {
		return fmt.Errorf("%w (%s)", ErrVersionConflict, n.ID)
	}
	m.nodes[n.ID], n.Version = expect+1, expect+1
	return nil
}

func (m *nodeStore) PutNodes(_ context.Context, group []*NodeRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups++
	if len(group) > MaxNodesPerWrite {
		return fmt.Errorf("a group of %d", len(group))
	}
	if err := m.refuse(group); err != nil {
		return err
	}
	for _, n := range group {
		if m.nodes[n.ID] != n.Version {
			return ErrVersionConflict
		}
	}
	for _, n := range group {
		n.Version++
		m.nodes[n.ID] = n.Version
	}
	return nil
}

func records(n int) []*NodeRecord {
	out := make([]*NodeRecord, n)
	for i := range out {
		out[i] = &NodeRecord{Stack: "s", ID: fmt.Sprintf("n%03d", i)}
	}
	return out
}

func TestPutNodesWritesGroups(t *testing.T) {
	m := &nodeStore{nodes: map[string]int64{}, refuse: func([]*NodeRecord) error { return nil }}
	e := &Engine{Store: m}
	recs := records(2*MaxNodesPerWrite + 50)
	if err := e.putNodes(context.Background(), recs, false); err != nil {
		t.Fatal(err)
	}
	if m.groups != 3 || m.singles != 0 {
		t.Fatalf("%d records in %d group writes and %d single ones, want 3 groups", len(recs), m.groups, m.singles)
	}
	for _, n := range recs {
		if n.Version != 1 || m.nodes[n.ID] != 1 {
			t.Fatalf("%s: version %d, stored %d", n.ID, n.Version, m.nodes[n.ID])
		}
	}
}

// A group the store refuses (too large for one request, say) is written a record at a time.
func TestPutNodesWritesARefusedGroupOneByOne(t *testing.T) {
	m := &nodeStore{nodes: map[string]int64{}, refuse: func(g []*NodeRecord) error {
		if g[0].ID == "n000" {
			return errors.New("transaction payload size cannot exceed 4MB")
		}
		return nil
	}}
	e := &Engine{Store: m}
	recs := records(MaxNodesPerWrite + 10)
	if err := e.putNodes(context.Background(), recs, false); err != nil {
		t.Fatal(err)
	}
	if m.groups != 2 || m.singles != MaxNodesPerWrite {
		t.Fatalf("%d group writes and %d single ones, want 2 and %d", m.groups, m.singles, MaxNodesPerWrite)
	}
	for _, n := range recs {
		if m.nodes[n.ID] != 1 {
			t.Fatalf("%s not written", n.ID)
		}
	}
}

// One stale record fails its group; the others are still written, and the stale one is an
// error unless losing is allowed.
func TestPutNodesKeepsAConflictToItsRecord(t *testing.T) {
	for _, lostOK := range []bool{false, true} {
		m := &nodeStore{nodes: map[string]int64{"n002": 5}, refuse: func([]*NodeRecord) error { return nil }}
		e := &Engine{Store: m}
		recs := records(4)
		err := e.putNodes(context.Background(), recs, lostOK)
		if lostOK != (err == nil) || (err != nil && !errors.Is(err, ErrVersionConflict)) {
			t.Fatalf("lostOK=%v: %v", lostOK, err)
		}
		for _, n := range recs {
			if want := map[bool]int64{true: 5, false: 1}[n.ID == "n002"]; m.nodes[n.ID] != want {
				t.Fatalf("lostOK=%v: %s stored at version %d, want %d", lostOK, n.ID, m.nodes[n.ID], want)
			}
		}
	}
}
