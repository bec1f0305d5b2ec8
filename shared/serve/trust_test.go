package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/wiring/embedded"
)

const (
	aliceToken = "alice-token-0123456789abcdef"
	bobToken   = "bob-token-0123456789abcdef00"
)

// trustServer starts aos serve with two identities and three projects. "shop" and "loose"
// apply as the ServiceAccount shopNS/deployer, which RBAC lets do anything in shopNS and
// nothing elsewhere; "loose" allows every namespace and kind and adoption, so only the
// cluster's RBAC stands between it and the rest of the cluster.
func trustServer(t *testing.T, cs kubernetes.Interface, shopNS, otherNS string) (alice, bob *client, e *engine.Engine) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().ServiceAccounts(shopNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(shopNS).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(shopNS).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deployer"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: shopNS}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := shopNS + "/deployer"
	set, err := project.NewSet("projects.yaml",
		&project.Project{Name: "shop", Identities: []string{"alice"}, Namespaces: []string{shopNS}, Kinds: project.Kinds{Allow: []string{"*"}}, ServiceAccount: sa},
		&project.Project{Name: "loose", Identities: []string{"alice"}, Contexts: []string{"*"}, Namespaces: []string{"*"}, Kinds: project.Kinds{Allow: []string{"*"}},
			ClusterKinds: []string{"*"}, Adopt: true, ServiceAccount: sa},
		&project.Project{Name: "bobs", Identities: []string{"bob"}, Namespaces: []string{otherNS}, Kinds: project.Kinds{Allow: []string{"*"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := project.ParseTokens([]byte(aliceToken + " alice\n" + bobToken + " bob\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, e := serveProjects(t, set, tokens)
	base := "http://" + srv.Addr()
	return &client{t: t, base: base, tok: aliceToken, api: srv.API}, &client{t: t, base: base, tok: bobToken, api: srv.API}, e
}

// serveProjects is aos serve on loopback, with its own state, these projects and tokens,
// stopped when the test ends.
func serveProjects(t *testing.T, set *project.Set, tokens *project.Tokens) (*Server, *engine.Engine) {
	t.Helper()
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
	return srv, e
}

type apiError struct {
	Error struct {
		Code, Message string
		Details       []struct {
			File, Message string
			Line, Column  int
		}
	}
}

func TestWhoMayDoWhat(t *testing.T) {
	cs := testcluster.Client(t)
	shopNS := testcluster.Namespace(t, cs, "trust-shop")
	otherNS := testcluster.Namespace(t, cs, "trust-other")
	alice, bob, e := trustServer(t, cs, shopNS, otherNS)
	ctx := context.Background()

	// Unmanaged objects an attacker would like to take: one in the shop's namespace.
	if _, err := cs.CoreV1().Secrets(shopNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unmanaged"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A legitimate stack, applied as the project's ServiceAccount.
	good := `format: aos/v1
name: shop
nodes:
  config: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {a: b}}}
  creds: {manifest: {apiVersion: v1, kind: Secret, metadata: {name: creds}, stringData: {p: q}}}
`
	var op map[string]any
	if code, _ := alice.do("POST", "/v1/stacks", map[string]any{"template": good, "namespace": shopNS, "project": "shop"}, &op); code != 202 {
		t.Fatalf("create as alice: %d %v", code, op)
	}
	if s := alice.wait("shop"); s.Stack.Status != "CREATE_COMPLETE" {
		t.Fatalf("shop: %s %s", s.Stack.Status, s.Stack.Reason)
	}
	var evs struct{ Events []engine.Event }
	alice.do("GET", "/v1/stacks/shop/events", nil, &evs)
	if len(evs.Events) == 0 || evs.Events[0].Actor != "alice" {
		t.Fatalf("the first event does not name who started the operation: %+v", evs.Events)
	}

	refused := func(t *testing.T, c *client, method, path string, body any, code int, says string) apiError {
		t.Helper()
		before, _ := e.Store.ListStacks(ctx)
		var got apiError
		if got, _ := c.do(method, path, body, &got); got != code {
			t.Errorf("%s %s: status %d, want %d", method, path, got, code)
		}
		if !strings.Contains(got.Error.Message+fmt.Sprint(got.Error.Details), says) {
			t.Errorf("%s %s: %+v does not say %q", method, path, got.Error, says)
		}
		after, _ := e.Store.ListStacks(ctx)
		if len(after) != len(before) {
			t.Errorf("%s %s changed the store: %d stacks, then %d", method, path, len(before), len(after))
		}
		return got
	}
	tpl := func(node string) string {
		return "format: aos/v1\nname: attack\nnodes:\n" + node
	}
	attacks := []struct {
		name, template, project, context string
		says                             string
		line                             int
	}{
		{"a ClusterRoleBinding to cluster-admin", tpl(`  b:
    manifest:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRoleBinding
      metadata: {name: attack}
      roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
      subjects: [{kind: User, name: alice}]
`), "shop", "", "cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding", 7},
		{"an object in kube-system", tpl("  x: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x, namespace: kube-system}}}\n"), "shop", "", `namespace "kube-system"`, 4},
		{"a context the project does not list", tpl("  x: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}}\n"), "shop", "admin@elsewhere", `kube context "admin@elsewhere"`, 0},
		{"adopting an unmanaged object without permission", tpl("  x: {adopt: true, manifest: {apiVersion: v1, kind: Secret, metadata: {name: unmanaged}}}\n"), "shop", "", "does not allow adopting", 4},
		{"a project the caller is not in", tpl("  x: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}}\n"), "bobs", "", `identity "alice" may not act on project "bobs"`, 0},
		{"a project that does not exist", tpl("  x: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}}\n"), "nope", "", `no project "nope"`, 0},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			code := http.StatusForbidden
			if a.project == "nope" {
				code = http.StatusBadRequest
			}
			body := map[string]any{"template": a.template, "namespace": shopNS, "project": a.project, "context": a.context}
			got := refused(t, alice, "POST", "/v1/stacks", body, code, a.says)
			if a.line > 0 && (len(got.Error.Details) == 0 || got.Error.Details[0].Line != a.line) {
				t.Errorf("the refusal is not placed at line %d: %+v", a.line, got.Error.Details)
			}
			// The plan route refuses the same, with the same details.
			refused(t, alice, "POST", "/v1/plan", body, code, a.says)
		})
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, "attack", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the ClusterRoleBinding exists: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the kube-system ConfigMap exists: %v", err)
	}

	t.Run("another project's caller", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"GET", "/v1/stacks/shop"}, {"GET", "/v1/stacks/shop/outputs"}, {"GET", "/v1/stacks/shop/events"},
			{"DELETE", "/v1/stacks/shop"}, {"POST", "/v1/stacks/shop/rebuild"}, {"POST", "/v1/stacks/shop/rollback"},
			{"PUT", "/v1/stacks/shop"}, {"POST", "/v1/stacks/shop/copy"},
		} {
			var body any
			switch r.path {
			case "/v1/stacks/shop":
				if r.method == "PUT" {
					body = map[string]any{"template": good}
				}
			case "/v1/stacks/shop/copy":
				body = map[string]any{"to": "stolen", "namespace": otherNS, "project": "bobs"}
			}
			refused(t, bob, r.method, r.path, body, http.StatusForbidden, `identity "bob" may not act on project "shop"`)
		}
		var list struct{ Stacks []struct{ Name string } }
		bob.do("GET", "/v1/stacks", nil, &list)
		if len(list.Stacks) != 0 {
			t.Fatalf("bob sees %v", list.Stacks)
		}
		if s := alice.wait("shop"); s.Stack.Status != "CREATE_COMPLETE" || s.Stack.Revision != 1 {
			t.Fatalf("bob changed alice's stack: %+v", s.Stack)
		}
	})

	t.Run("adopting another stack's Secret", func(t *testing.T) {
		steal := tpl("  x: {adopt: true, manifest: {apiVersion: v1, kind: Secret, metadata: {name: creds}, stringData: {p: stolen}}}\n")
		if code, _ := alice.do("POST", "/v1/stacks", map[string]any{"template": steal, "stack": "thief", "namespace": shopNS, "project": "loose"}, nil); code != 202 {
			t.Fatalf("create: %d", code)
		}
		s := alice.wait("thief")
		var st struct {
			Nodes []struct{ ID, Status, Reason, Message string }
		}
		alice.do("GET", "/v1/stacks/thief", nil, &st)
		if s.Stack.Status != "CREATE_FAILED" || len(st.Nodes) != 1 || st.Nodes[0].Reason != "OwnedElsewhere" || !strings.Contains(st.Nodes[0].Message, "never takes an object of another stack") {
			t.Fatalf("thief: %s %+v", s.Stack.Status, st.Nodes)
		}
		sec, err := cs.CoreV1().Secrets(shopNS).Get(ctx, "creds", metav1.GetOptions{})
		if err != nil || sec.Annotations["aos.dev/stack"] != "shop" || string(sec.Data["p"]) != "q" {
			t.Fatalf("the Secret changed hands: %v %v", sec.Annotations, err)
		}
	})

	t.Run("the cluster's RBAC has the last word", func(t *testing.T) {
		// "loose" allows otherNS, but its ServiceAccount may do nothing there.
		x := tpl("  x: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}}\n")
		if code, _ := alice.do("POST", "/v1/stacks", map[string]any{"template": x, "stack": "rbac", "namespace": otherNS, "project": "loose"}, nil); code != 202 {
			t.Fatalf("create: %d", code)
		}
		s := alice.wait("rbac")
		var st struct {
			Nodes []struct{ ID, Status, Reason, Message string }
		}
		alice.do("GET", "/v1/stacks/rbac", nil, &st)
		want := fmt.Sprintf(`User "system:serviceaccount:%s:deployer" cannot`, shopNS)
		if s.Stack.Status != "CREATE_FAILED" || len(st.Nodes) != 1 || !strings.Contains(st.Nodes[0].Message, want) {
			t.Fatalf("rbac: %s %+v; want the API server's 403 naming the ServiceAccount", s.Stack.Status, st.Nodes)
		}
		if _, err := cs.CoreV1().ConfigMaps(otherNS).Get(ctx, "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the ConfigMap exists: %v", err)
		}
	})

	t.Run("lists are paged and show only the caller's projects", func(t *testing.T) {
		var page struct {
			Stacks []struct{ Name, Project, StartedBy string }
			Next   string
		}
		alice.do("GET", "/v1/stacks?limit=2", nil, &page)
		if len(page.Stacks) != 2 || page.Stacks[0].Name != "rbac" || page.Stacks[1].Name != "shop" || page.Next != "shop" || page.Stacks[1].StartedBy != "alice" || page.Stacks[1].Project != "shop" {
			t.Fatalf("first page: %+v", page)
		}
		page.Next = ""
		alice.do("GET", "/v1/stacks?limit=2&after=shop", nil, &page)
		if len(page.Stacks) != 1 || page.Stacks[0].Name != "thief" || page.Next != "" {
			t.Fatalf("second page: %+v", page)
		}
		bob.do("GET", "/v1/stacks?limit=1", nil, &page)
		if len(page.Stacks) != 0 || page.Next != "" {
			t.Fatalf("bob's page: %+v", page)
		}
	})
}

func TestInsecureServerRefusesOtherOrigins(t *testing.T) {
	c, e := start(t, "", true)
	host := strings.TrimPrefix(c.base, "http://")
	body := []byte(`{"template": "format: aos/v1\nname: csrf\nnodes:\n  x: {manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}}\n"}`)
	for _, a := range []struct {
		name    string
		headers []string
		code    int
	}{
		{"a cross-site form (text/plain)", []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"a page elsewhere", []string{"Content-Type", "application/json", "Origin", "http://evil.example"}, http.StatusForbidden},
		{"DNS rebinding", []string{"Content-Type", "application/json", "Host", "evil.example:" + strings.Split(host, ":")[1]}, http.StatusForbidden},
	} {
		t.Run(a.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", c.base+"/v1/stacks", strings.NewReader(string(body)))
			for i := 0; i+1 < len(a.headers); i += 2 {
				if a.headers[i] == "Host" {
					req.Host = a.headers[i+1]
					continue
				}
				req.Header.Set(a.headers[i], a.headers[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != a.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, a.code)
			}
			if stacks, _ := e.Store.ListStacks(context.Background()); len(stacks) != 0 {
				t.Fatalf("a stack was recorded: %v", stacks[0].Name)
			}
		})
	}
	// The same request from this machine's own client goes through.
	if code, _ := c.do("POST", "/v1/validate", body, nil, "Content-Type", "application/json", "Origin", c.base); code != 200 {
		t.Fatalf("a same-origin request: %d", code)
	}
}
