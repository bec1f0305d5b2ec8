package template

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const featureTemplate = `format: aos/v1
name: shop
inputs:
  workers: {type: integer, default: 2, minimum: 0}
  with_cache: {type: boolean, default: false}
  db_password: {type: string, secret: true, minLength: 12}
  labels: {type: object, default: {team: shop}}
nodes:
  db-auth:
    manifest: {apiVersion: v1, kind: Secret, metadata: {name: db-auth}, stringData: {password: "${inputs.db_password}"}}
  db:
    dependsOn: [db-auth]
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: db, labels: "${inputs.labels}"}
      spec: {replicas: 1}
  db-svc:
    manifest: {apiVersion: v1, kind: Service, metadata: {name: db}, spec: {ports: [{port: 5432}]}}
    outputs: {host: .spec.clusterIP}
  cache:
    when: ${inputs.with_cache}
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cache}}
  worker:
    count: ${inputs.workers}
    dependsOn: [db, cache]
    manifest:
      apiVersion: batch/v1
      kind: Job
      metadata: {name: "worker-${index}"}
      spec: {template: {spec: {containers: [{name: w, image: w, env: [{name: DB, value: "${nodes.db-svc.outputs.host}:5432"}, {name: LIT, value: "$${HOME}"}]}]}}}
  report:
    dependsOn: [worker]
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: report}}
    ready:
      timeout: 90s
      conditions: [{path: .data.done, op: "==", value: "yes"}]
    deletePolicy: retain
outputs:
  db_host: ${nodes.db-svc.outputs.host}
`

func TestValidTemplateExpandsCountsAndConditions(t *testing.T) {
	r, probs := Validate("shop.yaml", []byte(featureTemplate), Params{Raw: map[string]string{"db_password": "correct-horse-battery", "workers": "3"}})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	ids := make([]string, len(r.Instances))
	for i, in := range r.Instances {
		ids[i] = in.ID
	}
	if want := []string{"db-auth", "db", "db-svc", "worker-0", "worker-1", "worker-2", "report"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("instances = %v, want %v", ids, want)
	}
	if !reflect.DeepEqual(r.Skipped, []string{"cache"}) {
		t.Fatalf("skipped = %v", r.Skipped)
	}
	levels, err := r.Graph.Levels()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"db-auth", "db-svc"}, {"db"}, {"worker-0", "worker-1", "worker-2"}, {"report"}}
	if !reflect.DeepEqual(levels, want) {
		t.Fatalf("levels = %v, want %v", levels, want)
	}
	if got := r.Graph.DependsOn("report"); !reflect.DeepEqual(got, []string{"worker-0", "worker-1", "worker-2"}) {
		t.Fatalf("report depends on %v", got)
	}
	rep := r.Template.Node("report")
	if rep.Ready.Timeout.String() != "1m30s" || rep.DeletePolicy != "retain" || rep.Ready.Conditions[0].Path.String() != ".data.done" {
		t.Fatalf("report options parsed wrong: %+v", rep)
	}
	if r.Inputs["workers"] != int64(3) || !reflect.DeepEqual(r.Inputs["labels"], map[string]any{"team": "shop"}) {
		t.Fatalf("inputs = %v", r.Inputs)
	}
}

func TestQuotedLoneReferencesAreText(t *testing.T) {
	src := "format: aos/v1\nname: q\ninputs:\n  n: {type: integer, default: 2}\nnodes:\n  a:\n    manifest:\n" +
		"      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: a, labels: {n: '${inputs.n}'}}\n" +
		"      data:\n        typed: ${inputs.n}\n        quoted: \"${inputs.n}\"\n        mixed: \"n=${inputs.n}\"\n        list: [\"${inputs.n}\"]\n" +
		"outputs:\n  o: \"${inputs.n}\"\n  p: ${inputs.n}\n"
	tpl, probs := Parse("q.yaml", []byte(src))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	got := append([]string{}, tpl.Node("a").TextRefs...)
	slices.Sort(got)
	if want := []string{".data.list[0]", ".data.quoted", ".metadata.labels.n"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("TextRefs = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(tpl.Outputs[0].TextRefs, []string{""}) || tpl.Outputs[1].TextRefs != nil {
		t.Fatalf("output TextRefs = %q, %q", tpl.Outputs[0].TextRefs, tpl.Outputs[1].TextRefs)
	}
	js := `{"format": "aos/v1", "name": "q", "inputs": {"n": {"type": "integer", "default": 2}}, "nodes": {"a": {"manifest": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "spec": {"replicas": "${inputs.n}"}}}}}`
	tpl, probs = Parse("q.json", []byte(js))
	if len(probs) > 0 || tpl.Node("a").TextRefs != nil {
		t.Fatalf("JSON keeps types: %v %v", probs, tpl.Node("a").TextRefs)
	}
}

func TestJSONAndYAMLGiveTheSameModel(t *testing.T) {
	y, probs := Parse("a.yaml", []byte(featureTemplate))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	var generic map[string]any
	yr, _ := DecodeValues("a.yaml", []byte(featureTemplate))
	generic = yr
	js, err := json.MarshalIndent(generic, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	j, probs := Parse("a.json", js)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if len(y.Nodes) != len(j.Nodes) {
		t.Fatalf("YAML has %d nodes, JSON %d", len(y.Nodes), len(j.Nodes))
	}
	for _, yn := range y.Nodes {
		jn := j.Node(yn.ID)
		if jn == nil || !reflect.DeepEqual(yn.Manifest, jn.Manifest) || len(yn.Uses) != len(jn.Uses) {
			t.Fatalf("node %s differs between YAML and JSON", yn.ID)
		}
	}
	// JSON problems carry JSON line numbers.
	bad := strings.Replace(string(js), `"kind": "Secret"`, `"kind": "Secret", "kind": "Secret"`, 1)
	_, probs = Parse("a.json", []byte(bad))
	if len(probs) != 1 || !strings.Contains(probs[0].Message, `duplicate key "kind"`) || probs[0].Line < 2 {
		t.Fatalf("duplicate key in JSON: %v", probs)
	}
}

func TestSecretValuesNeverAppearInProblems(t *testing.T) {
	const secret = "hunter2-is-short"
	src := "format: aos/v1\nname: t\ninputs:\n  pw: {type: string, secret: true, minLength: 40, pattern: '^[a-f0-9]+$'}\n" +
		"  n: {type: integer, secret: true}\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
	_, probs := Validate("t.yaml", []byte(src), Params{Raw: map[string]string{"pw": secret, "n": secret}})
	if len(probs) != 2 {
		t.Fatalf("want 2 problems, got %v", probs)
	}
	if strings.Contains(probs.Error(), "hunter2") {
		t.Fatalf("secret value leaked into problems:\n%s", probs)
	}
}

func TestDidYouMean(t *testing.T) {
	for s, want := range map[string]string{
		"dependson": ` (did you mean "dependsOn"?)`,
		"manfest":   ` (did you mean "manifest"?)`,
		"zzz":       "",
		"x":         "",
	} {
		if got := didYouMean(s, nodeKeys); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", s, got, want)
		}
	}
}

// Every template in the library must validate with its defaults (plus required secrets).
func TestLibraryTemplatesValidate(t *testing.T) {
	files, _ := filepath.Glob("../../templates/*.yaml")
	if len(files) < 8 {
		t.Fatalf("the template library has %d templates; want at least 8", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tpl, probs := Parse(filepath.Base(f), data)
		if len(probs) > 0 {
			t.Errorf("%s", probs)
			continue
		}
		raw := map[string]string{}
		for _, in := range tpl.Inputs {
			if in.Required() {
				raw[in.Name] = "a-long-enough-test-value-1"
			}
		}
		if _, probs := Validate(filepath.Base(f), data, Params{Raw: raw}); len(probs) > 0 {
			t.Errorf("%s", probs)
		}
		if !strings.HasPrefix(string(data), "#") {
			t.Errorf("%s: starts without a header comment saying what it deploys", f)
		}
	}
}

// A when that reads a node is decided at apply: the node stays in the graph, after what the
// when reads; count and forEach still read inputs only.
func TestLiveWhenIsAnEdgeDecidedLater(t *testing.T) {
	src := hdr + "nodes:\n" + node("flags") +
		"  cache:\n    when: '${nodes.flags.data.?cache.orValue(\"off\") == \"on\"}'\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cache}}\n" +
		"  app:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: app}, data: {c: '${nodes.?cache.data.size.orValue(\"none\")}'}}\n"
	r, probs := Validate("t.yaml", []byte(src), Params{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if len(r.Instances) != 3 || len(r.Skipped) != 0 {
		t.Fatalf("a live when leaves nothing out at validate: %d instances, skipped %v", len(r.Instances), r.Skipped)
	}
	if d := r.Graph.DependsOn("cache"); !slices.Equal(d, []string{"flags"}) {
		t.Fatalf("the when's node is not an edge: %v", d)
	}
	if d := r.Graph.DependsOn("app"); !slices.Equal(d, []string{"cache"}) {
		t.Fatalf("an optional read is an edge too: %v", d)
	}
	cache := r.Template.nodeIndex["cache"]
	if !cache.When.Live() || r.Template.nodeIndex["app"].When.Live() || !strings.Contains(cache.WhenSource, "nodes.flags") {
		t.Fatalf("Live: %+v", cache.When)
	}
	_, probs = Validate("t.yaml", []byte(hdr+"nodes:\n"+node("flags")+node("x", "count: ${size(nodes.flags.data)}")), Params{})
	if len(probs) != 1 || !strings.Contains(probs[0].String(), "count can only refer to inputs (it is decided before any node runs)") {
		t.Fatalf("count reading a node: %v", probs)
	}
}

// forEach's long form names each copy from its element, so the copies keep their ids when the
// list changes order.
func TestForEachNamesCopiesFromTheirElements(t *testing.T) {
	src := hdr + "inputs:\n  tenants: {type: array, default: [{name: acme}, {name: globex}]}\nnodes:\n" +
		"  tenant:\n    forEach: {in: '${inputs.tenants}', name: '${each.value.name}'}\n" +
		"    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: 't-${each.value.name}'}}\n" +
		"  after:\n    dependsOn: [tenant]\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: after}}\n"
	ids := func(r *Resolved) (out []string) {
		for _, in := range r.Instances {
			out = append(out, fmt.Sprintf("%s#%d", in.ID, in.Index))
		}
		return out
	}
	r, probs := Validate("t.yaml", []byte(src), Params{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if got := ids(r); !slices.Equal(got, []string{"tenant-acme#0", "tenant-globex#1", "after#-1"}) {
		t.Fatalf("copies: %v", got)
	}
	if d := r.Graph.DependsOn("after"); !slices.Equal(d, []string{"tenant-acme", "tenant-globex"}) {
		t.Fatalf("dependsOn the forEach node: %v", d)
	}
	r, probs = Validate("t.yaml", []byte(src), Params{Values: map[string]any{"tenants": []any{map[string]any{"name": "globex"}, map[string]any{"name": "acme"}}}})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if got := ids(r); !slices.Equal(got, []string{"tenant-globex#0", "tenant-acme#1", "after#-1"}) {
		t.Fatalf("reordered, the copies keep their ids and take their new element: %v", got)
	}
	for params, want := range map[string]string{
		`[{"name": "acme"}, {"name": "acme"}]`: `forEach.name: elements 0 and 1 are both named "acme"; a name must tell the copies apart`,
		`[{"name": "Acme Inc"}]`:               `forEach.name, element 0: "Acme Inc" cannot name a copy: copies are named tenant-<name>`,
		`[{"name": ["a"]}]`:                    `forEach.name, element 0: [a] (array), not text`,
		`[{"nom": "a"}]`:                       `forEach.name, element 0:`,
	} {
		var v any
		_ = json.Unmarshal([]byte(params), &v)
		_, probs := Validate("t.yaml", []byte(src), Params{Values: map[string]any{"tenants": v}})
		if len(probs) != 1 || !strings.Contains(probs[0].String(), want) || !strings.HasPrefix(probs[0].String(), "t.yaml:7:46: ") {
			t.Errorf("%s: %v; want %q", params, probs, want)
		}
	}
	_, probs = Validate("t.yaml", []byte(hdr+"inputs:\n  pw: {type: array, secret: true}\nnodes:\n"+
		"  a:\n    forEach: {in: '${inputs.pw}', name: '${each.value}'}\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"),
		Params{Values: map[string]any{"pw": []any{"hunter2hunter2"}}})
	if len(probs) != 1 || !strings.Contains(probs[0].String(), "forEach.name would make node ids of a secret input's value") || strings.Contains(probs[0].String(), "hunter2") {
		t.Fatalf("a secret list naming copies: %v", probs)
	}
}

// An expression evaluated at validate time (count, when, forEach over inputs) that would run
// away stops at the cost limit, reported where it is written.
func TestRunawayExpressionStopsAtValidate(t *testing.T) {
	items := make([]string, 300)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	src := hdr + "inputs:\n  items: {type: array, items: {type: integer}, default: [" + strings.Join(items, ", ") + "]}\nnodes:\n" +
		node("a", "when: '${inputs.items.all(a, inputs.items.all(b, inputs.items.all(c, a + b + c >= 0)))}'")
	_, probs := Validate("t.yaml", []byte(src), Params{})
	if len(probs) != 1 || !strings.HasPrefix(probs[0].String(), `t.yaml:8:11: node "a": when: `) || !strings.Contains(probs[0].String(), "cost limit exceeded") {
		t.Fatalf("want the cost limit at the when: %v", probs)
	}
}
