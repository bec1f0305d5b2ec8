package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/serve"
	"github.com/aos-project/aos/shared/wiring/embedded"
)

// remoteServer is aos serve on loopback, with its own state file, and a token file for it.
func remoteServer(t *testing.T, kc string) (url, tokenFile string) {
	t.Helper()
	const tok = "remote-cli-token-0123456789abcdef"
	tokenFile = write(t, "tokens", tok+" admin\n")
	tokens, err := project.ParseTokens([]byte(tok + " admin\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, closeFn, err := embedded.Engine(embedded.Options{StatePath: filepath.Join(t.TempDir(), "server.db"), Kubeconfig: kc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := serve.New(ctx, e, serve.Options{Addr: "127.0.0.1:0", Tokens: tokens, Log: zerolog.New(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; closeFn() })
	return "http://" + srv.Addr(), tokenFile
}

var (
	clock     = regexp.MustCompile(`\d{2}:\d{2}:\d{2}(\.\d+)?`)
	date      = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)
	duration  = regexp.MustCompile(`\b\d+(\.\d+)?(ms|µs|s)\b`)
	spaces    = regexp.MustCompile(` +`)
	stateFile = regexp.MustCompile(`in (/\S+\.db|http://127\.0\.0\.1:\d+)`)
	batchID   = regexp.MustCompile(`batch [0-9a-z-]+`)
)

// normalize removes what two runs of the same command cannot share: the stack's name, clock
// times and durations, the state's place, and the state machine's transition count (which
// only the embedded run sees).
func normalize(s, stack string) string {
	s = strings.ReplaceAll(s, stack, "STACK")
	s = clock.ReplaceAllString(s, "TIME")
	s = date.ReplaceAllString(s, "DATE")
	s = duration.ReplaceAllString(s, "DUR")
	s = strings.ReplaceAll(s, " (6 node(s))", "")
	s = regexp.MustCompile(`, \d+ state transitions\)`).ReplaceAllString(s, ")")
	s = stateFile.ReplaceAllString(s, "in STATE")
	s = batchID.ReplaceAllString(s, "batch ID")
	return spaces.ReplaceAllString(s, " ")
}

// Every stack command run with --server against aos serve gives what the embedded form gives:
// the same output (up to names, times and the state's place) and the same exit code.
func TestServerFlagMatchesTheEmbeddedForm(t *testing.T) {
	kc := kubeconfigPath(t)
	url, tokens := remoteServer(t, kc)
	n := time.Now().UnixNano() % 100000
	embeddedArgs := []string{"--state", filepath.Join(t.TempDir(), "state.db"), "--kubeconfig", kc}
	remoteArgs := []string{"--server", url, "--token-file", tokens}
	stacks := map[string]string{"embedded": fmt.Sprintf("par-e-%d", n), "remote": fmt.Sprintf("par-r-%d", n)}
	// A chain, so the events come in one order.
	tpl := write(t, "par.yaml", `format: aos/v1
name: par
inputs:
  message: {type: string, default: hello}
nodes:
  config:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {message: "${inputs.message}"}}
  web:
    manifest:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        replicas: 1
        selector: {matchLabels: {app: web}}
        template:
          metadata: {labels: {app: web}, annotations: {message: "${nodes.config.data.message}"}}
          spec: {containers: [{name: c, image: x}]}
outputs:
  message: ${nodes.web.spec.template.metadata.annotations.message}
`)
	bad := write(t, "bad.yaml", "format: aos/v1\nname: bad\nnodes:\n  a: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {x: \"${nodes.b.x}\"}}}\n")
	for _, s := range stacks {
		t.Cleanup(func() {
			for _, g := range [][]string{embeddedArgs, remoteArgs} {
				for _, name := range []string{s, s + "-copy", s + "-b-0", s + "-b-1"} {
					run(t, "", append(g, "down", name)...)
				}
			}
		})
	}
	steps := []struct {
		args []string
		code int
	}{
		{[]string{"up", tpl, "--stack", "{S}", "-p", "message=one"}, ExitOK},
		{[]string{"status", "{S}"}, ExitOK},
		{[]string{"outputs", "{S}", "-o", "json"}, ExitOK},
		{[]string{"up", tpl, "--stack", "{S}", "-p", "message=two"}, ExitOK},
		{[]string{"history", "{S}"}, ExitOK},
		{[]string{"diff", "{S}", "1", "2"}, ExitOK},
		{[]string{"plan", tpl, "--stack", "{S}", "-p", "message=three"}, ExitOK},
		{[]string{"up", tpl, "--stack", "{S}", "--dry-run", "-p", "message=three"}, ExitOK},
		{[]string{"rollback", "{S}", "--revision", "1"}, ExitOK},
		{[]string{"drift", "{S}"}, ExitOK},
		{[]string{"events", "{S}"}, ExitOK},
		{[]string{"up", bad, "--stack", "{S}"}, ExitInvalid},
		{[]string{"rollback", "{S}"}, ExitError}, // nothing failed: nothing to roll back
		{[]string{"copy", "{S}", "--to", "{S}-copy", "-p", "message=copied"}, ExitOK},
		{[]string{"rebuild", "{S}-copy"}, ExitOK},
		{[]string{"down", "{S}-copy"}, ExitOK},
		{[]string{"status", "{S}-copy"}, ExitOK},
		{[]string{"cancel", "{S}"}, ExitError}, // nothing in progress
		{[]string{"batch", tpl, "--count", "2", "--concurrency", "2", "--prefix", "{S}-b"}, ExitOK},
		{[]string{"down", "{S}-b-0"}, ExitOK},
		{[]string{"down", "{S}-b-1"}, ExitOK},
		{[]string{"down", "{S}"}, ExitOK},
		{[]string{"status", "missing-{S}"}, ExitError},
	}
	for _, st := range steps {
		got := map[string][3]string{}
		codes := map[string]int{}
		for mode, global := range map[string][]string{"embedded": embeddedArgs, "remote": remoteArgs} {
			args := append([]string(nil), global...)
			for _, a := range st.args {
				args = append(args, strings.ReplaceAll(a, "{S}", stacks[mode]))
			}
			code, out, errs := run(t, "", args...)
			codes[mode] = code
			got[mode] = [3]string{normalize(out, stacks[mode]), normalize(errs, stacks[mode])}
		}
		name := strings.Join(st.args, " ")
		if codes["embedded"] != st.code || codes["remote"] != st.code {
			t.Fatalf("%s: exit %d embedded, %d remote; want %d\nembedded:\n%s%s\nremote:\n%s%s", name, codes["embedded"], codes["remote"], st.code,
				got["embedded"][0], got["embedded"][1], got["remote"][0], got["remote"][1])
		}
		if got["embedded"] != got["remote"] {
			t.Errorf("%s: the outputs differ\nembedded:\n%s%s\nremote:\n%s%s", name, got["embedded"][0], got["embedded"][1], got["remote"][0], got["remote"][1])
		}
	}
}

// An AWS API URL (or --sigv4) signs each request with SigV4 from the usual AWS credentials,
// as API Gateway's IAM authorization requires; otherwise the bearer token goes.
func TestServerFlagSignsForAWS(t *testing.T) {
	seen := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"stacks": []}`)
	}))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	if code, out, errs := run(t, "", "--server", srv.URL, "--sigv4", "list"); code != ExitOK {
		t.Fatalf("list: %d %s %s", code, out, errs)
	}
	h := <-seen
	if auth := h.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") || h.Get("X-Amz-Date") == "" {
		t.Fatalf("not signed for execute-api: %q", auth)
	}
	t.Setenv("AOS_API_TOKEN", "a-bearer-token-0123456789")
	if code, _, errs := run(t, "", "--server", srv.URL, "list"); code != ExitOK {
		t.Fatalf("list: %d %s", code, errs)
	}
	if h := <-seen; h.Get("Authorization") != "Bearer a-bearer-token-0123456789" {
		t.Fatalf("the bearer token: %q", h.Get("Authorization"))
	}
}
