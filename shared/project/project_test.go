package project

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func shop() *Project {
	return &Project{
		Name: "shop", Identities: []string{"alice"}, Contexts: []string{"default", "staging"},
		Namespaces: []string{"shop", "shop-*"}, Kinds: Kinds{Allow: []string{"*"}, Deny: []string{"rbac.authorization.k8s.io/*"}},
		ClusterKinds: []string{"apiextensions.k8s.io/CustomResourceDefinition"}, ServiceAccount: "aos/shop",
	}
}

func TestCheckObject(t *testing.T) {
	p := shop()
	for _, c := range []struct {
		name string
		o    Object
		want string // "" allowed, else part of the refusal
	}{
		{"a Deployment in its namespace", Object{Group: "apps", Kind: "Deployment", Namespace: "shop"}, ""},
		{"a glob namespace", Object{Kind: "ConfigMap", Namespace: "shop-eu"}, ""},
		{"kube-system", Object{Kind: "ConfigMap", Namespace: "kube-system"}, `does not allow namespace "kube-system"`},
		{"a ClusterRoleBinding", Object{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding", ClusterScoped: true}, "denies kind rbac.authorization.k8s.io/ClusterRoleBinding"},
		{"a Role, denied by group", Object{Group: "rbac.authorization.k8s.io", Kind: "Role", Namespace: "shop"}, "denies kind"},
		{"a Namespace, cluster-scoped and unlisted", Object{Kind: "Namespace", ClusterScoped: true}, "cluster-scoped kind Namespace"},
		{"a listed CRD", Object{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", ClusterScoped: true}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := p.CheckObject(c.o)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want a refusal saying %q", err, c.want)
			}
		})
	}
	p.Kinds.Allow = []string{"ConfigMap"}
	if err := p.CheckObject(Object{Group: "apps", Kind: "Deployment", Namespace: "shop"}); err == nil || !strings.Contains(err.Error(), "allowed: ConfigMap") {
		t.Fatalf("a kind outside the allow list: %v", err)
	}
}

func TestContextsIdentitiesAdopt(t *testing.T) {
	p := shop()
	if p.CheckContext("") != nil || p.CheckContext("staging") != nil {
		t.Fatal("listed contexts refused")
	}
	if err := p.CheckContext("prod"); err == nil || !strings.Contains(err.Error(), `kube context "prod"`) {
		t.Fatalf("prod: %v", err)
	}
	if !p.Admits("alice") || p.Admits("bob") || p.Admits("") {
		t.Fatal("identities")
	}
	if err := p.CheckAdopt(); err == nil {
		t.Fatal("adopt allowed by a project that does not say so")
	}
	if got := p.Impersonate(); got != "system:serviceaccount:aos:shop" {
		t.Fatalf("impersonate %q", got)
	}
	d := Default()
	if !d.Admits("anyone") || d.CheckObject(Object{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding", ClusterScoped: true}) != nil || d.CheckContext("x") != nil || d.Impersonate() != "" {
		t.Fatal("the default project limits the single-user CLI")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		f := filepath.Join(dir, "p.yaml")
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	set, err := Load(write("projects:\n- name: shop\n  identities: [alice]\n  namespaces: [shop]\n  kinds: {allow: ['*']}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := set.Get("shop")
	if err != nil || p.CheckContext("") != nil {
		t.Fatalf("shop: %v %v", p, err)
	}
	if _, err := set.Get(""); err == nil || !strings.Contains(err.Error(), `no project "default"`) {
		t.Fatalf("a file without a default project: %v", err)
	}
	for bad, want := range map[string]string{
		"projects:\n- name: shop\n  identities: [a]\n  namspaces: [x]\n":    "namspaces",
		"projects:\n- name: Shop\n  identities: [a]\n":                      "name \"Shop\"",
		"projects:\n- name: shop\n":                                         "no identities",
		"projects:\n- name: shop\n  identities: [a]\n  serviceAccount: x\n": "expected namespace/name",
		"projects:\n- name: shop\n  identities: [a]\n  namespaces: ['[']\n": "bad pattern",
		"projects: []\n": "defines no project",
		"projects:\n- {name: a, identities: [x]}\n- {name: a, identities: [y]}\n": "defined twice",
	} {
		if _, err := Load(write(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", bad, err, want)
		}
	}
	if _, err := (*Set)(nil).Get("shop"); err == nil {
		t.Fatal("a nil set knows a project other than default")
	}
}

func TestTokens(t *testing.T) {
	tok, err := ParseTokens([]byte("# comment\n0123456789abcdef0123 alice\n\nfedcba98765432100000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := tok.Identity("0123456789abcdef0123"); !ok || id != "alice" {
		t.Fatalf("alice's token: %q %v", id, ok)
	}
	if id, ok := tok.Identity("fedcba98765432100000"); !ok || id != AdminIdentity {
		t.Fatalf("a lone token: %q %v", id, ok)
	}
	if _, ok := tok.Identity("0123456789abcdef012"); ok {
		t.Fatal("a prefix of a token is accepted")
	}
	for _, bad := range []string{"short alice\n", "", "a b c\n"} {
		if _, err := ParseTokens([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
