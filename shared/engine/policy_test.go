package engine

import (
	"strings"
	"testing"

	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/template"
)

// A template that asks for everything a project might refuse, one thing per line.
const greedy = `format: aos/v1
name: greedy
inputs:
  ns: {type: string, default: shop}
nodes:
  binding:
    manifest:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRoleBinding
      metadata: {name: take-over}
      roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
      subjects: [{kind: ServiceAccount, name: default, namespace: shop}]
  system:
    manifest:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: x, namespace: kube-system}
  adopted:
    adopt: true
    manifest: {apiVersion: v1, kind: Secret, metadata: {name: someone-elses}}
  later:
    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: y, namespace: "${inputs.ns}"}}
  fine:
    manifest: {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}}
`

func TestCheckTemplatePlacesEveryRefusal(t *testing.T) {
	r, probs := template.Validate("greedy.yaml", []byte(greedy), template.Params{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	p := &project.Project{Name: "shop", Identities: []string{"*"}, Contexts: []string{"default"}, Namespaces: []string{"shop"},
		Kinds: project.Kinds{Allow: []string{"*"}}}
	got := checkTemplate(p, r, "shop", "prod").Sorted()
	want := []string{
		`stack: project "shop" does not allow kube context "prod" (allowed: default)`,
		`greedy.yaml:9:13: node "binding": project "shop" does not allow the cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding`,
		`greedy.yaml:17:38: node "system": project "shop" does not allow namespace "kube-system" (allowed: shop)`,
		`greedy.yaml:19:12: node "adopted": project "shop" does not allow adopting objects`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), got.Error())
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].String(), w) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], w)
		}
	}
	// The stack's own namespace is checked too; a namespace from a reference waits for apply.
	if got := checkTemplate(p, r, "other", ""); !strings.Contains(got.Error(), `namespace "other" (allowed: shop) for the stack's namespace`) {
		t.Fatalf("stack namespace: %s", got.Error())
	}
	if got := checkTemplate(project.Default(), r, "anything", "any"); len(got) > 0 {
		t.Fatalf("the default project refused: %s", got.Error())
	}
}

func TestAdoptedNodesAreRetainedUnlessTheySayDelete(t *testing.T) {
	for _, c := range []struct {
		n    template.Node
		want bool
	}{
		{template.Node{DeletePolicy: "delete"}, false},
		{template.Node{DeletePolicy: "retain", DeletePolicySet: true}, true},
		{template.Node{DeletePolicy: "delete", Adopt: true}, true},
		{template.Node{DeletePolicy: "delete", DeletePolicySet: true, Adopt: true}, false},
	} {
		if got := retains(&c.n); got != c.want {
			t.Errorf("%+v: retains %v, want %v", c.n, got, c.want)
		}
	}
}
