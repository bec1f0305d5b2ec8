// Package template holds the AOS template language: the model of a template, its parser for
// YAML and JSON (one model, with the line and column of every value), and the validation that
// catches mistakes before anything touches a cluster. The full specification is
// docs/templates.md.
package template

import (
	"time"

	"github.com/xeipuuv/gojsonschema"

	"github.com/aos-project/aos/shared/refs"
)

// Format is the only template format this version reads.
const Format = "aos/v1"

// Limits: each is checked and reported with a clear error.
const (
	MaxFileBytes     = 4 << 20 // a template file
	MaxNodes         = 10000   // nodes after `count` expansion
	MaxEdges         = 200000  // dependency edges after `count` expansion
	MaxDepth         = 100     // nesting of mappings and lists
	MaxAliasExpanded = 100000  // values produced by expanding YAML aliases
	MaxReadyTimeout  = 24 * time.Hour
	DefaultTimeout   = 10 * time.Minute
)

// Template is a parsed template.
type Template struct {
	File        string
	Format      string
	Name        string
	Description string
	Inputs      []*Input  // in file order
	Nodes       []*Node   // in file order
	Outputs     []*Output // in file order
	NamePos     Pos

	nodeIndex  map[string]*Node
	inputIndex map[string]*Input
	// exprs lists every expression written in a `${…}`, for the type check against the
	// inputs' schemas.
	exprs []exprSite
	lines int
}

func (t *Template) collector() *collector { return &collector{file: t.File, lines: t.lines} }

// Node returns the node with the given id, or nil.
func (t *Template) Node(id string) *Node { return t.nodeIndex[id] }

// Input returns the input with the given name, or nil.
func (t *Template) Input(name string) *Input { return t.inputIndex[name] }

// Input is one declared input: a JSON Schema fragment plus AOS's own keys.
type Input struct {
	Name        string
	Pos         Pos
	Description string
	Secret      bool
	Type        string // the schema's "type", if it names one
	Default     any
	HasDefault  bool
	Schema      map[string]any // the JSON Schema fragment, without AOS's own keys
	schema      *gojsonschema.Schema
	badDefault  bool // reported where the default is written
}

// Required reports whether a value must be given.
func (in *Input) Required() bool { return !in.HasDefault }

// Sources a node may hold instead of a manifest (rendered by shared/source, which this
// package does not import: validation runs without Helm or Kustomize).
const (
	SourceChart     = "chart"
	SourceKustomize = "kustomize"
	SourceManifests = "manifests"
)

// ChartKeys are the keys a chart source may hold.
var ChartKeys = []string{"path", "repo", "name", "oci", "version", "values", "release", "plainHTTP"}

// Node is one unit of the graph: one Kubernetes object, or the objects of a source.
type Node struct {
	ID          string
	Pos         Pos
	Description string
	// Source names what the node holds when it is not one manifest: a chart, kustomize or
	// manifests (shared/source); Manifest then holds its spec, rendered into objects at apply.
	Source string
	// Lookup: the node reads an existing object it does not own ({apiVersion, kind, name,
	// namespace} in Manifest), waits for it to exist and be ready, and never changes it.
	Lookup      bool
	Manifest    map[string]any
	ManifestPos Pos
	DependsOn   []Dep
	Ready       Ready
	Outputs     []*NodeOutput
	Count       *Expr // nil: one copy
	// ForEach makes one copy per element of a list (an expression or reference over
	// inputs); each copy reads its element as ${each.value}, its place as ${each.index}.
	// Source is the value as written, which apply evaluates again for the element.
	ForEach       *Expr
	ForEachSource string
	// ForEachName (forEach's long form, {in, name}) names each copy ID-<name> from its
	// element, so a copy keeps its identity when the list changes order; nil: ID-<index>.
	ForEachName *Expr
	// When leaves the node out when false. One that reads only inputs is decided before
	// anything runs; one that reads nodes (Live) is decided when they are READY, at apply:
	// a node it leaves out is SKIPPED. WhenSource is the value as written.
	When         *Expr // nil: always
	WhenSource   string
	DeletePolicy string // "delete" or "retain"
	// DeletePolicySet says the template wrote deletePolicy; an adopted node not saying so is
	// retained.
	DeletePolicySet bool
	Adopt           bool
	Replace         bool
	// Where the policy-relevant fields are written, for a project's refusals (zero: absent).
	KindPos, NamespacePos, AdoptPos Pos
	// Uses lists every reference in the manifest (and in count/when), with where it is.
	Uses []Use
	// TextRefs lists the manifest paths (".data.port") of quoted lone references in YAML,
	// which render as text; an unquoted lone reference keeps its value's type.
	TextRefs []string
}

// Output returns the declared output with the given name, or nil.
func (n *Node) Output(name string) *NodeOutput {
	for _, o := range n.Outputs {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// Dep is one explicit dependsOn entry.
type Dep struct {
	ID  string
	Pos Pos
}

// Ready says when a node counts as READY beyond the built-in rules.
type Ready struct {
	Timeout    time.Duration
	Conditions []Condition
	// When and FailWhen are CEL expressions over the live object, `self`: READY also needs
	// When true; FailWhen true fails the node at once (shared/expr).
	When, FailWhen string
}

// Condition is a custom readiness rule evaluated on the live object.
type Condition struct {
	Path  refs.Path
	Op    string
	Value any
	Pos   Pos
}

// Condition operators.
var conditionOps = []string{"==", "!=", ">", ">=", "<", "<=", "exists", "notExists", "in"}

// NodeOutput names a value read from the node's own live object after it is READY.
type NodeOutput struct {
	Name string
	Path refs.Path
	Pos  Pos
}

// Output is a stack output: a value (usually references) evaluated when the stack is READY.
type Output struct {
	Name        string
	Description string
	Value       any
	Pos         Pos
	Uses        []Use
	TextRefs    []string // as Node.TextRefs, relative to the output's value
	// Sensitive outputs (`name: {value: …, sensitive: true}`) are never stored or shown: they
	// read SensitiveText. An output derived from a secret input must say so.
	Sensitive bool
}

// Expr is a value that is a literal, exactly one reference, or an expression over inputs
// (count, when).
type Expr struct {
	Literal    any
	Ref        *refs.Ref
	Expression *refs.Expression
	Pos        Pos
}

// Live reports whether the value reads nodes: it is known only when they are READY.
func (e *Expr) Live() bool {
	if e == nil {
		return false
	}
	if e.Ref != nil {
		return e.Ref.Root == refs.RootNodes
	}
	if e.Expression != nil {
		for _, r := range e.Expression.Refs {
			if r.Root == refs.RootNodes {
				return true
			}
		}
	}
	return false
}

// exprSite is where an expression is written.
type exprSite struct {
	x     *refs.Expression
	pos   Pos
	node  string
	field string
}

// Use is one reference somewhere in a template.
type Use struct {
	Ref *refs.Ref
	Pos Pos
	// Field is where the reference sits, e.g. "manifest.spec.replicas" or "count".
	Field string
}

// Validate parses and checks a template and resolves it with params: everything `aos
// validate` does. It returns every problem it finds; inputs are checked even when the
// template itself has problems, so one run reports them all.
func Validate(file string, data []byte, params Params) (*Resolved, Problems) {
	t, probs := checked(file, data)
	if t == nil {
		return nil, probs
	}
	if len(probs) > 0 {
		c := t.collector()
		t.resolveInputs(c, params)
		return nil, append(probs, c.probs...).sorted()
	}
	return t.Resolve(params)
}
