package engine

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/template"
)

// Projects finds a project by name ("" is the default project). *project.Set is one; a nil
// Engine.Projects knows only project.Default().
type Projects interface {
	Get(name string) (*project.Project, error)
}

// PolicyError: the stack's project does not allow what the template asks. Nothing changed.
type PolicyError struct {
	Project  string
	Problems template.Problems
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("project %q refuses %d thing(s):\n%s", e.Project, len(e.Problems), e.Problems.Error())
}

// ForbiddenError: the caller's identity may not use the project.
type ForbiddenError struct{ Identity, Project string }

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("identity %q may not act on project %q", e.Identity, e.Project)
}

func projectName(name string) string {
	if name == "" {
		return project.DefaultName
	}
	return name
}

type actorKey struct{}

// WithActor says who makes the requests ctx carries: the API's caller. Events the engine
// writes under it name the actor, and projects are checked against it.
func WithActor(ctx context.Context, identity string) context.Context {
	return context.WithValue(ctx, actorKey{}, identity)
}

// ActorOf is the identity WithActor set; ok is false for the single-user CLI.
func ActorOf(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(actorKey{}).(string)
	return id, ok
}

func (e *Engine) project(name string) (*project.Project, error) {
	if e.Projects == nil {
		return (*project.Set)(nil).Get(name)
	}
	return e.Projects.Get(name)
}

// ProjectOf is the project a stack belongs to.
func (e *Engine) ProjectOf(st *StackRecord) (*project.Project, error) { return e.project(st.Project) }

// Admit refuses an identity the project does not list.
func (e *Engine) Admit(identity, projectName string) error {
	p, err := e.project(projectName)
	if err != nil {
		return err
	}
	if !p.Admits(identity) {
		return &ForbiddenError{Identity: identity, Project: p.Name}
	}
	return nil
}

// Cluster is the client a stack's objects are applied with: its kube context, as its
// project's ServiceAccount, so the cluster's RBAC has the last word.
func (e *Engine) Cluster(ctx context.Context, st *StackRecord) (*kube.Client, error) {
	if e.Kube == nil {
		return nil, fmt.Errorf("stack %q: this engine has no cluster access", st.Name)
	}
	p, err := e.ProjectOf(st)
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", st.Name, err)
	}
	if err := p.CheckContext(st.Context); err != nil {
		return nil, fmt.Errorf("stack %q: %w", st.Name, err)
	}
	c, err := e.Kube(ctx, kube.Access{Context: st.Context, As: p.Impersonate()})
	if err != nil {
		return nil, fmt.Errorf("cluster for stack %q: %w", st.Name, err)
	}
	return c, nil
}

// checkTemplate is every refusal the project has for a resolved template deployed as a stack
// in namespace ns and kube context kc, placed at the template's lines. What a reference
// decides (a namespace written as ${inputs.ns}) and kinds only the cluster knows the scope
// of are checked again at apply time (checkObject).
func checkTemplate(p *project.Project, r *template.Resolved, ns, kc string) template.Problems {
	var probs template.Problems
	at := func(pos template.Pos, node, msg string) {
		if pos.Line == 0 {
			probs = append(probs, template.Problem{File: "stack", Node: node, Message: msg})
			return
		}
		probs = append(probs, template.Problem{File: r.Template.File, Line: pos.Line, Col: pos.Col, Node: node, Message: msg})
	}
	if err := p.CheckContext(kc); err != nil {
		at(template.Pos{}, "", err.Error())
	}
	if err := p.CheckNamespace(ns); err != nil {
		at(template.Pos{}, "", err.Error()+" for the stack's namespace")
	}
	seen := map[string]bool{}
	for _, in := range r.Instances {
		n := in.Node
		if seen[n.ID] {
			continue
		}
		seen[n.ID] = true
		if n.Adopt {
			if err := p.CheckAdopt(); err != nil {
				at(n.AdoptPos, n.ID, err.Error())
			}
		}
		apiVersion, _ := n.Manifest["apiVersion"].(string)
		kind, _ := n.Manifest["kind"].(string)
		if kind == "" || strings.Contains(kind, "${") || strings.Contains(apiVersion, "${") {
			continue
		}
		gv, _ := schema.ParseGroupVersion(apiVersion)
		o := project.Object{Group: gv.Group, Kind: kind}
		o.ClusterScoped = project.KnownClusterScoped(o.Group, kind)
		if err := p.CheckKind(o); err != nil {
			at(n.KindPos, n.ID, err.Error())
			continue
		}
		md, _ := n.Manifest["metadata"].(map[string]any)
		written, _ := md["namespace"].(string)
		// An empty namespace is the stack's, checked above; a reference is decided at apply.
		if o.ClusterScoped || written == "" || strings.Contains(written, "${") || len(validation.IsDNS1123Label(written)) > 0 {
			continue
		}
		if err := p.CheckNamespace(written); err != nil {
			at(n.NamespacePos, n.ID, err.Error())
		}
	}
	return probs
}

// CheckProject is the policy check `aos validate` and a plan without a store make: what the
// project refuses in a template deployed in namespace ns (default: the template's name) and
// kube context kc. A template with problems of its own is refused by validation first, and
// checks nothing here.
func CheckProject(projects Projects, name string, req TemplateRequest, ns, kc string) (template.Problems, error) {
	r, _, probs := load(req)
	if r == nil || len(probs) > 0 {
		return nil, nil
	}
	pr, err := (&Engine{Projects: projects}).project(name)
	if err != nil {
		return nil, err
	}
	if ns == "" {
		ns = r.Template.Name
	}
	return checkTemplate(pr, r, ns, kc).Sorted(), nil
}

// checkObject is the apply-time check of one rendered object, with its scope as the cluster's
// REST mapping says (ref.Namespace is "" for a cluster-scoped kind).
func checkObject(p *project.Project, ref kube.Ref, adopt bool) error {
	o := project.Object{Group: ref.GVK.Group, Kind: ref.Kind, Namespace: ref.Namespace, ClusterScoped: ref.Namespace == ""}
	if err := p.CheckObject(o); err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	if adopt {
		if err := p.CheckAdopt(); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
	}
	return nil
}
