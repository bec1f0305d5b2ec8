package serve

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testbrowser"
	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/wiring/embedded"
)

const (
	consoleAlice = "console-alice-token-0123456789abcdef"
	consoleBob   = "console-bob-token-0123456789abcdef01"
)

// consoleServer is aos serve with two identities in two projects: alice may use stacks in
// namespaces console-*, bob those in bob-*.
func consoleServer(t *testing.T) (alice *client, base string) {
	t.Helper()
	testcluster.Config(t)
	set, err := project.NewSet("projects.yaml",
		&project.Project{Name: "shop", Identities: []string{"alice"}, Namespaces: []string{"console-*"}, Kinds: project.Kinds{Allow: []string{"*"}}},
		&project.Project{Name: "bobs", Identities: []string{"bob"}, Namespaces: []string{"bob-*"}, Kinds: project.Kinds{Allow: []string{"*"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := project.ParseTokens([]byte(consoleAlice + " alice\n" + consoleBob + " bob\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, closeFn, err := embedded.Engine(embedded.Options{StatePath: filepath.Join(t.TempDir(), "state.db"), Kubeconfig: os.Getenv(testcluster.KubeconfigEnv)})
	if err != nil {
		t.Fatal(err)
	}
	e.Projects = set
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, e, Options{Addr: "127.0.0.1:0", Tokens: tokens, Log: zerolog.New(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; closeFn() })
	base = "http://" + srv.Addr()
	return &client{t: t, base: base, tok: consoleAlice, api: srv.API}, base
}

// The console in a real Chromium against aos serve and the real control plane: a browser
// with no token sees only the login page; bob's token sees none of alice's stacks; alice's
// sees her stack, and its page follows the microservices stack coming up — every node
// turning READY only after its dependencies, without a reload — and a node's panel shows its
// live nodePort. Any error the page logs fails the test.
func TestConsoleFollowsAStackComingUp(t *testing.T) {
	alice, base := consoleServer(t)
	stack := fmt.Sprintf("console-%d", time.Now().UnixNano()%100000)
	cleanupNamespaces(t, stack)
	b := testbrowser.New(t, 3*time.Minute)

	b.Run(chromedp.Navigate(base + "/"))
	b.Run(chromedp.WaitVisible(chromedp.CSS("#login")))
	if n, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#stacks, #dag").length`)); n != 0 {
		t.Fatal("a browser without a token sees more than the login page")
	}
	b.Shot("login")

	tpl, err := os.ReadFile("../../templates/microservices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	if code, _ := alice.do("POST", "/v1/stacks", map[string]any{"template": string(tpl), "stack": stack, "project": "shop",
		"params": map[string]any{"db_password": "console-test-password"}}, &created); code != 202 {
		t.Fatalf("create: %d %v", code, created)
	}

	signIn := func(tok string) {
		b.Run(chromedp.SendKeys(chromedp.CSS("#token"), tok), chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#stacks")))
	}
	signIn(consoleBob)
	time.Sleep(300 * time.Millisecond) // the list has loaded: #stacks shows after it
	if rows, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#stacks tbody tr").length`)); rows != 0 {
		t.Fatalf("bob sees %d of alice's stacks", rows)
	}
	b.Run(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login")))

	signIn(consoleAlice)
	b.Run(chromedp.WaitVisible(chromedp.CSS(`#stacks tr[data-stack="` + stack + `"] a`)))
	b.Shot("stacks")
	b.Run(chromedp.Click(chromedp.CSS(`#stacks tr[data-stack="`+stack+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#dag")))

	// Watch the graph: when each node is first seen READY, and the edges the page draws.
	type seen struct {
		Nodes []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"nodes"`
		Edges [][2]string `json:"edges"`
	}
	readyAt := map[string]int{}
	var deps map[string][]string
	for tick, deadline := 0, time.Now().Add(2*time.Minute); ; tick++ {
		s, err := chromedp.Run(b.Ctx, chromedp.Evaluate[seen](`({
			nodes: [...document.querySelectorAll("#dag g.node")].map(g => ({id: g.dataset.id, status: g.dataset.status})),
			edges: [...document.querySelectorAll("#dag path.edge")].map(p => [p.dataset.from, p.dataset.to])})`))
		if err != nil {
			t.Fatal(err)
		}
		deps = map[string][]string{}
		for _, e := range s.Edges {
			deps[e[1]] = append(deps[e[1]], e[0])
		}
		all := len(s.Nodes) > 0
		for _, n := range s.Nodes {
			if _, ok := readyAt[n.ID]; !ok && n.Status == "READY" {
				readyAt[n.ID] = tick
			}
			all = all && n.Status == "READY"
		}
		if tick == 3 {
			b.Shot("coming-up")
		}
		if all && len(s.Nodes) == 10 {
			break
		}
		if time.Now().After(deadline) {
			b.Shot("timeout")
			t.Fatalf("not every node turned READY on the page: %+v", s.Nodes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(deps["frontend"]) != 4 || len(deps["schema"]) != 2 {
		t.Fatalf("the graph's edges: %v", deps)
	}
	for id, at := range readyAt {
		for _, d := range deps[id] {
			if readyAt[d] > at {
				t.Errorf("%s showed READY (sample %d) before its dependency %s (sample %d)", id, at, d, readyAt[d])
			}
		}
	}
	b.Shot("ready")

	// The node panel: the Service's live nodePort, as the cluster has it.
	svc, err := testcluster.Client(t).CoreV1().Services(stack).Get(context.Background(), "frontend", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(svc.Spec.Ports[0].NodePort)
	b.Run(chromedp.Click(chromedp.CSS(`#dag g.node[data-id="frontend-svc"]`)), chromedp.WaitVisible(chromedp.CSS("#detail-live")))
	live, _ := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("#detail-live")))
	if !strings.Contains(live, `"nodePort": `+port) {
		t.Fatalf("the node panel's live values lack nodePort %s:\n%s", port, live)
	}
	b.Run(chromedp.WaitVisible(chromedp.CSS("#outputs-table")))
	outs, _ := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("#outputs-table")))
	if !strings.Contains(outs, port) {
		t.Fatalf("outputs: %s", outs)
	}
	crit, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline rect.bar.critical").length`))
	if crit < 3 {
		t.Fatalf("the timeline's critical path has %d nodes", crit)
	}
	b.Shot("node")
}

// On a loopback server without authentication (aos serve --insecure-no-auth, as after
// `make run`) the console asks for no token, and its requests pass the same-origin checks.
func TestConsoleWithoutAuthentication(t *testing.T) {
	c, _ := start(t, "", true)
	b := testbrowser.New(t, time.Minute)
	b.Run(chromedp.Navigate(c.base + "/"))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		txt, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.body.innerText`))
		if strings.Contains(txt, "No stacks you may see.") && !strings.Contains(txt, "Sign in") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stacks list, with no sign-in, never showed:\n%s", txt)
		}
	}
}
