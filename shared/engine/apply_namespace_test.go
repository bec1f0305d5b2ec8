package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
)

// nsRequests counts the requests for one namespace object (not for what is in it).
type nsRequests struct {
	mu   sync.Mutex
	path string
	n    int
	rt   http.RoundTripper
}

func (c *nsRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == c.path {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return c.rt.RoundTrip(r)
}

// The applies of a turn start together, and each needs the stack's namespace to exist. One
// of them looks (a read, and an apply when it is missing) and the others wait for its answer:
// each looking for itself made 20 ConfigMaps cost 60 requests for their namespace.
func TestATurnLooksForItsNamespaceOnce(t *testing.T) {
	stack := fmt.Sprintf("nsonce-%d", time.Now().UnixNano()%100000)
	counted := &nsRequests{path: "/api/v1/namespaces/" + stack}
	e := countedEngine(t, func(rt http.RoundTripper) http.RoundTripper { counted.rt = rt; return counted })
	cs := testcluster.Client(t)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := `format: aos/v1
name: nsonce
nodes:
  c:
    count: 20
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: "c-${index}"}, data: {k: v}}
`
	res := createThroughTheStateMachine(t, e, stack, src)
	if st, _ := e.Store.GetStack(context.Background(), stack); st.Status != engine.StackCreateComplete {
		t.Fatalf("stack is %s", st.Status)
	}
	if maps := mapIterations(res); len(maps) == 0 || maps[0] < 2 {
		t.Fatalf("Map iterations %v: the test needs the first turn to apply nodes side by side", maps)
	}
	counted.mu.Lock()
	defer counted.mu.Unlock()
	// A read to see it is missing, and the apply that creates it (which reads first).
	if counted.n > 3 {
		t.Fatalf("%d requests for namespace %s from one turn of 20 applies: each apply looked for it", counted.n, stack)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), stack, metav1.GetOptions{}); err != nil {
		t.Fatalf("the stack's namespace: %v", err)
	}
}
