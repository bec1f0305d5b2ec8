package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/local"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/wiring/embedded"
	"github.com/aos-project/aos/shared/wiring/lambdaapi"
)

const tpl = `format: aos/v1
name: triggered
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {index: "${stack.index}"}}
outputs:
  index: ${stack.index}
`

func setup(t *testing.T) (*Handler, *engine.Engine, *local.Runner) {
	testcluster.Config(t)
	e, closeFn, err := embedded.Engine(embedded.Options{StatePath: filepath.Join(t.TempDir(), "state.db"), Kubeconfig: os.Getenv(testcluster.KubeconfigEnv)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeFn() })
	// Batches are admitted by channel: this queue (the sample event's) and the AOS source.
	set, err := project.NewSet("projects.yaml", &project.Project{Name: "batches", Namespaces: []string{"*"}, Kinds: project.Kinds{Allow: []string{"*"}},
		Identities: []string{"sqs:arn:aws:sqs:us-west-2:123456789012:SQSQueue", "eventbridge:" + Source}},
		&project.Project{Name: "private", Identities: []string{"alice"}, Namespaces: []string{"*"}, Kinds: project.Kinds{Allow: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.Projects = set
	runner := local.NewRunner(context.Background(), e, zerolog.New(io.Discard))
	return &Handler{Engine: e, Batcher: runner}, e, runner
}

func batchBody(prefix string, count int) string {
	b, _ := json.Marshal(map[string]any{"template": tpl, "prefix": prefix, "count": count, "concurrency": 2, "project": "batches"})
	return string(b)
}

func cleanup(t *testing.T, prefix string, n int) {
	cs := testcluster.Client(t)
	t.Cleanup(func() {
		for i := range n {
			_ = cs.CoreV1().Namespaces().Delete(context.Background(), fmt.Sprintf("%s-%d", prefix, i), metav1.DeleteOptions{})
		}
	})
}

func checkBatch(t *testing.T, e *engine.Engine, prefix string, n int) {
	t.Helper()
	b, err := e.Batch(context.Background(), prefix)
	if err != nil || !b.Done || b.Count != n || b.Counts[engine.StackCreateComplete] != n {
		t.Fatalf("batch %s: %+v %v", prefix, b, err)
	}
	for _, m := range b.Instances {
		st, _ := e.Store.GetStack(context.Background(), m.Stack)
		if m.Stack != fmt.Sprintf("%s-%d", prefix, m.Index) || fmt.Sprint(st.Outputs["index"]) != fmt.Sprint(m.Index) {
			t.Fatalf("instance %s: index %d, output %v", m.Stack, m.Index, st.Outputs["index"])
		}
	}
}

// A real SQS event (aws-lambda-go's sample) with one good and one malformed message: the good
// one becomes a batch exactly as POST /v1/batches makes it; the malformed one is reported as
// failed, so SQS redelivers it and then dead-letters it, never dropped.
func TestSQSMessages(t *testing.T) {
	h, e, runner := setup(t)
	prefix := fmt.Sprintf("sqs%d", time.Now().UnixNano()%100000)
	cleanup(t, prefix, 3)
	raw, err := os.ReadFile("testdata/sqs-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	good := ev.Records[0]
	good.Body = batchBody(prefix, 3)
	badJSON, badField := good, good
	badJSON.MessageId, badJSON.Body = "MessageID_2", "Message Body"
	badField.MessageId, badField.Body = "MessageID_3", `{"template": "x", "prefix": "p", "count": 1, "concurrency": 1, "colour": "red"}`
	ev.Records = []events.SQSMessage{good, badJSON, badField}
	payload, _ := json.Marshal(ev)
	out, err := h.Handle(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	resp := out.(events.SQSEventResponse)
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if strings.Join(failed, ",") != "MessageID_2,MessageID_3" {
		t.Fatalf("failed messages: %v", failed)
	}
	runner.Wait()
	checkBatch(t, e, prefix, 3)
}

func TestEventBridgeEvent(t *testing.T) {
	h, e, runner := setup(t)
	prefix := fmt.Sprintf("eb%d", time.Now().UnixNano()%100000)
	cleanup(t, prefix, 2)
	raw, err := os.ReadFile("testdata/eventbridge-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	_ = json.Unmarshal(raw, &ev)
	var detail map[string]any
	_ = json.Unmarshal([]byte(batchBody(prefix, 2)), &detail)
	ev["detail"] = detail
	payload, _ := json.Marshal(ev)
	out, err := h.Handle(context.Background(), payload)
	if err != nil || out.(map[string]string)["batch"] != prefix {
		t.Fatalf("EventBridge event: %v %v", out, err)
	}
	runner.Wait()
	checkBatch(t, e, prefix, 2)
	// A malformed detail fails the invocation, so Lambda retries it and then dead-letters it.
	ev["detail"] = map[string]any{"prefix": "x"}
	payload, _ = json.Marshal(ev)
	if _, err := h.Handle(context.Background(), payload); err == nil || !strings.Contains(err.Error(), "template, prefix and project are required") {
		t.Fatalf("malformed detail: %v", err)
	}
	// A batch event from another source, even on the right bus, starts nothing; nor does a
	// sender naming a project that does not admit it.
	stacks := func() int { l, _ := e.Store.ListStacks(context.Background()); return len(l) }
	before := stacks()
	var other map[string]any
	_ = json.Unmarshal([]byte(batchBody(prefix+"x", 1)), &other)
	ev["detail"], ev["source"] = other, "com.example.attacker"
	payload, _ = json.Marshal(ev)
	if _, err := h.Handle(context.Background(), payload); err == nil || !strings.Contains(err.Error(), `only "aos.batch" events`) {
		t.Fatalf("another source: %v", err)
	}
	other["project"] = "private"
	ev["detail"], ev["source"] = other, Source
	payload, _ = json.Marshal(ev)
	if _, err := h.Handle(context.Background(), payload); err == nil || !strings.Contains(err.Error(), `identity "eventbridge:aos.batch" may not act on project "private"`) {
		t.Fatalf("a project that does not admit the sender: %v", err)
	}
	if stacks() != before {
		t.Fatal("a refused batch event recorded stacks")
	}
	if _, err := h.Handle(context.Background(), []byte(`{"hello": "world"}`)); err == nil {
		t.Fatal("an unknown event was accepted")
	}
}

// fakeSecretsManager answers GetSecretValue as the Secrets Manager API documents it
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html):
// JSON 1.1 over POST with X-Amz-Target secretsmanager.GetSecretValue; an unknown SecretId is
// a 400 ResourceNotFoundException. Loopback only.
func fakeSecretsManager(t *testing.T, secrets map[string]string) *secretsmanager.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		v, ok := secrets[in.SecretId]
		if !ok {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "n", "SecretString": v, "VersionId": "v1", "CreatedDate": 1.7e9})
	}))
	t.Cleanup(srv.Close)
	return secretsmanager.New(secretsmanager.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), RetryMaxAttempts: 1})
}

// A batch message names its secret inputs' Secrets Manager secrets and never carries their
// values: SQS and EventBridge would keep them in plain text, retry them and dead-letter them.
func TestBatchMessagesCarryNoSecrets(t *testing.T) {
	h, e, runner := setup(t)
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aos-batch/pw-AbCdEf"
	h.Secrets = &lambdaapi.SecretsManager{Client: fakeSecretsManager(t, map[string]string{arn: "from-secrets-manager"})}
	prefix := fmt.Sprintf("sec%d", time.Now().UnixNano()%100000)
	cleanup(t, prefix, 1)
	tplWithSecret := `format: aos/v1
name: triggered
inputs:
  pw: {type: string, secret: true}
nodes:
  creds: {manifest: {apiVersion: v1, kind: Secret, metadata: {name: creds}, stringData: {pw: "${inputs.pw}"}}}
`
	event := func(pw any) []byte {
		detail := map[string]any{"template": tplWithSecret, "prefix": prefix, "count": 1, "concurrency": 1, "project": "batches", "params": map[string]any{"pw": pw}}
		b, _ := json.Marshal(map[string]any{"version": "0", "id": "e1", "detail-type": DetailType, "source": Source, "detail": detail})
		return b
	}
	for _, bad := range []struct {
		pw   any
		says string
	}{
		{"in-plain-text", `secret input "pw" is given in plain text`},
		{map[string]any{"secretsManager": arn + "-gone"}, "ResourceNotFoundException"},
	} {
		if _, err := h.Handle(context.Background(), event(bad.pw)); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Fatalf("%v: %v, want %q", bad.pw, err, bad.says)
		}
	}
	if l, _ := e.Store.ListStacks(context.Background()); len(l) != 0 {
		t.Fatalf("a refused message recorded %d stacks", len(l))
	}
	if _, err := h.Handle(context.Background(), event(map[string]any{"secretsManager": arn})); err != nil {
		t.Fatal(err)
	}
	runner.Wait()
	cs := testcluster.Client(t)
	sec, err := cs.CoreV1().Secrets(prefix+"-0").Get(context.Background(), "creds", metav1.GetOptions{})
	if err != nil || string(sec.Data["pw"]) != "from-secrets-manager" {
		t.Fatalf("the instance's Secret: %v %v", sec, err)
	}
}
