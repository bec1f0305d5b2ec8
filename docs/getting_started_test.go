// Package docs holds the project's documentation; its test walks getting-started.md.
package docs

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aos-project/aos/internal/testcluster"
)

// shBlocks are the page's ```sh blocks, in order: what a reader types. (```bash blocks set up
// what the test sets up itself: the binary on PATH and KUBECONFIG.)
var shBlocks = regexp.MustCompile("(?ms)^```sh\n(.*?)^```\n")

// The first-hour page, walked: its commands run in order in one shell, against the local
// cluster, with the aos built from this tree, and its claims hold.
func TestGettingStartedWalksThrough(t *testing.T) {
	testcluster.Config(t) // fails with how-to when there is no cluster
	kc := os.Getenv(testcluster.KubeconfigEnv)
	if kc == "" {
		kc = os.Getenv("KUBECONFIG")
	}
	page, err := os.ReadFile("getting-started.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := shBlocks.FindAllStringSubmatch(string(page), -1)
	if len(blocks) < 8 {
		t.Fatalf("%d sh blocks found; the page has lost its commands", len(blocks))
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "aos"), "../cmd/aos").CombinedOutput(); err != nil {
		t.Fatalf("building aos: %v\n%s", err, out)
	}
	// The page serves on 127.0.0.1:8080; the test on a port nobody else uses.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		script.WriteString(strings.ReplaceAll(b[1], "127.0.0.1:8080", addr))
	}
	work := t.TempDir()
	t.Cleanup(func() {
		down := exec.Command(filepath.Join(bin, "aos"), "down", "shop")
		down.Env = append(os.Environ(), "KUBECONFIG="+kc, "AOS_STATE="+filepath.Join(work, "tutorial", "state.db"))
		_ = down.Run()
	})
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "KUBECONFIG="+kc, "AOS_STATE=", "TERM=dumb")
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the walk did not end in 4 minutes:\n%s", out)
	}
	if err != nil {
		t.Fatalf("the walk failed: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		`oops.yaml:7:80: syntax error: did not find expected ',' or '}' (a reference inside {…} or […] must be quoted: write "${inputs.m}")`,
		"flowchart LR",
		`greeting: "hello" -> "bonjour"`,
		"UPDATE_ROLLBACK_COMPLETE",
		"Timeout: not ready after 20s",
		`"status": "UPDATE_COMPLETE"`,
		"Deployment is available. Replicas: 3",
		"DELETE_COMPLETE",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the walk's output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}
