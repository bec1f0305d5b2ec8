package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const webTemplate = `format: aos/v1
name: web
inputs:
  web_replicas: {type: integer, default: 1}
  password: {type: string, secret: true}
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {replicas: "${inputs.web_replicas}"}}
`

// Each example error of the first-hour issue's points 4 and 5, as a newcomer meets it: the
// message, where it points, and the exit code.
func TestFirstHourErrors(t *testing.T) {
	web := write(t, "web.yaml", webTemplate)
	params := write(t, "p.yaml", "web_replicas: three\npassword: pw\n")
	cycles := write(t, "cycles.yaml", "format: aos/v1\nname: c\nnodes:\n"+
		"  s:\n    dependsOn: [s]\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: s}}\n"+
		"  a:\n    dependsOn: [b]\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"+
		"  b:\n    dependsOn: [a]\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n")
	flow := write(t, "flow.yaml", "format: aos/v1\nname: f\ninputs:\n  m: {type: string, default: x}\nnodes:\n"+
		"  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {m: ${inputs.m}}}\n")
	indent := write(t, "indent.yaml", "format: aos/v1\nname: i\nnodes:\n  a:\n    manifest:\n      apiVersion: v1\n      kind: ConfigMap\n      data: {a: b}\n"+
		"      labels: {}\n     metadata: {name: a}\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // lines of stdout and stderr together, each as a substring
	}{
		{"a -p name the template lacks", []string{"validate", web, "-p", "web_replicas2=3", "-p", "password=x"}, ExitInvalid,
			[]string{`-p web_replicas2: unknown input "web_replicas2" (did you mean "web_replicas"?)`}},
		{"a wrong type in a params file", []string{"validate", web, "--params", params}, ExitInvalid,
			[]string{params + `:1:15: input "web_replicas": "three" is not an integer`}},
		{"the same wrong type from -p", []string{"validate", web, "-p", "web_replicas=three", "-p", "password=x"}, ExitInvalid,
			[]string{`-p web_replicas: input "web_replicas": "three" is not an integer`}},
		{"-p with no =", []string{"validate", web, "-p", "web_replicas"}, ExitInvalid,
			[]string{`-p "web_replicas": expected key=value`}},
		{"every cycle at once", []string{"validate", cycles}, ExitInvalid,
			[]string{cycles + `:5:17: node "s": dependsOn lists the node itself`, cycles + `:7:3: node "a": dependency cycle: a -> b -> a`}},
		{"an unquoted reference in a flow mapping", []string{"validate", flow}, ExitInvalid,
			[]string{flow + `:7:80: syntax error: did not find expected ',' or '}' (a reference inside {…} or […] must be quoted: write "${inputs.m}")`}},
		{"a bad indent on line 10", []string{"validate", indent}, ExitInvalid,
			[]string{indent + `:10:6: syntax error: did not find expected key`}},
		{"graph needs no secret nothing in its shape reads", []string{"graph", web}, ExitOK,
			[]string{`"config" [label="config\nConfigMap"];`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "", tc.args...)
			all := out + errs
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("missing %q", w)
				}
			}
			if code != tc.code || t.Failed() {
				t.Fatalf("exit %d (want %d)\n%s", code, tc.code, all)
			}
		})
	}
}

// Live references the kind's schema rules out fail the operation before anything is applied,
// all at once, each at its line with a hint. Those only the live object can rule out (a key of
// a map) fail their node with every one of them in its message, and the status table shows
// the object it would have made.
func TestBadLiveReferencesAllAtOnce(t *testing.T) {
	kc := kubeconfigPath(t)
	state := filepath.Join(t.TempDir(), "state.db")
	stack := fmt.Sprintf("refs-%d", time.Now().UnixNano()%100000)
	g := []string{"--state", state, "--kubeconfig", kc}
	t.Cleanup(func() { run(t, "", append(g, "down", stack)...) })
	tpl := write(t, "refs.yaml", `format: aos/v1
name: refs
nodes:
  svc:
    manifest: {apiVersion: v1, kind: Service, metadata: {name: svc}, spec: {ports: [{port: 80}]}}
  use:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: use}
      data:
        ip: "${nodes.svc.spec.clusterIp}"
        port: "${nodes.svc.spec.ports[0].prot}"
`)
	code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack, "--on-failure", "keep")...)
	if code != ExitError {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, "", append(g, "status", stack)...)
	// Both, at once, at their lines, before anything is applied: the paths are checked
	// against the Service schema the cluster publishes.
	for _, w := range []string{
		`refs.yaml:12:13: node "use": manifest.data.ip: ${nodes.svc.spec.clusterIp}: Service has no field .spec.clusterIp (did you mean "clusterIP"?)`,
		`refs.yaml:13:15: node "use": manifest.data.port: ${nodes.svc.spec.ports[0].prot}: Service has no field .spec.ports[].prot (did you mean "port"?)`,
		"CREATE_FAILED",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("status lacks %q", w)
		}
	}
	if t.Failed() {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errs)
	}

	stack2 := stack + "-live"
	t.Cleanup(func() { run(t, "", append(g, "down", stack2)...) })
	tpl = write(t, "live.yaml", `format: aos/v1
name: live
nodes:
  cm:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}, data: {host: h}}
  use:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: use}
      data:
        host: "${nodes.cm.data.hots}"
        tier: "${nodes.cm.metadata.labels.tier}"
`)
	if code, out, errs := run(t, "", append(g, "up", tpl, "--stack", stack2, "--on-failure", "keep")...); code != ExitError {
		t.Fatalf("up: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = run(t, "", append(g, "status", stack2)...)
	for _, w := range []string{
		`${nodes.cm.data.hots}: the live object has no such value: .data.hots: no such field (it has host)`,
		`${nodes.cm.metadata.labels.tier}: the live object has no such value`,
		"ConfigMap/use",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("status lacks %q", w)
		}
	}
	if t.Failed() {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errs)
	}
}
