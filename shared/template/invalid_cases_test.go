package template

import (
	"fmt"
	"strings"
)

const hdr = "format: aos/v1\nname: t\n"
const cm = "    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: %s}}\n"

func node(id string, extra ...string) string {
	s := "  " + id + ":\n" + strings.ReplaceAll(cm, "%s", id)
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

type invalidCase struct {
	name   string
	src    string
	params Params
	want   []string // "LINE:COL: [node "x": ]message", every problem in order
}

// bomb is a "billion laughs" document: ten aliases of ten aliases, nine levels deep.
func bomb() string {
	s := hdr + "nodes:\n  a:\n    manifest:\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: a}\n      data:\n"
	s += "        l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 9; i++ {
		ref := fmt.Sprintf("*l%d", i-1)
		s += fmt.Sprintf("        l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(ref+", ", 10), ", "))
	}
	return s
}

var invalidCases = []invalidCase{
	{name: "syntax error", src: hdr + "nodes: [a\n",
		want: []string{"3:1: syntax error: did not find expected ',' or ']'"}},
	{name: "bad indentation", src: hdr + "nodes:\n  a:\n    manifest: {}\n   x: 1\n",
		want: []string{"6:4: syntax error: did not find expected key"}},
	{name: "bad indentation deep in a node", src: hdr + "nodes:\n  a:\n    manifest:\n      apiVersion: v1\n      kind: ConfigMap\n      data:\n        x: y\n     metadata: {name: a}\n",
		want: []string{"10:6: syntax error: did not find expected key"}},
	{name: "unquoted reference in a flow mapping", src: hdr + "inputs:\n  m: {type: string}\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {m: ${inputs.m}}}\n",
		want: []string{`7:80: syntax error: did not find expected ',' or '}' (a reference inside {…} or […] must be quoted: write "${inputs.m}")`}},
	{name: "empty file", src: "",
		want: []string{"1:1: template is empty; expected a mapping with format, name and nodes"}},
	{name: "not a mapping", src: "- a\n- b\n",
		want: []string{"1:1: a template is a mapping with format, name and nodes; found a list"}},
	{name: "two documents", src: hdr + "nodes: {}\n---\nname: u\n",
		want: []string{"4:1: a template is one YAML document; found another one here (remove the '---')"}},
	{name: "oversized file", src: hdr + "description: \"" + strings.Repeat("x", MaxFileBytes) + "\"\n",
		want: []string{"1:1: template is 4194343 bytes; the limit is 4194304 bytes (4 MiB): split it into several stacks"}},
	{name: "alias bomb", src: bomb(),
		want: []string{"10:24: node \"a\": YAML aliases expand to more than 100000 values (a \"billion laughs\" document?); write the values out or use fewer aliases"}},
	{name: "unknown top-level key", src: hdr + "nodez:\n" + node("a"),
		want: []string{"1:1: template has no nodes: add `nodes:` with at least one node", "3:1: unknown key \"nodez\" in the template (did you mean \"nodes\"?)"}},
	{name: "missing format", src: "name: t\nnodes:\n" + node("a"),
		want: []string{"1:1: missing format: add `format: aos/v1`"}},
	{name: "unsupported format", src: "format: aos/v2\nname: t\nnodes:\n" + node("a"),
		want: []string{"1:9: unsupported format \"aos/v2\"; this version reads \"aos/v1\""}},
	{name: "missing name", src: "format: aos/v1\nnodes:\n" + node("a"),
		want: []string{"1:1: missing name: add `name: my-app` (a DNS label)"}},
	{name: "name not a DNS label", src: "format: aos/v1\nname: My App\nnodes:\n" + node("a"),
		want: []string{"2:7: name \"My App\" must be a DNS label (lower-case letters, digits and '-', at most 63 characters): it names the stack's namespace by default"}},
	{name: "no nodes", src: hdr + "nodes: {}\n",
		want: []string{"1:1: template has no nodes: add `nodes:` with at least one node"}},
	{name: "nodes not a mapping", src: hdr + "nodes: [a, b]\n",
		want: []string{"3:8: nodes must be a mapping; found a list"}},
	{name: "bad node id", src: hdr + "nodes:\n" + node("Web_1"),
		want: []string{"4:3: node \"Web_1\": node id must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"}},
	{name: "node not a mapping", src: hdr + "nodes:\n  a: 3\n",
		want: []string{"4:6: node \"a\": a node must be a mapping; found the number 3"}},
	{name: "missing manifest", src: hdr + "nodes:\n  a:\n    dependsOn: []\n",
		want: []string{"4:3: node \"a\": missing manifest: every node holds one Kubernetes object under `manifest:`, or the objects of a `chart:`, `kustomize:` or `manifests:`, or reads one with `lookup:`"}},
	{name: "manifest not a mapping", src: hdr + "nodes:\n  a:\n    manifest: \"kind: ConfigMap\"\n",
		want: []string{"5:15: node \"a\": manifest must be a mapping; found the string \"kind: ConfigMap\""}},
	{name: "manifest without kind", src: hdr + "nodes:\n  a:\n    manifest: {apiVersion: v1, metadata: {name: a}}\n",
		want: []string{"5:15: node \"a\": manifest needs kind (a non-empty string)"}},
	{name: "manifest without name", src: hdr + "nodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {labels: {x: y}}}\n",
		want: []string{"5:15: node \"a\": manifest needs metadata.name (or metadata.generateName)"}},
	{name: "unknown node key", src: hdr + "nodes:\n" + node("a", "dependson: [b]") + node("b"),
		want: []string{"6:5: node \"a\": unknown key \"dependson\" in node (did you mean \"dependsOn\"?)"}},
	{name: "duplicate node id", src: hdr + "nodes:\n" + node("a") + node("a"),
		want: []string{"6:3: node \"a\": duplicate node id (first at line 4)"}},
	{name: "duplicate manifest key", src: hdr + "nodes:\n  a:\n    manifest:\n      apiVersion: v1\n      kind: ConfigMap\n      kind: Secret\n      metadata: {name: a}\n",
		want: []string{"8:7: node \"a\": duplicate key \"kind\" (first at line 7)"}},
	{name: "dependsOn not a list", src: hdr + "nodes:\n" + node("a", "dependsOn: b") + node("b"),
		want: []string{"6:16: node \"a\": dependsOn must be a list of node ids, e.g. [db, cache]; found the string \"b\""}},
	{name: "dependsOn unknown node", src: hdr + "nodes:\n" + node("a", "dependsOn: [dbb]") + node("db"),
		want: []string{"6:17: node \"a\": dependsOn names unknown node \"dbb\" (did you mean \"db\"?)"}},
	{name: "dependsOn itself", src: hdr + "nodes:\n" + node("a", "dependsOn: [a]"),
		want: []string{"6:17: node \"a\": dependsOn lists the node itself"}},
	{name: "cycle through dependsOn", src: hdr + "nodes:\n" + node("a", "dependsOn: [c]") + node("b", "dependsOn: [a]") + node("c", "dependsOn: [b]"),
		want: []string{"4:3: node \"a\": dependency cycle: a -> b -> c -> a"}},
	{name: "every cycle at once, beside a node that lists itself", src: hdr + "nodes:\n" + node("s", "dependsOn: [s]") + node("a", "dependsOn: [b]") + node("b", "dependsOn: [a]") + node("c", "dependsOn: [d]") + node("d", "dependsOn: [c]"),
		want: []string{"6:17: node \"s\": dependsOn lists the node itself", "7:3: node \"a\": dependency cycle: a -> b -> a", "13:3: node \"c\": dependency cycle: c -> d -> c"}},
	{name: "cycle through references", src: hdr + "nodes:\n" +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {b: \"${nodes.b.metadata.uid}\"}}\n" +
		"  b:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: {a: \"${nodes.a.metadata.uid}\"}}\n",
		want: []string{"4:3: node \"a\": dependency cycle: a -> b -> a"}},
	{name: "unknown input reference", src: hdr + "inputs:\n  replicas: {type: integer, default: 1}\nnodes:\n" +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {n: \"${inputs.replica}\"}}\n",
		want: []string{"7:80: node \"a\": manifest.data.n: ${inputs.replica} refers to unknown input \"replica\" (did you mean \"replicas\"?)"}},
	{name: "unknown node reference", src: hdr + "nodes:\n" + node("db") +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {n: \"${nodes.dbb.metadata.name}\"}}\n",
		want: []string{"7:80: node \"a\": manifest.data.n: ${nodes.dbb.metadata.name} refers to unknown node \"dbb\" (did you mean \"db\"?)"}},
	{name: "self reference", src: hdr + "nodes:\n" +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {n: \"${nodes.a.metadata.uid}\"}}\n",
		want: []string{"5:80: node \"a\": manifest.data.n: ${nodes.a.metadata.uid} refers to the node's own object; a node can only read other nodes' values"}},
	{name: "unclosed reference", src: hdr + "nodes:\n" +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {n: \"${inputs.x\"}}\n",
		want: []string{"5:80: node \"a\": manifest.data.n: reference \"${inputs.x\" is not closed: add a '}' (write $${ for a literal ${)"}},
	{name: "unknown reference root", src: hdr + "nodes:\n" +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {n: \"${input.x}\"}}\n",
		want: []string{"5:80: node \"a\": manifest.data.n: reference ${input.x}: unknown root \"input\"; expected inputs, nodes, stack, stacks, index or each"}},
	{name: "nested reference", src: hdr + "nodes:\n" +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {n: \"${inputs.${inputs.x}}\"}}\n",
		want: []string{"5:80: node \"a\": manifest.data.n: nested references are not supported: a reference cannot contain ${"}},
	{name: "index outside count", src: hdr + "nodes:\n" +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: \"a-${index}\"}}\n",
		want: []string{"5:66: node \"a\": manifest.metadata.name: ${index} is only defined in a node with count or forEach"}},
	{name: "count not an integer", src: hdr + "nodes:\n" + node("a", "count: three"),
		want: []string{"6:12: node \"a\": count must be a non-negative integer or a reference such as ${inputs.replicas}; found the string \"three\""}},
	{name: "count negative", src: hdr + "nodes:\n" + node("a", "count: -2"),
		want: []string{"6:12: node \"a\": count must be a non-negative integer or a reference such as ${inputs.replicas}; found the number -2"}},
	{name: "count from a node", src: hdr + "nodes:\n" + node("b") + node("a", "count: ${nodes.b.data.n}"),
		want: []string{"8:12: node \"a\": count can only refer to inputs (it is decided before any node runs), not ${nodes.b.data.n}"}},
	{name: "count from a string input", src: hdr + "inputs:\n  n: {type: string, default: \"x\"}\nnodes:\n" + node("a", "count: ${inputs.n}"),
		want: []string{"8:12: node \"a\": count: ${inputs.n} is the string \"x\", not a non-negative integer"}},
	{name: "when not a boolean", src: hdr + "nodes:\n" + node("a", "when: sometimes"),
		want: []string{"6:11: node \"a\": when must be true, false or a reference such as ${inputs.enabled}; found the string \"sometimes\""}},
	{name: "reference to a node left out by when", src: hdr + "inputs:\n  on: {type: boolean, default: false}\nnodes:\n" + node("b", "when: ${inputs.on}") +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {n: \"${nodes.b.metadata.uid}\"}}\n",
		want: []string{"10:80: node \"a\": manifest.data.n: ${nodes.b.metadata.uid} refers to node \"b\", which `when` leaves out with these inputs (read it optionally, as in ${nodes.?b…orValue(…)}, where it may be left out)"}},
	{name: "bad input schema", src: hdr + "inputs:\n  n: {type: integr}\nnodes:\n" + node("a"),
		want: []string{"4:3: missing required input \"n\": pass -p n=VALUE or set it in a --params file", "4:13: input \"n\": type \"integr\" is not one of string, integer, number, boolean, array, object (did you mean \"integer\"?)"}},
	{name: "unknown input key", src: hdr + "inputs:\n  pw: {type: string, secrt: true}\nnodes:\n" + node("a"),
		want: []string{"4:3: missing required input \"pw\": pass -p pw=VALUE or set it in a --params file", "4:22: unknown key \"secrt\" in input \"pw\" (did you mean \"secret\"?)"}},
	{name: "default violates schema", src: hdr + "inputs:\n  n: {type: integer, default: 50, maximum: 20}\nnodes:\n" + node("a"),
		want: []string{"4:31: input \"n\": default: must be less than or equal to 20"}},
	{name: "input type mismatch", src: hdr + "inputs:\n  replicas: {type: integer, default: 1}\nnodes:\n" + node("a"),
		params: Params{Raw: map[string]string{"replicas": "many"}},
		want:   []string{"-p replicas: input \"replicas\": \"many\" is not an integer"}},
	{name: "input violates maximum", src: hdr + "inputs:\n  replicas: {type: integer, default: 1, maximum: 20}\nnodes:\n" + node("a"),
		params: Params{Raw: map[string]string{"replicas": "21"}},
		want:   []string{"-p replicas: input \"replicas\": must be less than or equal to 20"}},
	{name: "missing required inputs, all reported", src: hdr + "inputs:\n  user: {type: string}\n  pw: {type: string, secret: true}\nnodes:\n" + node("a"),
		want: []string{"4:3: missing required input \"user\": pass -p user=VALUE or set it in a --params file", "5:3: missing required input \"pw\": pass -p pw=@FILE (a file holding the secret), set $AOS_PARAM_pw, or set it in a --params file"}},
	{name: "an output derived from a secret, not marked sensitive", src: hdr + "inputs:\n  pw: {type: string, secret: true}\nnodes:\n" +
		"  creds: {manifest: {apiVersion: v1, kind: Secret, metadata: {name: c}, stringData: {pw: '${inputs.pw}'}}}\n" +
		"  user: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: u}, data: {from: '${nodes.creds.data.pw}', name: '${nodes.creds.metadata.name}'}}}\n" +
		"outputs:\n  direct: 'pw=${inputs.pw}'\n  through: ${nodes.user.data.from}\n  fine: {value: '${inputs.pw}', sensitive: true}\n  name: ${nodes.user.data.name}\n",
		params: Params{Raw: map[string]string{"pw": "hunter2hunter2"}},
		want: []string{"9:3: output \"direct\" is derived from secret input \"pw\": write it as direct: {value: ..., sensitive: true}, and it is shown as (sensitive)",
			"10:3: output \"through\" is derived from node \"user\"'s .data.from, which receives a secret input: write it as through: {value: ..., sensitive: true}, and it is shown as (sensitive)"}},
	{name: "a secret object's keys stay out of errors", src: hdr + "inputs:\n  creds: {type: object, secret: true, additionalProperties: false, properties: {user: {type: string}}}\nnodes:\n" + node("a"),
		params: Params{Values: map[string]any{"creds": map[string]any{"user": "u", "hunter2key": "x"}}},
		want:   []string{"4:3: input \"creds\": the given value does not fit the input's schema (additional property not allowed)"}},
	{name: "a readiness expression that does not compile", src: hdr + "nodes:\n" + node("a", "ready: {when: 'slef.status.x > 1', failWhen: 'self.status.x + 1'}"),
		want: []string{"6:19: node \"a\": ready.when: undeclared reference to 'slef'; the live object is self (at 1:1 of the expression)",
			"6:50: node \"a\": ready.failWhen: the expression is of type int; it must be true or false"}},
	{name: "forEach misused", src: hdr + "nodes:\n" + node("b", "forEach: [1, 2]") + "  c: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: '${each.value}'}}}\n",
		want: []string{`6:14: node "b": forEach must be a reference or an expression over inputs, such as ${inputs.regions}; found a list`,
			`7:68: node "c": manifest.metadata.name: ${each.value} is only defined in a node with forEach`}},
	{name: "forEach of no list", src: hdr + "inputs:\n  l: {type: array, default: [a]}\n  s: {type: string, default: x}\nnodes:\n" +
		node("a", "forEach: ${inputs.s}") + node("d", "forEach: ${inputs.l}", "count: 2"),
		want: []string{`9:14: node "a": forEach: ${inputs.s} is the string "x", not a list`,
			`12:14: node "d": a node has count or forEach, not both`}},
	{name: "a field an input's schema does not declare", src: hdr + "inputs:\n  labels: {type: object, properties: {team: {type: string}}, default: {team: a}}\n" +
		"  regions: {type: array, items: {type: object, properties: {zone: {type: string}}}, default: []}\nnodes:\n" +
		node("a", "when: '${inputs.labels.?tem.orValue(\"x\") == \"x\"}'") + node("b", "forEach: ${inputs.regions.map(r, r.zone)}") +
		"  c: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {z: '${inputs.regions[0].zne}', t: '${inputs.labels.team[0]}'}}}\n",
		want: []string{`9:11: node "a": when: ${inputs.labels.tem}: the input's schema declares no field "tem" (did you mean "team"?) (it declares team)`,
			`13:82: node "c": manifest.data.z: ${inputs.regions[0].zne}: the input's schema declares no field "zne" (did you mean "zone"?) (it declares zone)`,
			`13:113: node "c": manifest.data.t: ${inputs.labels.team[0]}: .team is a string, not a list`}},
	{name: "expressions of the wrong type for the inputs' schemas", src: hdr + "inputs:\n  replicas: {type: integer, default: 1}\n" +
		"  regions: {type: array, items: {type: object, additionalProperties: false, properties: {name: {type: string}}}, default: []}\nnodes:\n" +
		node("a", "count: '${inputs.replicas + \"1\"}'") +
		"  b: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: b}, data: {n: '${inputs.regions.map(r, r.name + 1)}', ok: '${string(inputs.replicas)}'}}}\n",
		want: []string{`9:12: node "a": count: ${inputs.replicas + "1"}: found no matching overload for '_+_' applied to '(int, string)' (at 1:17 of the expression)`,
			`10:82: node "b": manifest.data.n: ${inputs.regions.map(r, r.name + 1)}: found no matching overload for '_+_' applied to '(string, int)' (at 1:30 of the expression)`}},
	{name: "a secret with a default", src: hdr + "inputs:\n  pw: {type: string, secret: true, default: hunter2hunter2}\nnodes:\n" + node("a"),
		want: []string{"4:3: missing required input \"pw\": pass -p pw=@FILE (a file holding the secret), set $AOS_PARAM_pw, or set it in a --params file", "4:45: input \"pw\" is secret and has a default: a secret's value cannot live in the template; remove the default and pass it with -p pw=@FILE or $AOS_PARAM_pw"}},
	{name: "unknown input given", src: hdr + "inputs:\n  replicas: {type: integer, default: 1}\nnodes:\n" + node("a"),
		params: Params{Raw: map[string]string{"replica": "2"}},
		want:   []string{"-p replica: unknown input \"replica\" (did you mean \"replicas\"?): the template has no such input (it declares replicas)"}},
	{name: "params file value of wrong type", src: hdr + "inputs:\n  debug: {type: boolean, default: false}\nnodes:\n" + node("a"),
		params: Params{Values: map[string]any{"debug": "yes"}},
		want:   []string{"4:3: input \"debug\": \"yes\" is not true or false"}},
	{name: "bad ready timeout", src: hdr + "nodes:\n" + node("a", "ready: {timeout: 5 minutes}"),
		want: []string{"6:22: node \"a\": ready.timeout \"5 minutes\" must be a duration between 1s and 24h, such as 90s, 5m or 1h30m"}},
	{name: "bad condition op", src: hdr + "nodes:\n" + node("a", "ready: {conditions: [{path: .status.succeeded, op: '=>', value: 1}]}"),
		want: []string{"6:56: node \"a\": condition op \"=>\" is not one of == != > >= < <= exists notExists in (did you mean \"==\"?)"}},
	{name: "condition path without dot", src: hdr + "nodes:\n" + node("a", "ready: {conditions: [{path: status.phase, op: '==', value: Running}]}"),
		want: []string{"6:33: node \"a\": condition path \"status.phase\": a path starts with '.', e.g. .status.readyReplicas"}},
	{name: "bad deletePolicy", src: hdr + "nodes:\n" + node("a", "deletePolicy: retian"),
		want: []string{"6:19: node \"a\": deletePolicy must be delete or retain; found \"retian\" (did you mean \"retain\"?)"}},
	{name: "adopt not a boolean", src: hdr + "nodes:\n" + node("a", "adopt: maybe"),
		want: []string{"6:12: node \"a\": adopt must be true or false; found the string \"maybe\""}},
	{name: "reference to undeclared output", src: hdr + "nodes:\n" + node("db", "outputs: {host: .spec.clusterIP}") +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {h: \"${nodes.db.outputs.hots}\"}}\n",
		want: []string{"8:80: node \"a\": manifest.data.h: ${nodes.db.outputs.hots}: node \"db\" declares no output \"hots\" (did you mean \"host\"?)"}},
	{name: "reference to a node with count", src: hdr + "nodes:\n" + node("w", "count: 2") +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {h: \"${nodes.w.metadata.uid}\"}}\n",
		want: []string{"8:80: node \"a\": manifest.data.h: ${nodes.w.metadata.uid}: node \"w\" has count, so it has no single object to read; depend on it with dependsOn instead"}},
	{name: "node output not a path", src: hdr + "nodes:\n" + node("a", "outputs: {host: spec.clusterIP}"),
		want: []string{"6:21: node \"a\": output \"host\": path \"spec.clusterIP\": a path starts with '.', e.g. .status.readyReplicas"}},
	{name: "stack output with unknown node", src: hdr + "nodes:\n" + node("a") + "outputs:\n  port: ${nodes.svc.spec.ports[0].nodePort}\n",
		want: []string{"7:9: outputs.port: ${nodes.svc.spec.ports[0].nodePort} refers to unknown node \"svc\""}},
	{name: "too many nodes after count", src: hdr + "inputs:\n  n: {type: integer, default: 10001}\nnodes:\n" + node("a", "count: ${inputs.n}"),
		want: []string{"1:1: template expands to 10001 nodes; the limit is 10000: lower the counts or split the application into several stacks"}},
	{name: "too many edges after count", src: hdr + "nodes:\n" + node("a", "count: 1000") + node("b", "count: 1000", "dependsOn: [a]"),
		want: []string{"1:1: template expands to 1000000 dependency edges; the limit is 200000: a node with count that depends on another node with count waits for every one of its copies"}},
	{name: "remote $ref in an input schema", src: hdr + "inputs:\n  cfg: {type: object, default: {}, properties: {a: {$ref: 'http://127.0.0.1:1/s.json'}}}\nnodes:\n" + node("a"),
		want: []string{"4:3: input \"cfg\": $ref is not allowed in input schemas; write the schema inline"}},
	{name: "copy collides with a node", src: hdr + "nodes:\n" + node("w", "count: 2") + node("w-1"),
		want: []string{"7:3: node \"w-1\": copy \"w-1\" collides with another node of the same id; rename one of them"}},
	{name: "input path into a scalar", src: hdr + "inputs:\n  port: {type: integer, default: 80}\nnodes:\n" +
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {p: \"${inputs.port.value}\"}}\n",
		want: []string{"7:80: node \"a\": manifest.data.p: ${inputs.port.value}: input \"port\" is of type integer and has no fields"}},
	{name: "manifest and chart", src: hdr + "nodes:\n" + node("a", "chart: {path: ./c}"),
		want: []string{"4:3: node \"a\": a node holds one of manifest, chart, kustomize, manifests or lookup; this one has manifest and chart"}},
	{name: "chart with path and oci", src: hdr + "nodes:\n  a:\n    chart: {path: ./c, oci: 'oci://r/c'}\n",
		want: []string{"5:12: node \"a\": chart needs exactly one of path (a folder or .tgz), repo (with name) or oci (oci://host/path)"}},
	{name: "chart repo without name", src: hdr + "nodes:\n  a:\n    chart: {repo: 'https://charts.example.com'}\n",
		want: []string{"5:12: node \"a\": chart.repo needs name, the chart's name in the repository"}},
	{name: "chart unknown key", src: hdr + "nodes:\n  a:\n    chart: {path: ./c, valeus: {}}\n",
		want: []string{"5:24: node \"a\": unknown key \"valeus\" in chart (did you mean \"values\"?)"}},
	{name: "chart values not a mapping", src: hdr + "nodes:\n  a:\n    chart: {path: ./c, values: [1]}\n",
		want: []string{"5:32: node \"a\": chart.values must be a mapping, as in a values.yaml"}},
	{name: "kustomize without path", src: hdr + "nodes:\n  a:\n    kustomize: {}\n",
		want: []string{"5:16: node \"a\": kustomize needs path, a folder or file: `kustomize: ./deploy`"}},
	{name: "readiness rule on a chart", src: hdr + "nodes:\n  a:\n    chart: {path: ./c}\n    ready: {when: 'self.status.ready'}\n",
		want: []string{"4:3: node \"a\": ready.conditions, ready.when and ready.failWhen read one object; a chart node is READY when each of its objects is, by its kind's own rules (only ready.timeout applies)"}},
	{name: "stacks reference without outputs", src: hdr + "nodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {h: \"${stacks.db.host}\"}}\n",
		want: []string{"5:80: node \"a\": manifest.data.h: reference ${stacks.db.host}: another stack is read through its outputs: ${stacks.db.outputs.KEY}"}},
	{name: "stacks reference in count", src: hdr + "nodes:\n" + node("a", "count: ${stacks.db.outputs.n}"),
		want: []string{"6:12: node \"a\": count can only refer to inputs, such as ${inputs.replicas}; another stack's outputs are read in a manifest or an output"}},
	{name: "lookup without name", src: hdr + "nodes:\n  a:\n    lookup: {apiVersion: v1, kind: Secret}\n",
		want: []string{"5:13: node \"a\": lookup needs name (a non-empty string): {apiVersion: v1, kind: Secret, name: db-credentials}"}},
	{name: "lookup with adopt", src: hdr + "nodes:\n  a:\n    lookup: {apiVersion: v1, kind: Secret, name: s}\n    adopt: true\n",
		want: []string{"4:3: node \"a\": a lookup node reads an object the stack does not own: it is never modified or deleted, so adopt, replace and deletePolicy do not apply"}},
}
