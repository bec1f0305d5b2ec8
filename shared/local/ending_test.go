package local

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aos-project/aos/internal/testdynamo"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/statemachine"
)

// conflicting is the DynamoDB store with a concurrent writer: the first time node "a" is
// recorded as applied, another writer changes the record first, so the engine's conditional
// write fails for real.
type conflicting struct {
	engine.Store
	once sync.Once
}

func (c *conflicting) PutNode(ctx context.Context, n *engine.NodeRecord, expect int64) error {
	if n.ID == "a" && n.Status != engine.NodePending { // the apply's write (a ConfigMap is READY on it)
		c.once.Do(func() {
			if cur, err := c.Store.GetNode(ctx, n.Stack, n.ID); err == nil {
				_ = c.Store.PutNode(ctx, cur, cur.Version)
			}
		})
	}
	return c.Store.PutNode(ctx, n, expect)
}

// withTimeout is the real stack definition with one state's TimeoutSeconds made short, so a
// function that outlives it does so in a test's time.
func withTimeout(t *testing.T, state string, seconds int) []byte {
	var def map[string]any
	if err := json.Unmarshal(statemachine.StackDefinition, &def); err != nil {
		t.Fatal(err)
	}
	states := def["States"].(map[string]any)
	if state == "ApplyNode" {
		states = states["ApplyReady"].(map[string]any)["ItemProcessor"].(map[string]any)["States"].(map[string]any)
	}
	states[state].(map[string]any)["TimeoutSeconds"] = seconds
	out, _ := json.Marshal(def)
	return out
}

// Every way a function can fail mid-operation ends the operation: a store conflict, a
// function that runs past its state's timeout. (A record over DynamoDB's item limit no
// longer fails: TestLargeTemplatesOnBothStores.) Each runs the
// real ASL on the embedded runner against DynamoDB Local and the local cluster, and each ends with
// the stack CREATE_FAILED, its lease released, and the next up completing.
func TestEveryFailureEndsTheOperation(t *testing.T) {
	small := "format: aos/v1\nname: NAME\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {k: v}}\n"
	hang := func(real statemachine.Handler) statemachine.Handler {
		return func(ctx context.Context, p []byte) ([]byte, error) {
			if _, err := real(ctx, p); err != nil {
				return nil, err
			}
			<-ctx.Done() // a Lambda that never answers
			return nil, ctx.Err()
		}
	}
	for _, tc := range []struct {
		name, template, reason string
		store                  func(engine.Store) engine.Store
		def                    []byte
		apply                  func(statemachine.Handler) statemachine.Handler
	}{
		{name: "store-conflict", template: small, reason: "version conflict: someone else changed it first",
			store: func(s engine.Store) engine.Store { return &conflicting{Store: s} }},
		{name: "timeout", template: small, reason: `state "ApplyNode": task ran longer than 1s`,
			def: withTimeout(t, "ApplyNode", 1), apply: hang},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			db := testdynamo.Store(t)
			e.Store = db
			if tc.store != nil {
				e.Store = tc.store(db)
			}
			ctx := context.Background()
			src := strings.Replace(tc.template, "NAME", "end-"+tc.name, 1)
			name, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{TemplateRequest: engine.TemplateRequest{Template: src}}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = Run(context.Background(), e, name, engine.OpDelete) })
			def := tc.def
			if def == nil {
				def = statemachine.StackDefinition
			}
			fns := e.Functions()
			apply := adapt(fns[engine.FnApplyNode])
			if tc.apply != nil {
				apply = tc.apply(apply)
			}
			m, err := statemachine.Load(def, map[string]statemachine.Handler{
				ResValidate: adapt(fns[engine.FnValidate]), ResPlan: adapt(fns[engine.FnPlan]), ResApplyNode: apply,
				ResCheckReady: adapt(fns[engine.FnCheckReady]), ResSettle: adapt(fns[engine.FnSettle]),
				ResStartExecution: func(context.Context, []byte) ([]byte, error) { return []byte(`{}`), nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.NewExecution(name+"-create-r1").Run(ctx, []byte(`{"stack":"`+name+`","operation":"`+op+`"}`)); err == nil {
				t.Fatal("the execution succeeded")
			}
			st, err := db.GetStack(ctx, name)
			if err != nil || st.Status != engine.StackCreateFailed || st.Lease != nil || !strings.Contains(st.Reason, tc.reason) {
				t.Fatalf("after the failure: %v %s lease %v reason %q, want one containing %q", err, st.Status, st.Lease, st.Reason, tc.reason)
			}
			e.Store = db
			again := strings.Replace(small, "NAME", "end-"+tc.name, 1)
			if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{TemplateRequest: engine.TemplateRequest{Template: again}}}); err != nil {
				t.Fatalf("the next up: %v", err)
			}
			res, err := Run(ctx, e, name, engine.OpCreate)
			if err != nil || res.Err != nil {
				t.Fatalf("the next up's run: %v %v", err, res.Err)
			}
			if st, _ := db.GetStack(ctx, name); st.Status != engine.StackCreateComplete || st.Lease != nil {
				t.Fatalf("after the next up: %s lease %v", st.Status, st.Lease)
			}
		})
	}
}

// A template of 3 MiB (four ConfigMaps of 790 KB, each under the API server's 1 MiB object
// limit) creates and updates through the state machine on DynamoDB Local and on bbolt: the stack
// record then holds two copies of it, and each node record one ConfigMap.
func TestLargeTemplatesOnBothStores(t *testing.T) {
	var b strings.Builder
	b.WriteString("format: aos/v1\nname: large\ninputs:\n  v: {type: string, default: one}\nnodes:\n")
	for i := range 4 {
		fmt.Fprintf(&b, "  cm%d:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm%d}, data: {v: \"${inputs.v}\", big: %s}}\n", i, i, strings.Repeat(string(rune('a'+i)), 790_000))
	}
	src := b.String()
	if len(src) < 3<<20 {
		t.Fatalf("the template is %d bytes, under 3 MiB", len(src))
	}
	for _, store := range []string{"dynamodb", "bolt"} {
		t.Run(store, func(t *testing.T) {
			e := newEngine(t)
			if store == "dynamodb" {
				e.Store = testdynamo.Store(t)
			}
			ctx := context.Background()
			stack := fmt.Sprintf("large-%s-%d", store[:1], time.Now().UnixNano()%100000)
			t.Cleanup(func() { _, _ = Run(context.Background(), e, stack, engine.OpDelete) })
			for _, v := range []string{"one", "two"} {
				_, op, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src, Params: map[string]any{"v": v}}}})
				if err != nil {
					t.Fatalf("%s: %v", v, err)
				}
				res, err := Run(ctx, e, stack, op)
				if err != nil || res.Err != nil {
					st, _ := e.Store.GetStack(ctx, stack)
					t.Fatalf("%s %s: %v %v: %q", op, v, err, res.Err, st.Reason)
				}
				st, _ := e.Store.GetStack(ctx, stack)
				if want := map[string]engine.StackStatus{"one": engine.StackCreateComplete, "two": engine.StackUpdateComplete}[v]; st.Status != want || st.Template != src {
					t.Fatalf("%s: %s, template of %d bytes", v, st.Status, len(st.Template))
				}
			}
		})
	}
}
