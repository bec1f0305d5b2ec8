package local

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/internal/testdynamo"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/store/metered"
)

// layered is a stack of levels × width Deployments under a ConfigMap: each Deployment reads
// the one above it, so levels come up one after another and each level's nodes together.
func layered(levels, width int) string {
	var b strings.Builder
	b.WriteString("format: aos/v1\nname: layered\nnodes:\n  root:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: root}}\n")
	for l := range levels {
		for w := range width {
			above := "root"
			if l > 0 {
				above = fmt.Sprintf("d%d-%d", l-1, w)
			}
			fmt.Fprintf(&b, `  d%d-%d:
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: d%d-%d, annotations: {above: "${nodes.%s.metadata.uid}"}}
      spec: {replicas: 1, selector: {matchLabels: {app: d%d-%d}},
             template: {metadata: {labels: {app: d%d-%d}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 300ms}},
                        spec: {containers: [{name: c, image: x}]}}}
`, l, w, l, w, above, l, w, l, w)
		}
	}
	return b.String()
}

// writeOps are the DynamoDB operations that write.
var writeOps = []string{"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}

// A node costs at most 3 store write requests on either store (the issue asks for 4): its
// record when applied, a share of the plan's and each turn's group writes of records (PENDING,
// READY: engine/putnodes.go), and a share of each turn's one event write (apply-node leaves
// its event to check-ready, engine/tell.go; a node waiting less than 5 s records no progress).
// Per node is the growth from a 1-node stack to a 25-node one, so the operation's own writes
// (stack record, revision, its events) are left out. Every node's WAITING and READY events
// are there, in that order.
func TestStoreWritesPerNode(t *testing.T) {
	for _, store := range []string{"bolt", "dynamodb"} {
		t.Run(store, func(t *testing.T) {
			e := newEngine(t)
			var writes func() int
			if store == "dynamodb" {
				db, reqs := testdynamo.Counted(t)
				e.Store = db
				writes = func() int {
					n := 0
					for _, op := range writeOps {
						n += reqs.Counts()[op]
					}
					return n
				}
			} else {
				m := metered.Wrap(e.Store)
				e.Store = m
				writes = func() int { _, w := m.Counts(); return int(w) }
			}
			cost := func(levels, width int) (nodes, w int) {
				stack := fmt.Sprintf("req-%s-%d-%d", store[:1], levels*width, time.Now().UnixNano()%100000)
				t.Cleanup(func() {
					_ = testcluster.Client(t).CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{})
				})
				before := writes()
				deploy(t, e, stack, engine.TemplateRequest{Template: layered(levels, width)})
				w = writes() - before
				checkTold(t, e, stack)
				return 1 + levels*width, w
			}
			n1, w1 := cost(0, 0)
			n, w := cost(4, 6)
			per := float64(w-w1) / float64(n-n1)
			t.Logf("%s: %d writes for %d node(s), %d for %d: %.2f per node", store, w1, n1, w, n, per)
			if per > 3 {
				t.Errorf("%.2f store write requests per node, want at most 3", per)
			}
		})
	}
}

// deploy creates a stack through the state machine.
func deploy(t *testing.T, e *engine.Engine, stack string, req engine.TemplateRequest) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: req}}); err != nil {
		t.Fatal(err)
	}
	if res, err := Run(ctx, e, stack, engine.OpCreate); err != nil || res.Err != nil {
		t.Fatalf("create %s: %v %v", stack, err, res.Err)
	}
}

// checkTold fails unless every node of the stack has a WAITING event and then a READY one.
func checkTold(t *testing.T, e *engine.Engine, stack string) {
	t.Helper()
	evs, err := e.Store.ListEvents(context.Background(), stack, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, ev := range evs {
		if ev.Node == "" {
			continue
		}
		switch {
		case ev.Status == string(engine.NodeWaiting) && seen[ev.Node] == "":
			seen[ev.Node] = "WAITING"
		case ev.Status == string(engine.NodeReady) && seen[ev.Node] == "WAITING":
			seen[ev.Node] = "READY"
		default:
			t.Errorf("%s: %s event %s after %q", stack, ev.Node, ev.Status, seen[ev.Node])
		}
	}
	nodes, _ := e.Store.ListNodes(context.Background(), stack)
	for _, n := range nodes {
		if seen[n.ID] != "READY" {
			t.Errorf("%s: node %s has events up to %q, want WAITING then READY", stack, n.ID, seen[n.ID])
		}
	}
}

// eventWrites counts the requests that append events.
type eventWrites struct {
	engine.Store
	n atomic.Int64
}

func (s *eventWrites) AppendEvent(ctx context.Context, ev *engine.Event) error {
	s.n.Add(1)
	return s.Store.AppendEvent(ctx, ev)
}

func (s *eventWrites) AppendEvents(ctx context.Context, evs []*engine.Event) error {
	s.n.Add(1)
	return s.Store.(interface {
		AppendEvents(context.Context, []*engine.Event) error
	}).AppendEvents(ctx, evs)
}

// In a chain of nodes slower than a second, each turn's events are one write: a check leaves
// the READY event of the node it found ready to the next check, which writes it with the
// WAITING event of the dependent the Map applied meanwhile (engine/tell.go). Writing it at
// once cost a second write per node. The operation's own events are two more: submitted,
// and complete with the last nodes' READY events (engine/check.go).
func TestASlowChainWritesOneEventRequestPerNode(t *testing.T) {
	e := newEngine(t)
	counted := &eventWrites{Store: e.Store}
	e.Store = counted
	const n = 3
	var b strings.Builder
	b.WriteString("format: aos/v1\nname: slow\nnodes:\n")
	for i := range n {
		dep := ""
		if i > 0 {
			dep = fmt.Sprintf("    dependsOn: [s%d]\n", i-1)
		}
		fmt.Fprintf(&b, `  s%d:
%s    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: s%d}
      spec: {replicas: 1, selector: {matchLabels: {app: s%d}},
             template: {metadata: {labels: {app: s%d}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1300ms}},
                        spec: {containers: [{name: c, image: x}]}}}
`, i, dep, i, i, i)
	}
	stack := fmt.Sprintf("slow-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() {
		_ = testcluster.Client(t).CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{})
	})
	deploy(t, e, stack, engine.TemplateRequest{Template: b.String()})
	checkTold(t, e, stack)
	if got := counted.n.Load(); got > n+2 {
		t.Errorf("%d event write requests for a chain of %d slow nodes, want at most %d", got, n, n+2)
	}
}
