package engine

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aos-project/aos/internal/gen"
)

func guestbook(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../templates/guestbook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The handlers are called the way Lambda calls them: JSON in, JSON out, through
// aws-lambda-go's handler adapter.
func invoke(t *testing.T, handler any, req any) (map[string]any, error) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(handler).Invoke(context.Background(), in)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m, nil
}

func TestValidateHandler(t *testing.T) {
	out, err := invoke(t, Validate, TemplateRequest{File: "guestbook.yaml", Template: guestbook(t), RawParams: map[string]string{"frontend_replicas": "4"}})
	if err != nil {
		t.Fatal(err)
	}
	if out["valid"] != true || out["nodes"] != 6.0 || out["edges"] != 5.0 || out["name"] != "guestbook" {
		t.Fatalf("validate guestbook = %v", out)
	}
	out, err = invoke(t, Validate, TemplateRequest{File: "guestbook.yaml", Template: guestbook(t), RawParams: map[string]string{"frontend_replicas": "99"}})
	if err != nil {
		t.Fatal(err)
	}
	probs := out["problems"].([]any)
	if out["valid"] != false || len(probs) != 1 {
		t.Fatalf("validate with replicas=99 = %v", out)
	}
	p := probs[0].(map[string]any)
	// A -p value's problem names the flag it came from, not a line of the template.
	if p["file"] != "-p frontend_replicas" || p["line"] != 0.0 || !strings.Contains(p["message"].(string), "less than or equal to 20") {
		t.Fatalf("problem = %v", p)
	}
}

func TestPlanHandler(t *testing.T) {
	out, err := invoke(t, Plan, PlanRequest{TemplateRequest: TemplateRequest{Template: guestbook(t)}, Stack: "gb-1"})
	if err != nil {
		t.Fatal(err)
	}
	var plan PlanResponse
	b, _ := json.Marshal(out)
	_ = json.Unmarshal(b, &plan)
	if plan.Stack != "gb-1" || plan.Namespace != "gb-1" {
		t.Fatalf("stack/namespace = %s/%s", plan.Stack, plan.Namespace)
	}
	want := []string{"redis-leader", "redis-leader-svc", "redis-follower-svc", "frontend-svc"}
	if !reflect.DeepEqual(plan.Ready, want) {
		t.Fatalf("first ready set = %v, want %v", plan.Ready, want)
	}
	if got := plan.LongestChain; !reflect.DeepEqual(got, []string{"redis-leader", "redis-follower", "frontend"}) {
		t.Fatalf("longest chain = %v", got)
	}
	for _, n := range plan.Nodes {
		if n.Action != ActionCreate || n.Kind == "" || n.Name == "" {
			t.Fatalf("node %+v", n)
		}
		if n.ID == "frontend" && !reflect.DeepEqual(n.DependsOn, []string{"redis-follower", "redis-leader-svc", "redis-follower-svc"}) {
			t.Fatalf("frontend depends on %v", n.DependsOn)
		}
	}
}

func TestPlanRendersNamesButNeverSecrets(t *testing.T) {
	src := `format: aos/v1
name: batch
inputs:
  n: {type: integer, default: 2}
  token: {type: string, secret: true}
nodes:
  job:
    count: ${inputs.n}
    manifest: {apiVersion: batch/v1, kind: Job, metadata: {name: "job-${stack.name}-${index}"}}
  leaky:
    manifest: {apiVersion: v1, kind: Secret, metadata: {name: "s-${inputs.token}"}, stringData: {t: "${inputs.token}"}}
`
	out, err := invoke(t, Plan, PlanRequest{TemplateRequest: TemplateRequest{Template: src, RawParams: map[string]string{"token": "tok-very-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if strings.Contains(string(b), "tok-very-secret") {
		t.Fatalf("secret in plan: %s", b)
	}
	for _, want := range []string{`"name":"job-batch-0"`, `"name":"job-batch-1"`, `"name":"s-${inputs.token}"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("plan lacks %s: %s", want, b)
		}
	}
}

func TestPlanRefusesInvalidTemplate(t *testing.T) {
	_, err := invoke(t, Plan, PlanRequest{TemplateRequest: TemplateRequest{Template: "format: aos/v1\nname: x\nnodes: {}\n"}})
	if err == nil || !strings.Contains(err.Error(), "template has no nodes") {
		t.Fatalf("plan of invalid template: %v", err)
	}
	if _, err := Plan(context.Background(), PlanRequest{TemplateRequest: TemplateRequest{Template: guestbook(t)}, Stack: "Bad_Name"}); err == nil || !strings.Contains(err.Error(), `stack name "Bad_Name"`) {
		t.Fatalf("bad stack name: %v", err)
	}
}

// BenchmarkPlan10k is the plan function on a 10,000-node template (20 levels of 500), JSON in
// and out as Lambda sees it.
func BenchmarkPlan10k(b *testing.B) {
	req, err := json.Marshal(PlanRequest{TemplateRequest: TemplateRequest{Template: string(gen.Layered(10000, 500))}})
	if err != nil {
		b.Fatal(err)
	}
	h := lambda.NewHandler(Plan)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
