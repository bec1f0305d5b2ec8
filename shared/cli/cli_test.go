package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const lib = "../../templates/"

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateExitCodesAndOutput(t *testing.T) {
	code, out, _ := run(t, "", "validate", lib+"guestbook.yaml")
	if code != ExitOK || !strings.Contains(out, `valid: template "guestbook", 6 node(s), 5 edge(s), 3 input(s)`) {
		t.Fatalf("valid template: exit %d, %q", code, out)
	}
	bad := write(t, "bad.yaml", "format: aos/v1\nname: t\nnodes:\n  a:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n    dependsOn: [b]\n")
	code, out, errs := run(t, "", "validate", bad)
	if code != ExitInvalid || out != bad+`:6:17: node "a": dependsOn names unknown node "b"`+"\n" || !strings.Contains(errs, "1 problem(s)") {
		t.Fatalf("invalid template: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = run(t, "", "validate", bad, "-o", "json")
	var resp struct {
		Valid    bool
		Problems []struct {
			File, Node, Message string
			Line, Column        int
		}
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || code != ExitInvalid || resp.Valid || len(resp.Problems) != 1 {
		t.Fatalf("json: exit %d, %v, %s", code, err, out)
	}
	if p := resp.Problems[0]; p.File != bad || p.Line != 6 || p.Column != 17 || p.Node != "a" {
		t.Fatalf("json problem = %+v", p)
	}
}

func TestValidateInputsFromFlagsAndParamsFile(t *testing.T) {
	params := write(t, "p.yaml", "mysql_password: from-the-params-file\nstorage: 5Gi\n")
	code, out, errs := run(t, "", "validate", lib+"wordpress.yaml", "--params", params, "-p", "storage=10Gi")
	if code != ExitOK {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	code, out, _ = run(t, "", "validate", lib+"wordpress.yaml", "-p", "storage=10GB")
	if code != ExitInvalid || !strings.Contains(out, `missing required input "mysql_password"`) || !strings.Contains(out, `input "storage": does not match pattern`) {
		t.Fatalf("every input problem in one run: exit %d, %s", code, out)
	}
}

func TestValidateReadsStdinAndRefusesOversizedInput(t *testing.T) {
	src, _ := os.ReadFile(lib + "statefulset.yaml")
	if code, out, _ := run(t, string(src), "validate", "-"); code != ExitOK {
		t.Fatalf("stdin: exit %d %s", code, out)
	}
	huge := strings.Repeat("#", 5<<20)
	code, out, _ := run(t, huge, "validate", "-")
	if code != ExitInvalid || !strings.Contains(out, "the limit is 4194304 bytes") {
		t.Fatalf("oversized: exit %d %s", code, out)
	}
}

// Usage errors (a missing argument, a flag value the command refuses, -p without =) exit 2,
// as invalid input does; a file that cannot be read is an error (1).
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"validate"}, ExitInvalid},
		{[]string{"validate", lib + "guestbook.yaml", "-o", "yaml"}, ExitInvalid},
		{[]string{"validate", "/nonexistent/app.yaml"}, ExitError},
		{[]string{"validate", lib + "guestbook.yaml", "-p", "noequals"}, ExitInvalid},
		{[]string{"validate", lib + "guestbook.yaml", "--no-such-flag"}, ExitInvalid},
		{[]string{"graph", lib + "guestbook.yaml", "--format", "png"}, ExitInvalid},
	} {
		if code, _, errs := run(t, "", c.args...); code != c.code || errs == "" {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and a message", c.args, code, errs, c.code)
		}
	}
}

func TestGraphFormats(t *testing.T) {
	code, out, _ := run(t, "", "graph", lib+"batch-jobs.yaml", "-p", "shards=2")
	want := "digraph \"batch-jobs\" {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n" +
		"  \"shard-0\" [label=\"shard-0\\nJob\"];\n  \"shard-1\" [label=\"shard-1\\nJob\"];\n  \"summary\" [label=\"summary\\nConfigMap\"];\n" +
		"  \"shard-0\" -> \"summary\";\n  \"shard-1\" -> \"summary\";\n}\n"
	if code != ExitOK || out != want {
		t.Fatalf("dot: exit %d\n%s\nwant\n%s", code, out, want)
	}
	code, out, _ = run(t, "", "graph", lib+"batch-jobs.yaml", "-p", "shards=1", "--format", "mermaid")
	want = "flowchart LR\n  n0[\"shard-0<br/>Job\"]\n  n1[\"summary<br/>ConfigMap\"]\n  n0 --> n1\n"
	if code != ExitOK || out != want {
		t.Fatalf("mermaid: exit %d\n%s", code, out)
	}
}

func TestPlanTableAndJSON(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none.db")
	code, out, _ := run(t, "", "--state", none, "plan", lib+"microservices.yaml", "-p", "db_password=twelve-chars-long", "--stack", "shop")
	if _, err := os.Stat(none); err == nil {
		t.Fatal("plan created a state file")
	}
	if code != ExitOK || !strings.Contains(out, "stack shop in namespace shop: 10 to create, 0 to update, 0 to delete, 0 unchanged; longest chain 5, 5 start at once") ||
		!strings.Contains(out, "schema        create  Job         create-schema  db,db-svc") {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "twelve-chars-long") {
		t.Fatal("secret in plan output")
	}
	code, out, _ = run(t, "", "plan", lib+"microservices.yaml", "-o", "json")
	if code != ExitInvalid || !strings.Contains(out, `"valid": false`) {
		t.Fatalf("plan without required input: exit %d %s", code, out)
	}
}
