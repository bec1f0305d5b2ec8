// Package project holds AOS's unit of permission, as an Argo CD AppProject: which identities
// may use a project, which kube contexts, namespaces and kinds its stacks may touch, whether
// they may adopt objects, and the ServiceAccount they apply as. The checks are pure: the
// engine runs them at validate/plan time on the template and again at apply time on the
// rendered object, and the cluster's RBAC, through impersonation, has the last word.
package project

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// DefaultName is the project a stack belongs to when none is named.
const DefaultName = "default"

// Anyone, in a project's identities, admits every authenticated caller.
const Anyone = "*"

// Project is one project. Globs are path.Match patterns ("shop-*").
type Project struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Identities  []string `json:"identities"`
	// Contexts are the kube contexts stacks may use; "" (or "default") is the server's default.
	Contexts []string `json:"contexts"`
	// Namespaces are globs of the namespaces namespaced objects may go to.
	Namespaces []string `json:"namespaces"`
	// Kinds allows and denies kinds, written Kind or group/Kind ("apps/Deployment", "*").
	Kinds Kinds `json:"kinds"`
	// ClusterKinds lists the cluster-scoped kinds allowed; none is unless listed here.
	ClusterKinds []string `json:"clusterKinds,omitempty"`
	// Adopt allows nodes with `adopt: true` to take over objects no AOS stack manages.
	Adopt bool `json:"adopt,omitempty"`
	// ServiceAccount ("namespace/name") is who the project's stacks apply as, through
	// impersonation; empty applies as AOS's own identity.
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// Kinds are allow and deny lists; deny wins, and an empty allow list allows nothing.
type Kinds struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny,omitempty"`
}

// Default is the project of the single-user CLI when no projects file is given: the user
// already acts with their own kubeconfig credentials, so AOS adds no limit of its own.
func Default() *Project {
	return &Project{
		Name: DefaultName, Description: "the single-user default: everything the kubeconfig's own identity may do",
		Identities: []string{Anyone}, Contexts: []string{"*"}, Namespaces: []string{"*"},
		Kinds: Kinds{Allow: []string{"*"}}, ClusterKinds: []string{"*"}, Adopt: true,
	}
}

// Object is what the policy needs to know of one object.
type Object struct {
	Group, Kind string
	Namespace   string // "" for a cluster-scoped object
	// ClusterScoped is true for a kind without namespaces.
	ClusterScoped bool
}

func (o Object) String() string {
	k := o.Kind
	if o.Group != "" {
		k = o.Group + "/" + o.Kind
	}
	return k
}

// Admits reports whether identity may use the project.
func (p *Project) Admits(identity string) bool {
	return slices.Contains(p.Identities, Anyone) || identity != "" && slices.Contains(p.Identities, identity)
}

// CheckContext refuses a kube context the project does not list.
func (p *Project) CheckContext(kubeContext string) error {
	for _, c := range p.Contexts {
		if c == "*" || c == kubeContext || kubeContext == "" && c == "default" {
			return nil
		}
	}
	shown := kubeContext
	if shown == "" {
		shown = "(the default context)"
	}
	return fmt.Errorf("project %q does not allow kube context %q (allowed: %s)", p.Name, shown, list(p.Contexts))
}

// CheckNamespace refuses a namespace outside the project's globs.
func (p *Project) CheckNamespace(ns string) error {
	if matchAny(p.Namespaces, ns) {
		return nil
	}
	return fmt.Errorf("project %q does not allow namespace %q (allowed: %s)", p.Name, ns, list(p.Namespaces))
}

// CheckObject refuses an object whose kind or namespace the project does not allow.
func (p *Project) CheckObject(o Object) error {
	if err := p.CheckKind(o); err != nil || o.ClusterScoped {
		return err
	}
	return p.CheckNamespace(o.Namespace)
}

// CheckKind refuses a kind the project denies or does not allow; a cluster-scoped kind must be
// listed in ClusterKinds.
func (p *Project) CheckKind(o Object) error {
	names := []string{o.Kind, o.String()}
	switch {
	case matchAnyOf(p.Kinds.Deny, names):
		return fmt.Errorf("project %q denies kind %s", p.Name, o)
	case o.ClusterScoped:
		if !matchAnyOf(p.ClusterKinds, names) {
			return fmt.Errorf("project %q does not allow the cluster-scoped kind %s (cluster-scoped kinds must be listed under clusterKinds; allowed: %s)", p.Name, o, list(p.ClusterKinds))
		}
	case !matchAnyOf(p.Kinds.Allow, names):
		return fmt.Errorf("project %q does not allow kind %s (allowed: %s)", p.Name, o, list(p.Kinds.Allow))
	}
	return nil
}

// CheckAdopt refuses `adopt: true` in a project that does not allow it.
func (p *Project) CheckAdopt() error {
	if p.Adopt {
		return nil
	}
	return fmt.Errorf("project %q does not allow adopting objects (adopt: true); ask its owner to set `adopt: true` on the project", p.Name)
}

// Impersonate is the Kubernetes user the project's stacks apply as ("" for AOS's own).
func (p *Project) Impersonate() string {
	if p.ServiceAccount == "" {
		return ""
	}
	ns, name, _ := strings.Cut(p.ServiceAccount, "/")
	return "system:serviceaccount:" + ns + ":" + name
}

func matchAnyOf(globs, names []string) bool {
	for _, n := range names {
		if matchAny(globs, n) {
			return true
		}
	}
	return false
}

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// clusterScoped are the built-in kinds without namespaces, by group: what the validate step
// knows without a cluster. Apply asks the cluster's REST mapping, which knows every kind.
var clusterScoped = map[string][]string{
	"":                             {"Namespace", "Node", "PersistentVolume", "ComponentStatus"},
	"rbac.authorization.k8s.io":    {"ClusterRole", "ClusterRoleBinding"},
	"apiextensions.k8s.io":         {"CustomResourceDefinition"},
	"storage.k8s.io":               {"StorageClass", "CSIDriver", "CSINode", "VolumeAttachment"},
	"admissionregistration.k8s.io": {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"},
	"apiregistration.k8s.io":       {"APIService"},
	"scheduling.k8s.io":            {"PriorityClass"},
	"node.k8s.io":                  {"RuntimeClass"},
	"certificates.k8s.io":          {"CertificateSigningRequest", "ClusterTrustBundle"},
	"flowcontrol.apiserver.k8s.io": {"FlowSchema", "PriorityLevelConfiguration"},
	"networking.k8s.io":            {"IngressClass", "IPAddress", "ServiceCIDR"},
	"resource.k8s.io":              {"DeviceClass", "ResourceSlice"},
}

// KnownClusterScoped reports whether a built-in kind is cluster-scoped.
func KnownClusterScoped(group, kind string) bool {
	return slices.Contains(clusterScoped[group], kind)
}
