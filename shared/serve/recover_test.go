package serve

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
)

// Through the API of aos serve, with real runs: cancel during an update rolls it back, and
// resume finishes an operation whose runner died before running it.
func TestCancelAndResumeThroughTheAPI(t *testing.T) {
	c, e := start(t, token, false)
	stack := fmt.Sprintf("recover-%d", time.Now().UnixNano()%100000)
	cleanupNamespaces(t, stack)
	cs := testcluster.Client(t)
	ctx := context.Background()
	if code, _ := c.do("POST", "/v1/stacks", map[string]any{"template": app, "stack": stack}, nil); code != 202 {
		t.Fatalf("create: %d", code)
	}
	c.wait(stack)
	if code, _ := c.do("PUT", "/v1/stacks/"+stack, map[string]any{"template": app, "params": map[string]any{"message": "two", "delay": "6s"}}, nil); code != 202 {
		t.Fatalf("update: %d", code)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, err := e.Store.GetNode(ctx, stack, "web"); err == nil && n.Status == engine.NodeWaiting && n.Revision == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the update never applied web")
		}
	}
	var cancelled struct{ CancelRequested bool }
	if code, _ := c.do("POST", "/v1/stacks/"+stack+"/cancel", nil, &cancelled); code != 202 || !cancelled.CancelRequested {
		t.Fatalf("cancel: %d %+v", code, cancelled)
	}
	// The update settles UPDATE_FAILED an instant before its rollback starts: wait past it.
	s := c.wait(stack)
	for deadline := time.Now().Add(time.Minute); s.Stack.Status == string(engine.StackUpdateFailed) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		s = c.wait(stack)
	}
	if s.Stack.Status != string(engine.StackRollbackComplete) {
		t.Fatalf("after cancel: %s %q", s.Stack.Status, s.Stack.Reason)
	}
	if cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{}); err != nil || cm.Data["message"] != "hello" {
		t.Fatalf("config after the rollback: %v %v", cm.Data, err)
	}

	// An update recorded by a runner that died before running it: its lease names a process
	// that has exited.
	if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: app, Params: map[string]any{"message": "three"}}}}); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	st, _ := e.Store.GetStack(ctx, stack)
	st.Lease.Holder = fmt.Sprintf("%s:%d", host, dead.Process.Pid)
	if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.do("POST", "/v1/stacks/"+stack+"/resume", nil, nil); code != 202 {
		t.Fatalf("resume: %d", code)
	}
	if s := c.wait(stack); s.Stack.Status != string(engine.StackUpdateComplete) {
		t.Fatalf("after resume: %s %q", s.Stack.Status, s.Stack.Reason)
	}
	if cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "config", metav1.GetOptions{}); err != nil || cm.Data["message"] != "three" {
		t.Fatalf("config after the resumed update: %v %v", cm.Data, err)
	}
}
