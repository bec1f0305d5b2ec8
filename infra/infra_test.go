// Package infra holds the SAM template; this test cross-checks it against the state machine
// definitions and the functions' code, so a deploy does not find out what a test could.
package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/aos-project/aos/shared/trigger"
	"github.com/aos-project/aos/shared/wiring"
)

// plain turns a YAML node into maps, lists and strings; a CloudFormation tag (!Ref X, !GetAtt
// A.B, !Sub "...", !If [...]) becomes a one-key map {"!Ref": X}, as its JSON form would be.
func plain(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return plain(n.Content[0])
	case yaml.AliasNode:
		return plain(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = plain(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, plain(c))
		}
		v = l
	default:
		v = n.Value
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return map[string]any{n.Tag: v}
	}
	return v
}

type template struct {
	Globals   map[string]any
	Resources map[string]map[string]any
}

func load(t *testing.T) (template, map[string]any) {
	t.Helper()
	data, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "&") && regexp.MustCompile(`(?m):\s+&\w+`).Match(data) {
		t.Fatal("infra/template.yaml uses a YAML anchor: CloudFormation does not support them")
	}
	doc := plain(&n).(map[string]any)
	var tpl template
	raw, _ := json.Marshal(doc)
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl, doc
}

func get(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

// functions maps each Lambda function resource to its name under functions/.
func functions(t *testing.T, tpl template) map[string]string {
	out := map[string]string{}
	for id, r := range tpl.Resources {
		if r["Type"] != "AWS::Serverless::Function" {
			continue
		}
		uri, _ := get(r, "Properties", "CodeUri").(string)
		m := regexp.MustCompile(`^\.\./dist/([a-z]+)\.zip$`).FindStringSubmatch(uri)
		if m == nil {
			t.Fatalf("%s: CodeUri %q is not ../dist/<function>.zip (what make package builds)", id, uri)
		}
		out[id] = m[1]
	}
	return out
}

func TestEveryFunctionIsDeployedAndHasAHandler(t *testing.T) {
	tpl, _ := load(t)
	fns := functions(t, tpl)
	dirs, _ := filepath.Glob("../functions/*/main.go")
	var have, deployed []string
	for _, d := range dirs {
		have = append(have, filepath.Base(filepath.Dir(d)))
	}
	for _, f := range fns {
		deployed = append(deployed, f)
	}
	sort.Strings(have)
	sort.Strings(deployed)
	if strings.Join(have, ",") != strings.Join(deployed, ",") {
		t.Fatalf("functions/ has %v, the template deploys %v", have, deployed)
	}
	g := tpl.Globals["Function"].(map[string]any)
	if g["Runtime"] != "provided.al2023" || g["Handler"] != "bootstrap" || get(g, "Architectures").([]any)[0] != "arm64" {
		t.Fatalf("globals: %v", g)
	}
	for id, name := range fns {
		main, err := os.ReadFile(filepath.Join("../functions", name, "main.go"))
		if err != nil || !strings.Contains(string(main), "lambda.Start") {
			t.Fatalf("%s: functions/%s/main.go starts no handler", id, name)
		}
	}
}

func TestEveryEnvironmentVariableTheCodeReadsIsSet(t *testing.T) {
	tpl, _ := load(t)
	global := get(tpl.Globals, "Function", "Environment", "Variables").(map[string]any)
	for id, name := range functions(t, tpl) {
		need, ok := wiring.FunctionEnv[name]
		if !ok {
			t.Fatalf("wiring.FunctionEnv has no entry for %s", name)
		}
		own, _ := get(tpl.Resources[id], "Properties", "Environment", "Variables").(map[string]any)
		for _, v := range need {
			if _, set := own[v]; !set {
				if _, set := global[v]; !set {
					t.Errorf("%s (%s) reads %s, which the template does not set", id, name, v)
				}
			}
		}
	}
}

// Every Task resource of every definition resolves: a ${Placeholder} is substituted with a
// function of the template that the state machine may invoke; service integrations have the
// permissions they need.
func TestStateMachinesMatchTheirDefinitions(t *testing.T) {
	tpl, _ := load(t)
	fns := functions(t, tpl)
	machines := 0
	for id, r := range tpl.Resources {
		if r["Type"] != "AWS::Serverless::StateMachine" {
			continue
		}
		machines++
		uri := get(r, "Properties", "DefinitionUri").(string)
		def, err := os.ReadFile(uri)
		if err != nil {
			t.Fatalf("%s: DefinitionUri %s: %v", id, uri, err)
		}
		subs, _ := get(r, "Properties", "DefinitionSubstitutions").(map[string]any)
		policies, _ := json.Marshal(get(r, "Properties", "Policies"))
		for _, m := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(string(def), -1) {
			sub, ok := subs[m[1]]
			if !ok {
				t.Errorf("%s: %s uses ${%s}, which DefinitionSubstitutions does not set", id, uri, m[1])
				continue
			}
			if att, ok := get(sub, "!GetAtt").(string); ok {
				fn := strings.TrimSuffix(att, ".Arn")
				if _, isFn := fns[fn]; !isFn {
					t.Errorf("%s: ${%s} is %s, not a function of the template", id, m[1], att)
				}
				if !strings.Contains(string(policies), `{"LambdaInvokePolicy":{"FunctionName":{"!Ref":"`+fn+`"}}}`) {
					t.Errorf("%s: may not invoke %s (no LambdaInvokePolicy)", id, fn)
				}
			}
		}
		if strings.Contains(string(def), `"arn:aws:states:::states:startExecution"`) && !strings.Contains(string(policies), "states:StartExecution") {
			t.Errorf("%s: starts executions (Continue) but lacks states:StartExecution", id)
		}
		if strings.Contains(string(def), "states:startExecution.sync") {
			for _, action := range []string{"states:StartExecution", "states:DescribeExecution", "events:PutRule", "events:PutTargets"} {
				if !strings.Contains(string(policies), action) {
					t.Errorf("%s: runs child executions but lacks %s", id, action)
				}
			}
		}
		if get(r, "Properties", "Logging") == nil || get(r, "Properties", "Tracing", "Enabled") != "true" {
			t.Errorf("%s: logging and X-Ray must be on", id)
		}
	}
	if machines != 2 {
		t.Fatalf("%d state machines; want stack and batch", machines)
	}
}

// No action is a wildcard; Resource "*" only for the few APIs without resource-level
// permissions.
func TestLeastPrivilege(t *testing.T) {
	_, doc := load(t)
	noResourceLevel := []string{"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
		"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
		"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}
	statements := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if acts, ok := x["Action"]; ok {
				statements++
				var list []string
				switch a := acts.(type) {
				case string:
					list = []string{a}
				case []any:
					for _, s := range a {
						list = append(list, s.(string))
					}
				}
				for _, a := range list {
					if strings.Contains(a, "*") {
						t.Errorf("wildcard action %q", a)
					}
				}
				res, _ := json.Marshal(x["Resource"])
				if string(res) == `["*"]` || string(res) == `"*"` {
					for _, a := range list {
						if !slices.Contains(noResourceLevel, a) {
							t.Errorf("action %s on Resource \"*\"", a)
						}
					}
				}
			}
			for k, e := range x {
				if k == "AWS::Serverless::Function" || k == "AWS::Serverless::StateMachine" {
					t.Errorf("unexpected key %s", k)
				}
				walk(e)
			}
			if p, ok := x["Policies"].([]any); ok {
				for _, e := range p {
					if m, ok := e.(map[string]any); ok {
						for k := range m {
							if strings.HasSuffix(k, "FullAccess") {
								t.Errorf("policy %s grants everything", k)
							}
						}
					}
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if statements < 10 {
		t.Fatalf("only %d IAM statements found: the walk is broken", statements)
	}
	table := get(doc, "Resources", "Table", "Properties").(map[string]any)
	if table["BillingMode"] != "PAY_PER_REQUEST" || table["DeletionProtectionEnabled"] != "true" || get(table, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != "true" {
		t.Fatalf("table: %v", table)
	}
	if get(doc, "Resources", "HttpApi", "Properties", "Auth", "DefaultAuthorizer") != "AWS_IAM" {
		t.Fatal("the HTTP API must authorize with IAM")
	}
}

// Batch events come from a bus of their own and one source: the rule on the default bus
// matched any sender allowed events:PutEvents there.
func TestBatchEventsComeFromTheirOwnBus(t *testing.T) {
	tpl, _ := load(t)
	ev := get(tpl.Resources["TriggerFunction"], "Properties", "Events", "Event", "Properties").(map[string]any)
	if bus, _ := json.Marshal(ev["EventBusName"]); string(bus) != `{"!Ref":"BatchBus"}` {
		t.Errorf("the trigger rule is on bus %s, not BatchBus", bus)
	}
	if tpl.Resources["BatchBus"]["Type"] != "AWS::Events::EventBus" {
		t.Error("no BatchBus event bus")
	}
	src, _ := json.Marshal(get(ev, "Pattern", "source"))
	dt, _ := json.Marshal(get(ev, "Pattern", "detail-type"))
	if string(src) != `["`+trigger.Source+`"]` || string(dt) != `["`+trigger.DetailType+`"]` {
		t.Errorf("pattern source %s, detail-type %s; the trigger takes %q, %q", src, dt, trigger.Source, trigger.DetailType)
	}
}
