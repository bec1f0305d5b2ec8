package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/store/bolt"
	"github.com/aos-project/aos/shared/store/dynamo"
)

// newEngine returns an engine on the named store ("bolt" or "dynamodb", the latter in
// DynamoDB Local) and a function that dumps everything the store holds, for secret checks.
func newEngine(t *testing.T, store string) (*engine.Engine, func() []byte) {
	t.Helper()
	dir := t.TempDir()
	sealer, err := secrets.LoadOrCreate(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := kube.New(testcluster.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	e := &engine.Engine{
		Sealer: sealer, MaxWait: 5 * time.Second,
		Kube: func(context.Context, kube.Access) (*kube.Client, error) { return client, nil },
	}
	switch store {
	case "bolt":
		path := filepath.Join(dir, "state.db")
		st, err := bolt.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e.Store = st
		return e, func() []byte {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
	case "dynamodb":
		ep := os.Getenv("AOS_TEST_DYNAMODB_ENDPOINT")
		if ep == "" {
			t.Fatal("AOS_TEST_DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local, or `eval $(hack/dynamodb.sh up)` before `go test`")
		}
		db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
		table := fmt.Sprintf("aos-engine-%d", time.Now().UnixNano())
		if err := dynamo.CreateTable(context.Background(), db, table); err != nil {
			t.Fatal(err)
		}
		e.Store = dynamo.New(db, table)
		return e, func() []byte {
			out, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			var all bytes.Buffer
			for _, item := range out.Items {
				fmt.Fprint(&all, item)
				if d, ok := item["data"].(*dbtypes.AttributeValueMemberS); ok {
					all.WriteString(d.Value)
				}
			}
			if out.LastEvaluatedKey != nil {
				t.Fatal("scan needs paging; the test stack is larger than expected")
			}
			return all.Bytes()
		}
	}
	t.Fatalf("unknown store %q", store)
	return nil, nil
}

// drive plays the state machine's loop: apply the startable set in parallel, check, repeat.
// (The ASL definition does the same with a Map state and a Choice.)
func drive(t *testing.T, e *engine.Engine, stack string, first []string) (engine.CheckResponse, int) {
	t.Helper()
	ctx := context.Background()
	next, turns := first, 0
	for {
		var wg sync.WaitGroup
		for _, id := range next {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.ApplyNode(ctx, engine.NodeRequest{Stack: stack, Node: id}); err != nil {
					t.Errorf("apply %s: %v", id, err)
				}
			}()
		}
		wg.Wait()
		resp, err := e.CheckReady(ctx, engine.CheckRequest{Stack: stack})
		if err != nil {
			t.Fatal(err)
		}
		turns++
		if resp.Done || resp.Failure && resp.InFlight == 0 || turns > 200 {
			return resp, turns
		}
		next = resp.Startable
		if len(next) == 0 && resp.WaitSeconds > 0 {
			time.Sleep(time.Duration(resp.WaitSeconds) * 100 * time.Millisecond)
		}
	}
}

const shop = `format: aos/v1
name: shop
inputs:
  db_password: {type: string, secret: true, minLength: 12}
  replicas: {type: integer, default: 2}
nodes:
  db-auth:
    manifest: {apiVersion: v1, kind: Secret, metadata: {name: db-auth}, stringData: {password: "${inputs.db_password}"}}
  db:
    dependsOn: [db-auth]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: db}
      spec:
        replicas: 1
        selector: {matchLabels: {app: db}}
        template:
          metadata: {labels: {app: db}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1500ms}}
          spec: {containers: [{name: pg, image: postgres}]}
  db-svc:
    manifest: {apiVersion: v1, kind: Service, metadata: {name: db}, spec: {type: NodePort, selector: {app: db}, ports: [{port: 5432}]}}
    outputs: {port: ".spec.ports[0].nodePort"}
  settings:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: settings}
      data:
        url: "postgres://app:${inputs.db_password}@${nodes.db-svc.spec.clusterIP}:${nodes.db-svc.outputs.port}/shop"
        stack: ${stack.name}
  web:
    dependsOn: [db, settings]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        replicas: ${inputs.replicas}
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}}
          spec:
            containers:
            - name: web
              image: shop
              env: [{name: DB_PORT, value: "port ${nodes.db-svc.spec.ports[0].nodePort}"}]
outputs:
  db_port: ${nodes.db-svc.outputs.port}
  where: ${stack.namespace}
`

func TestCreateStackEndToEnd(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"bolt", "dynamodb"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			createStackEndToEnd(t, store)
		})
	}
}

func createStackEndToEnd(t *testing.T, store string) {
	e, dump := newEngine(t, store)
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("shop-%s-%d", store[:4], time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	const password = "correct-horse-battery-staple"
	created, err := e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
		TemplateRequest: engine.TemplateRequest{Template: shop, RawParams: map[string]string{"db_password": password}}}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, turns := drive(t, e, stack, created.Ready)
	took := time.Since(start)
	if !resp.Done || resp.Status != engine.StackCreateComplete {
		nodes, _ := e.Store.ListNodes(ctx, stack)
		for _, n := range nodes {
			t.Logf("%s %s %s %s", n.ID, n.Status, n.Reason, n.Message)
		}
		t.Fatalf("stack not complete: %+v", resp)
	}
	t.Logf("stack READY in %v over %d check-ready turns", took.Round(time.Millisecond), turns)
	// db takes 1.5 s to become ready and web waits for it. Timing under load is for
	// make bench; here the structure is checked: readiness is noticed by watching, in a few
	// check-ready turns, not by a poll per interval.
	if took < 1500*time.Millisecond {
		t.Errorf("READY after %v, before db's 1.5 s readiness delay", took)
	}
	if turns > 6 {
		t.Errorf("%d check-ready turns for a 3-level stack: readiness is being polled, not watched", turns)
	}

	svc, err := cs.CoreV1().Services(stack).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := svc.Spec.Ports[0].NodePort
	web, err := cs.AppsV1().Deployments(stack).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := web.Spec.Template.Spec.Containers[0].Env[0].Value; got != fmt.Sprintf("port %d", port) {
		t.Fatalf("web's DB_PORT = %q, want the allocated nodePort %d", got, port)
	}
	if *web.Spec.Replicas != 2 {
		t.Fatalf("replicas = %d", *web.Spec.Replicas)
	}
	cm, _ := cs.CoreV1().ConfigMaps(stack).Get(ctx, "settings", metav1.GetOptions{})
	if want := fmt.Sprintf("postgres://app:%s@%s:%d/shop", password, svc.Spec.ClusterIP, port); cm.Data["url"] != want {
		t.Fatalf("settings url = %q, want %q", cm.Data["url"], want)
	}
	st, _ := e.Store.GetStack(ctx, stack)
	if st.Outputs["db_port"] != float64(port) || st.Outputs["where"] != stack {
		t.Fatalf("outputs = %v", st.Outputs)
	}
	// Order: web started only after db was READY.
	db, _ := e.Store.GetNode(ctx, stack, "db")
	w, _ := e.Store.GetNode(ctx, stack, "web")
	if !w.AppliedAt.After(db.ReadyAt) && !w.AppliedAt.Equal(db.ReadyAt) {
		t.Fatalf("web applied at %v, before db was ready at %v", w.AppliedAt, db.ReadyAt)
	}
	// The secret is applied to the cluster but kept nowhere in the store in plain text.
	if raw := dump(); !bytes.Contains(raw, []byte(`"db-auth"`)) || bytes.Contains(raw, []byte(password)) {
		t.Fatal("the store does not hold the stack, or holds the secret input's value in plain text")
	}
	// Live values keep what the template reads: db-svc's spec (clusterIP, the port output),
	// nothing of settings, which nothing reads.
	settings, _ := e.Store.GetNode(ctx, stack, "settings")
	dbSvc, _ := e.Store.GetNode(ctx, stack, "db-svc")
	if settings.Live != nil || dbSvc.Live["spec"] == nil || dbSvc.Live["status"] != nil || dbSvc.Live["metadata"] != nil {
		t.Fatalf("live values kept: settings %v, db-svc keys %v", settings.Live, dbSvc.Keep)
	}

	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	if len(evs) < 11 {
		t.Fatalf("only %d events", len(evs))
	}
	for _, ev := range evs {
		if strings.Contains(ev.Message, password) {
			t.Fatalf("secret in event %+v", ev)
		}
	}
	// Applying again is idempotent.
	again, err := e.ApplyNode(ctx, engine.NodeRequest{Stack: stack, Node: "web"})
	if err != nil || again.Status != engine.NodeReady {
		t.Fatalf("re-apply of a READY node: %+v %v", again, err)
	}
}

func TestNodeThatTimesOutFailsTheStack(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	stack := fmt.Sprintf("slow-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := `format: aos/v1
name: slow
nodes:
  slow:
    ready: {timeout: 2s}
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: slow}
      spec: {replicas: 1, selector: {matchLabels: {app: slow}},
             template: {metadata: {labels: {app: slow}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 60s}}, spec: {containers: [{name: c, image: x}]}}}
  after:
    dependsOn: [slow]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: after}}
`
	created, err := e.Create(context.Background(), engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, _ := drive(t, e, stack, created.Ready)
	took := time.Since(start)
	if !resp.Failure || resp.Status != engine.StackCreateFailed {
		t.Fatalf("want failure, got %+v", resp)
	}
	n, _ := e.Store.GetNode(context.Background(), stack, "slow")
	if n.Status != engine.NodeFailed || n.Reason != "Timeout" || !strings.Contains(n.Message, "not ready after 2s") {
		t.Fatalf("slow node = %s %s %s", n.Status, n.Reason, n.Message)
	}
	// The upper bound is loose for loaded machines; what matters is that the watch wakes
	// up for the timeout instead of sleeping through it.
	if took < 2*time.Second || took > 15*time.Second {
		t.Fatalf("timeout noticed after %v; want soon after 2s", took)
	}
	after, _ := e.Store.GetNode(context.Background(), stack, "after")
	if after.Status != engine.NodePending {
		t.Fatalf("a dependent of a failed node was started: %s", after.Status)
	}
	st, _ := e.Store.GetStack(context.Background(), stack)
	if !strings.Contains(st.Reason, `node "slow": Timeout`) {
		t.Fatalf("stack reason = %q", st.Reason)
	}
}

func TestApplyFailureIsRecordedWithTheServerMessage(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	stack := fmt.Sprintf("bad-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := `format: aos/v1
name: bad
nodes:
  broken:
    manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: broken}, spec: {template: {spec: {containers: [{name: c, image: x}]}}}}
`
	created, err := e.Create(context.Background(), engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := drive(t, e, stack, created.Ready)
	n, _ := e.Store.GetNode(context.Background(), stack, "broken")
	if !resp.Failure || n.Status != engine.NodeFailed || n.Reason != "ApplyFailed" || !strings.Contains(n.Message, "spec.selector: Required value") {
		t.Fatalf("broken node = %s %s %q (resp %+v)", n.Status, n.Reason, n.Message, resp)
	}
	// A failed create is created again in place by the next submission (and fails the
	// same way here).
	again, err := e.Create(context.Background(), engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil {
		t.Fatalf("second create of the same stack: %v", err)
	}
	if resp, _ := drive(t, e, stack, again.Ready); !resp.Failure || resp.Status != engine.StackCreateFailed {
		t.Fatalf("second create: %+v", resp)
	}
	if st, _ := e.Store.GetStack(context.Background(), stack); st.Revision != 2 {
		t.Fatalf("revision after creating again: %d", st.Revision)
	}
}

// The same stack on the embedded store and on DynamoDB gives the same events and end state.
func TestBothStoresGiveTheSameEventsAndEndState(t *testing.T) {
	t.Parallel()
	const chain = `format: aos/v1
name: same
nodes:
  a:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {v: "1"}}
  b:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: {from: "${nodes.a.metadata.name}"}}
  c:
    dependsOn: [b]
    manifest: {apiVersion: v1, kind: Secret, metadata: {name: c}, stringData: {k: v}}
outputs:
  b: ${nodes.b.data.from}
`
	type run struct {
		events []string
		nodes  map[string]string
		out    map[string]any
	}
	deploy := func(store string) run {
		e, _ := newEngine(t, store)
		cs := testcluster.Client(t)
		stack := fmt.Sprintf("same-%s-%d", store[:4], time.Now().UnixNano()%100000)
		t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
		created, err := e.Create(context.Background(), engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: chain}}})
		if err != nil {
			t.Fatal(err)
		}
		drive(t, e, stack, created.Ready)
		var r run
		evs, _ := e.Store.ListEvents(context.Background(), stack, 0, 0)
		for _, ev := range evs {
			r.events = append(r.events, ev.Node+"/"+ev.Status+"/"+ev.Reason)
		}
		nodes, _ := e.Store.ListNodes(context.Background(), stack)
		r.nodes = map[string]string{}
		for _, n := range nodes {
			r.nodes[n.ID] = string(n.Status) + " " + n.Ref.Kind + "/" + n.Ref.Name
		}
		st, _ := e.Store.GetStack(context.Background(), stack)
		r.out = st.Outputs
		r.nodes["(stack)"] = string(st.Status)
		return r
	}
	bolt, dyn := deploy("bolt"), deploy("dynamodb")
	if fmt.Sprint(bolt.events) != fmt.Sprint(dyn.events) {
		t.Fatalf("events differ:\n bolt %v\n dynamodb %v", bolt.events, dyn.events)
	}
	if fmt.Sprint(bolt.nodes) != fmt.Sprint(dyn.nodes) || fmt.Sprint(bolt.out) != fmt.Sprint(dyn.out) {
		t.Fatalf("end state differs:\n bolt %v %v\n dynamodb %v %v", bolt.nodes, bolt.out, dyn.nodes, dyn.out)
	}
	if bolt.nodes["(stack)"] != string(engine.StackCreateComplete) || bolt.out["b"] != "a" {
		t.Fatalf("unexpected end state %v %v", bolt.nodes, bolt.out)
	}
	t.Logf("%d identical events on both stores", len(bolt.events))
}

// A live value the template reads is kept, with secret inputs redacted in it and in outputs.
func TestKeptLiveValuesAreRedacted(t *testing.T) {
	t.Parallel()
	e, dump := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	stack := fmt.Sprintf("keep-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	const pw = "kept-value-secret-123"
	src := `format: aos/v1
name: keep
inputs:
  pw: {type: string, secret: true}
nodes:
  cfg:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}, data: {url: "db://u:${inputs.pw}@h"}}
outputs:
  url: {value: "${nodes.cfg.data.url}", sensitive: true}
`
	created, err := e.Create(context.Background(), engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
		TemplateRequest: engine.TemplateRequest{Template: src, RawParams: map[string]string{"pw": pw}}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := drive(t, e, stack, created.Ready); !resp.Done {
		t.Fatalf("not done: %+v", resp)
	}
	n, _ := e.Store.GetNode(context.Background(), stack, "cfg")
	url, _ := n.Live["data"].(map[string]any)["url"].(string)
	if !n.Trimmed || fmt.Sprint(n.Keep) != "[data]" || !strings.Contains(url, secrets.Redacted) || strings.Contains(url, pw) {
		t.Fatalf("kept live value: trimmed %v keep %v url %q", n.Trimmed, n.Keep, url)
	}
	st, _ := e.Store.GetStack(context.Background(), stack)
	if out := fmt.Sprint(st.Outputs["url"]); out != "(sensitive)" {
		t.Fatalf("output: %q", out)
	}
	if bytes.Contains(dump(), []byte(pw)) {
		t.Fatal("the secret is in the store")
	}
}

// barrier holds the first n reads of one node until all n have read it, forcing duplicate
// apply-node calls to interleave: both read PENDING, both apply, one write loses.
type barrier struct {
	engine.Store
	node string
	mu   sync.Mutex
	left int
	all  chan struct{}
}

func (b *barrier) GetNode(ctx context.Context, stack, id string) (*engine.NodeRecord, error) {
	n, err := b.Store.GetNode(ctx, stack, id)
	if id != b.node {
		return n, err
	}
	b.mu.Lock()
	if b.left == 0 {
		b.mu.Unlock()
		return n, err
	}
	b.left--
	if b.left == 0 {
		close(b.all)
	}
	b.mu.Unlock()
	<-b.all
	return n, err
}

// Step Functions and Lambda deliver at least once: two apply-node calls for one node at the
// same moment make one object and one event, and neither fails the operation.
func TestDuplicateApplyNodeIsOneApply(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, "bolt")
	cs := testcluster.Client(t)
	ctx := context.Background()
	stack := fmt.Sprintf("dup-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{}) })
	src := "format: aos/v1\nname: dup\nnodes:\n  cm:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}}\n"
	created, err := e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}})
	if err != nil || len(created.Ready) != 1 {
		t.Fatalf("create: %+v %v", created, err)
	}
	e.Store = &barrier{Store: e.Store, node: "cm", left: 2, all: make(chan struct{})}
	var wg sync.WaitGroup
	resps := make([]engine.NodeResponse, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = e.ApplyNode(ctx, engine.NodeRequest{Stack: stack, Node: "cm"})
		}()
	}
	wg.Wait()
	for i := range 2 {
		// A ConfigMap is READY on its apply; the call that lost the write reports that too.
		if errs[i] != nil || resps[i].Status != engine.NodeReady {
			t.Fatalf("call %d: %+v %v", i, resps[i], errs[i])
		}
	}
	evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
	applied := 0
	for _, ev := range evs {
		if ev.Node == "cm" && ev.Status == "WAITING" {
			applied++
		}
	}
	if applied != 1 {
		t.Fatalf("%d apply events for one node: %+v", applied, evs)
	}
	if resp, _ := drive(t, e, stack, nil); !resp.Done {
		t.Fatalf("the stack after a duplicate apply: %+v", resp)
	}
}

// Every secret input — an object, a list, a number, a three-character string — stays secret
// in every form a reference derived it into (a leaf, a number turned into text, inside a longer
// string, base64 in a Secret's data, quoted in the API server's refusal): nothing the engine
// writes holds it, neither the store (records, events, revisions), nor debug logs, nor the
// plan of an update, nor the outputs, which the template must mark sensitive.
func TestObjectSecretsStaySecret(t *testing.T) {
	for _, store := range []string{"bolt", "dynamodb"} {
		t.Run(store, func(t *testing.T) {
			e, dump := newEngine(t, store)
			cs := testcluster.Client(t)
			var logs bytes.Buffer
			ctx := zerolog.New(&logs).Level(zerolog.DebugLevel).WithContext(context.Background())
			stack := fmt.Sprintf("objsec-%s-%d", store[:4], time.Now().UnixNano()%100000)
			t.Cleanup(func() {
				for _, ns := range []string{stack, stack + "-bad"} {
					_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
				}
			})
			src := `format: aos/v1
name: objsec
inputs:
  creds: {type: object, secret: true}
  tags: {type: array, secret: true}
  pin: {type: integer, secret: true}
  short: {type: string, secret: true}
nodes:
  secret:
    manifest:
      apiVersion: v1
      kind: Secret
      metadata: {name: creds}
      stringData: {password: "${inputs.creds.password}", tag: "${inputs.tags[0]}", short: "${inputs.short}", pin: "${inputs.pin}"}
  cm:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: copy}
      data: {pin: "${inputs.creds.pin}", note: "pw=${inputs.creds.password}", short: "${inputs.short}", tag: "${inputs.tags[1]}", n: "${inputs.pin}",
             upper: "${inputs.creds.password.upperAscii()}", joined: "${inputs.tags.join('+')}"}
outputs:
  pin: {value: "${inputs.creds.pin}", sensitive: true}
  all: {value: "${inputs.creds}", sensitive: true}
  note: {value: "${nodes.cm.data.note}", sensitive: true}
  upper: {value: "${nodes.cm.data.upper}", sensitive: true}
  name: ${nodes.secret.metadata.name}
`
			// (Numbers long enough never to turn up by chance in a timestamp's nanoseconds.)
			params := map[string]any{"creds": map[string]any{"password": "hunter2hunter2", "pin": 90817263.0},
				"tags": []any{"alpha-tag-secret", "zz~"}, "pin": 7.0, "short": "q~x"}
			// (Expressions derive forms no text search knows: the fields they fill are masked.)
			leaks := []string{"hunter2hunter2", "HUNTER2HUNTER2", "90817263", "alpha-tag-secret", "zz~", "q~x", base64.StdEncoding.EncodeToString([]byte("hunter2hunter2"))}
			created, err := e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
				TemplateRequest: engine.TemplateRequest{Template: src, Params: params}}})
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := drive(t, e, stack, created.Ready)
			st, _ := e.Store.GetStack(ctx, stack)
			if !resp.Done {
				nodes, _ := e.Store.ListNodes(ctx, stack)
				for _, n := range nodes {
					t.Logf("%s %s %s %s", n.ID, n.Status, n.Reason, n.Message)
				}
				t.Fatalf("stack not complete: %s %s", st.Status, st.Reason)
			}
			if st.Outputs["pin"] != "(sensitive)" || st.Outputs["all"] != "(sensitive)" || st.Outputs["name"] != "creds" {
				t.Fatalf("outputs: %v", st.Outputs)
			}
			// Where a short secret is a whole value, it is replaced (a search for "7" would
			// find every timestamp).
			cm, _ := e.Store.GetNode(ctx, stack, "cm")
			if data, _ := cm.Live["data"].(map[string]any); data["n"] != secrets.Redacted || data["short"] != secrets.Redacted {
				t.Fatalf("short secrets in the live ConfigMap: %v", cm.Live["data"])
			}
			// The same stack, previewed as an update: the plan shows no secret either.
			plan, err := e.Preview(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack,
				TemplateRequest: engine.TemplateRequest{Template: src, Params: params}}}, true)
			if err != nil {
				t.Fatal(err)
			}
			planJSON, _ := json.Marshal(plan)
			// A stack the API server refuses, quoting the short secret in its error.
			bad := "format: aos/v1\nname: bad\ninputs:\n  short: {type: string, secret: true}\nnodes:\n" +
				"  cm: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x, labels: {l: '${inputs.short}!!'}}}}\n"
			created, err = e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack + "-bad",
				TemplateRequest: engine.TemplateRequest{Template: bad, Params: map[string]any{"short": "q~x"}}}})
			if err != nil {
				t.Fatal(err)
			}
			if resp, _ := drive(t, e, stack+"-bad", created.Ready); resp.Done {
				t.Fatal("a label the API server refuses was applied")
			}
			nodes, _ := e.Store.ListNodes(ctx, stack+"-bad")
			if len(nodes) != 1 || !strings.Contains(nodes[0].Message, `"(sensitive)!!"`) {
				t.Fatalf("the refusal does not quote the label, redacted: %+v", nodes[0])
			}
			out, _ := json.Marshal(st.Outputs)
			written := map[string]string{"the store": string(dump()), "the debug log": logs.String(), "the outputs": string(out), "the plan": string(planJSON)}
			for _, leak := range leaks {
				for where, text := range written {
					if strings.Contains(text, leak) {
						i := strings.Index(text, leak)
						t.Errorf("%q in %s: …%s…", leak, where, text[max(0, i-80):min(len(text), i+80)])
					}
				}
			}
		})
	}
}

// Two state files that each hold a stack "demo" in the same namespace do not take each
// other's objects: an object belongs to the stack whose UID it carries, not to any stack of
// that name.
func TestStacksOfTheSameNameInTwoStoresStayApart(t *testing.T) {
	cs := testcluster.Client(t)
	ctx := context.Background()
	ns := testcluster.Namespace(t, cs, "uid")
	src := "format: aos/v1\nname: demo\nnodes:\n  cm:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: shared}, data: {from: '${inputs.who}'}}\ninputs:\n  who: {type: string}\n"
	var uids []string
	for i, who := range []string{"first", "second"} {
		e, _ := newEngine(t, "bolt")
		created, err := e.Create(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: "demo", Namespace: ns,
			TemplateRequest: engine.TemplateRequest{Template: src, RawParams: map[string]string{"who": who}}}})
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := drive(t, e, "demo", created.Ready)
		n, _ := e.Store.GetNode(ctx, "demo", "cm")
		st, _ := e.Store.GetStack(ctx, "demo")
		uids = append(uids, st.UID)
		if i == 0 && !resp.Done {
			t.Fatalf("the first stack: %s %s", n.Status, n.Message)
		}
		if i == 1 && (resp.Done || n.Reason != "OwnedElsewhere" || !strings.Contains(n.Message, "stack UID "+uids[0])) {
			t.Fatalf("the second store's demo took the first one's object: %s %s %s", n.Status, n.Reason, n.Message)
		}
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "shared", metav1.GetOptions{})
	if err != nil || cm.Data["from"] != "first" || cm.Annotations["aos.dev/stack-uid"] != uids[0] || uids[0] == uids[1] {
		t.Fatalf("the object: %v %v (uids %v)", cm.Data, cm.Annotations, uids)
	}
}
