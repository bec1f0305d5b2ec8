package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testbrowser"
	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/project"
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
	srv, _ := serveProjects(t, set, tokens)
	base = "http://" + srv.Addr()
	return &client{t: t, base: base, tok: consoleAlice, api: srv.API}, base
}

// waitText waits until the element sel exists and its text holds want, and returns it.
func waitText(t *testing.T, b *testbrowser.Browser, sel, want string) string {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		txt, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`(document.querySelector(`+strconvQuote(sel)+`) || {}).innerText || ""`))
		if err == nil && strings.Contains(txt, want) {
			return txt
		}
		if time.Now().After(deadline) {
			b.Shot("wait")
			t.Fatalf("%s never showed %q; it shows %q (%v)", sel, want, txt, err)
		}
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// The console in a real Chromium against aos serve and the real control plane: a browser
// with no token sees only the login page; alice creates the microservices stack from the
// library through the form generated from its inputs' schemas (a bad value shows its error
// at the field first), and the stack page follows it coming up — every node turning READY
// only after its dependencies, without a reload; a node's panel shows its live nodePort;
// she changes an input, sees the plan's diff, applies it, and rolls back from the history
// (which shows the diff between revisions); bob's token sees none of it. Any error the page
// logs fails the test.
func TestConsoleFollowsAStackComingUp(t *testing.T) {
	_, base := consoleServer(t)
	stack := fmt.Sprintf("console-%d", time.Now().UnixNano()%100000)
	cleanupNamespaces(t, stack)
	cs := testcluster.Client(t)
	ctx := context.Background()
	b := testbrowser.New(t, 4*time.Minute)

	b.Run(chromedp.Navigate(base + "/"))
	b.Run(chromedp.WaitVisible(chromedp.CSS("#login")))
	if n, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#stacks, #dag").length`)); n != 0 {
		t.Fatal("a browser without a token sees more than the login page")
	}
	b.Shot("login")
	signIn := func(tok string) {
		b.Run(chromedp.SendKeys(chromedp.CSS("#token"), tok), chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#stacks")))
	}
	signIn(consoleAlice)

	// Create from the library, through the generated form.
	b.Run(chromedp.Click(chromedp.CSS("#new-stack")), chromedp.WaitVisible(chromedp.CSS("#template")))
	b.Run(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector("#template"); s.value = "microservices.yaml"; s.dispatchEvent(new Event("change")); })()`))
	b.Run(chromedp.WaitVisible(chromedp.CSS("#in-db_password")),
		chromedp.SetValue(chromedp.CSS("#f-stack"), stack), chromedp.SetValue(chromedp.CSS("#f-project"), "shop"),
		chromedp.SetValue(chromedp.CSS("#in-db_password"), "short"), chromedp.Click(chromedp.CSS("#preview")))
	waitText(t, b, "#err-db_password", "db_password")
	if dis, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.querySelector("#create").disabled`)); !dis {
		t.Fatal("Create is enabled after a refused preview")
	}
	b.Shot("bad-value")
	b.Run(chromedp.SetValue(chromedp.CSS("#in-db_password"), "console-test-password"), chromedp.Click(chromedp.CSS("#preview")))
	waitText(t, b, "#plan", "10 to create")
	if msg := waitText(t, b, "#err-db_password", ""); msg != "" {
		t.Fatalf("the field's error stayed: %q", msg)
	}
	b.Shot("preview")
	b.Run(chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#dag")))

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
	waitText(t, b, "h1", "CREATE_COMPLETE")
	b.Shot("ready")

	// The node panel: the Service's live nodePort, as the cluster has it.
	svc, err := cs.CoreV1().Services(stack).Get(ctx, "frontend", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(svc.Spec.Ports[0].NodePort)
	b.Run(chromedp.Click(chromedp.CSS(`#dag g.node[data-id="frontend-svc"]`)))
	waitText(t, b, "#detail-live", `"nodePort": `+port)
	waitText(t, b, "#outputs-table", port)
	// The applied manifest: references resolved, the secret masked.
	dbSvc, err := cs.CoreV1().Services(stack).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.Run(chromedp.Click(chromedp.CSS(`#dag g.node[data-id="orders"]`)))
	waitText(t, b, "#detail-applied", dbSvc.Spec.ClusterIP)
	b.Run(chromedp.Click(chromedp.CSS(`#dag g.node[data-id="db-auth"]`)))
	if applied := waitText(t, b, "#detail-applied", `"password": "(sensitive)"`); strings.Contains(applied, "console-test-password") {
		t.Fatalf("the applied manifest shows the secret:\n%s", applied)
	}
	crit, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline rect.bar.critical").length`))
	if crit < 3 {
		t.Fatalf("the timeline's critical path has %d nodes", crit)
	}
	b.Shot("node")

	// Change an input: the plan's diff, then the update.
	replicas := func() int32 {
		d, err := cs.AppsV1().Deployments(stack).Get(ctx, "orders", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	b.Run(chromedp.Click(chromedp.CSS("#act-update")), chromedp.WaitVisible(chromedp.CSS("#in-backend_replicas")),
		chromedp.SetValue(chromedp.CSS("#in-backend_replicas"), "3"), chromedp.Click(chromedp.CSS("#preview-update")))
	plan := waitText(t, b, "#plan", "backend_replicas: 2 → 3")
	if !strings.Contains(plan, "2 to update") || !strings.Contains(plan, "8 unchanged") {
		t.Fatalf("the update's plan:\n%s", plan)
	}
	b.Shot("update-preview")
	b.Run(chromedp.Click(chromedp.CSS("#apply-update")))
	waitText(t, b, "h1", "UPDATE_COMPLETE")
	if r := replicas(); r != 3 {
		t.Fatalf("after the update: %d replicas", r)
	}

	// History: the diff between the two revisions, then a rollback to the first.
	b.Run(chromedp.Click(chromedp.CSS("#act-history")), chromedp.WaitVisible(chromedp.CSS("#history")), chromedp.Click(chromedp.CSS("#show-diff")))
	waitText(t, b, "#diff", "backend_replicas: 2 → 3")
	b.Shot("history")
	b.Run(chromedp.Click(chromedp.CSS(`button.rollback[data-revision="1"]`)))
	waitText(t, b, "#reason", "revision 3")
	waitText(t, b, "h1", "UPDATE_COMPLETE")
	if r := replicas(); r != 2 {
		t.Fatalf("after the rollback: %d replicas", r)
	}

	// Upload a new template: one more node, previewed, then applied.
	tplPath := filepath.Join(t.TempDir(), "microservices-notes.yaml")
	more := strings.Replace(string(mustRead(t, "../../templates/microservices.yaml")), "\noutputs:\n",
		"\n  notes:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: notes}, data: {about: uploaded}}\noutputs:\n", 1)
	if err := os.WriteFile(tplPath, []byte(more), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Run(chromedp.Click(chromedp.CSS("#act-update")), chromedp.WaitVisible(chromedp.CSS("#upload-template")),
		chromedp.SetUploadFiles(chromedp.CSS("#upload-template"), []string{tplPath}))
	waitText(t, b, "#uploaded", "microservices-notes.yaml")
	b.Run(chromedp.Click(chromedp.CSS("#preview-update")))
	waitText(t, b, "#plan", "1 to create")
	b.Run(chromedp.Click(chromedp.CSS("#apply-update")))
	waitText(t, b, "#reason", "revision 4")
	waitText(t, b, "h1", "UPDATE_COMPLETE")
	if cm, err := cs.CoreV1().ConfigMaps(stack).Get(ctx, "notes", metav1.GetOptions{}); err != nil || cm.Data["about"] != "uploaded" {
		t.Fatalf("the uploaded template's node: %v", err)
	}

	// Copy, then delete the copy, from its page (the name typed to confirm).
	cp := stack + "-copy"
	cleanupNamespaces(t, cp)
	b.Run(chromedp.SetValue(chromedp.CSS("#copy-to"), cp), chromedp.Click(chromedp.CSS("#act-copy")))
	waitText(t, b, "#action-result", "Copying to "+cp)
	b.Run(chromedp.Navigate(base + "/#/stacks/" + cp))
	waitText(t, b, "h1", "CREATE_COMPLETE")
	b.Run(chromedp.Click(chromedp.CSS("#act-delete")))
	waitText(t, b, "#action-result", "Type the stack's name to delete it.")
	b.Run(chromedp.SetValue(chromedp.CSS("#delete-confirm"), cp), chromedp.Click(chromedp.CSS("#act-delete")))
	waitText(t, b, "h1", "DELETE_COMPLETE")
	if _, err := cs.AppsV1().Deployments(cp).Get(ctx, "orders", metav1.GetOptions{}); err == nil {
		t.Fatal("the deleted copy's Deployment is still there")
	}

	// bob sees none of it.
	b.Run(chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login")))
	b.Run(chromedp.Navigate(base + "/"))
	signIn(consoleBob)
	time.Sleep(500 * time.Millisecond) // the list has loaded
	if rows, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#stacks tbody tr").length`)); rows != 0 {
		t.Fatalf("bob sees %d of alice's stacks", rows)
	}
	b.Run(chromedp.Navigate(base + "/#/stacks/" + stack))
	waitText(t, b, "main", `identity "bob" may not act on project "shop"`)
	if n, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#dag, #actions").length`)); n != 0 {
		t.Fatal("bob's page shows the stack's graph or actions")
	}
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

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
