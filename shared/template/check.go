package template

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aos-project/aos/shared/graph"
	"github.com/aos-project/aos/shared/refs"
)

// Check finds the problems that need the whole template but no inputs: unknown references
// and dependencies, references a node makes to itself, ${index} outside count, and cycles.
func (t *Template) Check() Problems {
	c := t.collector()
	nodeIDs := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		nodeIDs[i] = n.ID
	}
	inputNames := make([]string, len(t.Inputs))
	for i, in := range t.Inputs {
		inputNames[i] = in.Name
	}
	for _, n := range t.Nodes {
		for _, u := range n.Uses {
			t.checkUse(c, n, u, nodeIDs, inputNames)
		}
		seen := map[string]bool{}
		for _, d := range n.DependsOn {
			switch {
			case d.ID == n.ID:
				c.add(d.Pos, n.ID, "dependsOn lists the node itself")
			case t.nodeIndex[d.ID] == nil:
				c.add(d.Pos, n.ID, "dependsOn names unknown node %q%s", d.ID, didYouMean(d.ID, nodeIDs))
			case seen[d.ID]:
				c.add(d.Pos, n.ID, "dependsOn lists %q twice", d.ID)
			}
			seen[d.ID] = true
		}
	}
	t.typeCheck(c)
	sensitive := t.SensitiveFields()
	for _, o := range t.Outputs {
		for _, u := range o.Uses {
			t.checkUse(c, nil, u, nodeIDs, inputNames)
		}
		if from := t.secretSource(o.Uses, sensitive); from != "" && !o.Sensitive {
			c.add(o.Pos, "", "output %q is derived from %s: write it as %s: {value: ..., sensitive: true}, and it is shown as %s", o.Name, from, o.Name, SensitiveText)
		}
	}
	// Every cycle, whatever else is wrong: a node that lists itself is reported above.
	for _, cyc := range t.nodeGraph().Cycles() {
		if len(cyc) > 2 {
			first := t.nodeIndex[cyc[0]]
			c.add(first.Pos, first.ID, "%v", &graph.CycleError{Path: cyc})
		}
	}
	return c.probs.sorted()
}

func (t *Template) checkUse(c *collector, n *Node, u Use, nodeIDs, inputNames []string) {
	id := ""
	if n != nil {
		id = n.ID
	}
	r := u.Ref
	inCountOrWhen := u.Field == "count" || u.Field == "when" || u.Field == "forEach"
	decidedFirst := u.Field == "count" || u.Field == "forEach" || u.Field == "forEach.name"
	switch r.Root {
	case refs.RootInputs:
		in := t.inputIndex[r.Name]
		if in == nil {
			c.add(u.Pos, id, "%s: %s refers to unknown input %q%s", u.Field, r, r.Name, didYouMean(r.Name, inputNames))
			return
		}
		if len(r.Path) > 0 && in.Type != "" && in.Type != "object" && in.Type != "array" {
			c.add(u.Pos, id, "%s: %s: input %q is of type %s and has no fields", u.Field, r, r.Name, in.Type)
		} else if msg := schemaPath(in.Schema, r.Path); msg != "" {
			c.add(u.Pos, id, "%s: %s: %s", u.Field, r, msg)
		}
	case refs.RootIndex:
		if n == nil || n.Count == nil && n.ForEach == nil {
			c.add(u.Pos, id, "%s: ${index} is only defined in a node with count or forEach", u.Field)
		} else if inCountOrWhen {
			c.add(u.Pos, id, "%s cannot use ${index}", u.Field)
		}
	case refs.RootEach:
		if n == nil || n.ForEach == nil {
			c.add(u.Pos, id, "%s: %s is only defined in a node with forEach", u.Field, r)
		} else if inCountOrWhen {
			c.add(u.Pos, id, "%s cannot use %s", u.Field, r)
		}
	case refs.RootStacks:
		if inCountOrWhen || decidedFirst {
			c.add(u.Pos, id, "%s can only refer to inputs, such as ${inputs.replicas}; another stack's outputs are read in a manifest or an output", u.Field)
		}
	case refs.RootStack:
		if inCountOrWhen || decidedFirst {
			c.add(u.Pos, id, "%s can only refer to inputs, such as ${inputs.replicas}", u.Field)
		}
	case refs.RootNodes:
		if decidedFirst {
			c.add(u.Pos, id, "%s can only refer to inputs (it is decided before any node runs), not %s", u.Field, r)
			return
		}
		target := t.nodeIndex[r.Name]
		switch {
		case target == nil:
			c.add(u.Pos, id, "%s: %s refers to unknown node %q%s", u.Field, r, r.Name, didYouMean(r.Name, nodeIDs))
		case target == n:
			c.add(u.Pos, id, "%s: %s refers to the node's own object; a node can only read other nodes' values", u.Field, r)
		case target.Count != nil || target.ForEach != nil:
			c.add(u.Pos, id, "%s: %s: node %q has count, so it has no single object to read; depend on it with dependsOn instead", u.Field, r, r.Name)
		case r.Output != "" && target.Output(r.Output) == nil:
			names := make([]string, len(target.Outputs))
			for i, o := range target.Outputs {
				names[i] = o.Name
			}
			c.add(u.Pos, id, "%s: %s: node %q declares no output %q%s", u.Field, r, r.Name, r.Output, didYouMean(r.Output, names))
		}
	}
}

// SensitiveText stands for a value derived from a secret input wherever it would be shown.
const SensitiveText = "(sensitive)"

// SensitiveFields maps each node whose manifest receives a value derived from a secret input
// to the paths in its object that hold one (".stringData.password"; a Secret's ".data" too,
// where the server puts stringData): directly from the input, or from such a field of
// another node. References to those fields, or to what contains them, are sensitive; the
// rest of the object (its name, its status) is not.
func (t *Template) SensitiveFields() map[string][]string {
	out := map[string][]string{}
	for changed := true; changed; {
		changed = false
		for _, n := range t.Nodes {
			for _, u := range n.Uses {
				field, inManifest := strings.CutPrefix(u.Field, "manifest")
				if n.Source != "" {
					// Where a chart puts a value is the chart's business: every object of a
					// source node that receives a secret is sensitive, whole.
					field, inManifest = "", strings.HasPrefix(u.Field, n.Source)
				}
				fromEach := u.Ref.Root == refs.RootEach && n.ForEach != nil && t.secretExpr(n.ForEach)
				if !inManifest || slices.Contains(out[n.ID], field) || t.secretSource([]Use{u}, out) == "" && !fromEach {
					continue
				}
				out[n.ID], changed = append(out[n.ID], field), true
				if kind, _ := n.Manifest["kind"].(string); kind == "Secret" {
					if rest, ok := strings.CutPrefix(field, ".stringData"); ok {
						out[n.ID] = append(out[n.ID], ".data"+rest)
					}
				}
			}
		}
	}
	return out
}

// secretSource says where the first of uses that reads a secret input, or a sensitive field
// of a node, gets it; "" when none does.
func (t *Template) secretSource(uses []Use, sensitive map[string][]string) string {
	for _, u := range uses {
		switch u.Ref.Root {
		case refs.RootInputs:
			if in := t.inputIndex[u.Ref.Name]; in != nil && in.Secret {
				return fmt.Sprintf("secret input %q", in.Name)
			}
		case refs.RootNodes:
			path := u.Ref.Path.String()
			if target := t.nodeIndex[u.Ref.Name]; u.Ref.Output != "" && target != nil {
				if o := target.Output(u.Ref.Output); o != nil {
					path = o.Path.String()
				}
			}
			for _, f := range sensitive[u.Ref.Name] {
				if within(path, f) || within(f, path) {
					return fmt.Sprintf("node %q's %s, which receives a secret input", u.Ref.Name, cmp.Or(f, "object"))
				}
			}
		}
	}
	return ""
}

// within reports whether path p lies at or under path q (".a.b" is within ".a", not ".ab").
func within(p, q string) bool {
	rest, ok := strings.CutPrefix(p, q)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// nodeGraph is the graph over template nodes (before count expansion).
func (t *Template) nodeGraph() *graph.Graph {
	g := graph.New(len(t.Nodes))
	for _, n := range t.Nodes {
		g.Add(n.ID)
	}
	for _, n := range t.Nodes {
		for _, dep := range n.Deps() {
			if g.Has(dep) {
				_ = g.Edge(dep, n.ID)
			}
		}
	}
	return g
}

// Deps lists the nodes n depends on, explicit ones first, then those its references imply.
func (n *Node) Deps() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range n.DependsOn {
		if !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, d.ID)
		}
	}
	for _, u := range n.Uses {
		if u.Ref.Root == refs.RootNodes && !seen[u.Ref.Name] && u.Ref.Name != n.ID {
			seen[u.Ref.Name] = true
			out = append(out, u.Ref.Name)
		}
	}
	return out
}

// Resolved is a template with its inputs: counts and conditions evaluated, copies expanded,
// and the graph of the nodes that will exist.
type Resolved struct {
	Template *Template
	// Inputs holds every input's value, secrets included: never print it.
	Inputs    map[string]any
	Instances []*Instance // in template order, copies in index order
	Graph     *graph.Graph
	// Skipped lists nodes that `when` leaves out.
	Skipped []string
}

// Instance is one node that will exist: a template node, or one copy of a node with count.
type Instance struct {
	ID    string
	Node  *Node
	Index int // -1 when the node has no count
}

// Resolve checks inputs against their schemas, evaluates count and when, expands copies and
// builds the graph. It reports every problem at once.
func (t *Template) Resolve(params Params) (*Resolved, Problems) {
	c := t.collector()
	values := t.resolveInputs(c, params)
	if len(c.probs) > 0 {
		return nil, c.probs.sorted()
	}
	r := &Resolved{Template: t, Inputs: values}
	counts := map[string]int{}
	included := map[string]bool{}
	total := 0
	for _, n := range t.Nodes {
		include := true
		if n.When != nil && !n.When.Live() {
			v, err := n.When.value(values)
			if err != nil {
				c.add(n.When.Pos, n.ID, "when: %v", err)
				continue
			}
			b, ok := v.(bool)
			if !ok {
				c.add(n.When.Pos, n.ID, "when: %s is %s, not true or false", describeExpr(n.When), describeValue(v, t.secretExpr(n.When)))
				continue
			}
			include = b
		}
		if !include {
			r.Skipped = append(r.Skipped, n.ID)
			continue
		}
		included[n.ID] = true
		k := -1
		if n.Count != nil && n.ForEach != nil {
			c.add(n.ForEach.Pos, n.ID, "a node has count or forEach, not both")
			continue
		}
		if n.ForEach != nil {
			v, err := n.ForEach.value(values)
			if err != nil {
				c.add(n.ForEach.Pos, n.ID, "forEach: %v", err)
				continue
			}
			list, ok := v.([]any)
			if !ok {
				c.add(n.ForEach.Pos, n.ID, "forEach: %s is %s, not a list", describeExpr(n.ForEach), describeValue(v, t.secretExpr(n.ForEach)))
				continue
			}
			k = len(list)
			total += k
		} else if n.Count != nil {
			v, err := n.Count.value(values)
			if err != nil {
				c.add(n.Count.Pos, n.ID, "count: %v", err)
				continue
			}
			cnt, ok := asCount(v)
			if !ok {
				c.add(n.Count.Pos, n.ID, "count: %s is %s, not a non-negative integer", describeExpr(n.Count), describeValue(v, t.secretExpr(n.Count)))
				continue
			}
			k = cnt
			total += cnt
		} else {
			total++
		}
		counts[n.ID] = k
	}
	if total > MaxNodes {
		c.add(Pos{1, 1}, "", "template expands to %d nodes; the limit is %d: lower the counts or split the application into several stacks", total, MaxNodes)
	}
	for _, n := range t.Nodes {
		if !included[n.ID] {
			continue
		}
		for _, u := range n.Uses {
			if u.Ref.Root == refs.RootNodes && !included[u.Ref.Name] && t.nodeIndex[u.Ref.Name] != nil && !u.Ref.Optional {
				c.add(u.Pos, n.ID, "%s: %s refers to node %q, which `when` leaves out with these inputs (read it optionally, as in ${nodes.?%s…orValue(…)}, where it may be left out)", u.Field, u.Ref, u.Ref.Name, u.Ref.Name)
			}
		}
	}
	if len(c.probs) > 0 {
		return nil, c.probs.sorted()
	}

	// Copies multiply edges: a node with count 5000 depending on another with count 5000
	// links every copy to every copy. Count them before building anything.
	edges := 0
	for _, n := range t.Nodes {
		if k, ok := counts[n.ID]; ok {
			for _, dep := range n.Deps() {
				if dk, ok := counts[dep]; ok {
					edges += max(k, 1) * max(dk, 1)
				}
			}
		}
	}
	if edges > MaxEdges {
		c.add(Pos{1, 1}, "", "template expands to %d dependency edges; the limit is %d: a node with count that depends on another node with count waits for every one of its copies", edges, MaxEdges)
		return nil, c.probs.sorted()
	}

	r.Graph = graph.New(total)
	copies := map[string][]string{}
	for _, n := range t.Nodes {
		k, ok := counts[n.ID]
		if !ok {
			continue
		}
		if k < 0 {
			r.add(c, n, n.ID, -1)
			copies[n.ID] = []string{n.ID}
			continue
		}
		ids := make([]string, k)
		for i := range k {
			ids[i] = fmt.Sprintf("%s-%d", n.ID, i)
		}
		if n.ForEachName != nil {
			ids = t.copyNames(c, n, values)
		}
		for i, id := range ids {
			r.add(c, n, id, i)
		}
		copies[n.ID] = ids
	}
	for _, inst := range r.Instances {
		for _, dep := range inst.Node.Deps() {
			// Deps lists each dependency once and copies are distinct, so every edge is new.
			for _, d := range copies[dep] {
				_ = r.Graph.NewEdge(d, inst.ID)
			}
		}
	}
	if len(c.probs) > 0 {
		return nil, c.probs.sorted()
	}
	return r, nil
}

func (r *Resolved) add(c *collector, n *Node, id string, index int) {
	if r.Graph.Has(id) {
		c.add(n.Pos, n.ID, "copy %q collides with another node of the same id; rename one of them", id)
		return
	}
	r.Graph.Add(id)
	r.Instances = append(r.Instances, &Instance{ID: id, Node: n, Index: index})
}

func (t *Template) secretRef(r *refs.Ref) bool {
	if r == nil || r.Root != refs.RootInputs {
		return false
	}
	in := t.inputIndex[r.Name]
	return in != nil && in.Secret
}

// value is what a count or when is with these inputs: its literal, the input it names, or
// what its expression makes of the inputs.
func (e *Expr) value(values map[string]any) (any, error) {
	switch {
	case e.Ref != nil:
		return inputValue(values, e.Ref), nil
	case e.Expression != nil:
		return e.Expression.Eval(func(r *refs.Ref) (any, error) {
			if r.Root != refs.RootInputs {
				return nil, fmt.Errorf("%s is decided before any node runs: it can read inputs only", r)
			}
			return values[r.Name], nil
		})
	}
	return e.Literal, nil
}

// secretExpr reports whether a count or when reads a secret input.
func (t *Template) secretExpr(e *Expr) bool {
	if e.Expression != nil {
		for _, r := range e.Expression.Refs {
			if t.secretRef(r) {
				return true
			}
		}
		return false
	}
	return t.secretRef(e.Ref)
}

// schemaPath follows a path into an input's JSON Schema and says where it leaves it: a field
// an object schema does not declare (unless it allows other properties), or a step into a
// scalar. "" when the path fits, or the schema does not say.
func schemaPath(schema map[string]any, p refs.Path) string {
	for i, s := range p {
		typ, _ := schema["type"].(string)
		switch {
		case s.IsIndex:
			if typ != "" && typ != "array" {
				return fmt.Sprintf("%s is a %s, not a list", p[:i], typ)
			}
			items, _ := schema["items"].(map[string]any)
			if items == nil {
				return ""
			}
			schema = items
		default:
			if typ != "" && typ != "object" {
				return fmt.Sprintf("%s is a %s and has no field %q", p[:i], typ, s.Field)
			}
			props, _ := schema["properties"].(map[string]any)
			if props == nil {
				return ""
			}
			next, ok := props[s.Field].(map[string]any)
			if !ok {
				if extra, set := schema["additionalProperties"]; set && extra != false {
					return "" // other properties are allowed
				}
				names := make([]string, 0, len(props))
				for k := range props {
					names = append(names, k)
				}
				slices.Sort(names)
				return fmt.Sprintf("the input's schema declares no field %q%s (it declares %s)", s.Field, didYouMean(s.Field, names), strings.Join(names, ", "))
			}
			schema = next
		}
	}
	return ""
}

func inputValue(values map[string]any, r *refs.Ref) any {
	v := values[r.Name]
	if len(r.Path) == 0 {
		return v
	}
	got, err := refs.Get(v, r.Path)
	if err != nil {
		return nil
	}
	return got
}

func asCount(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), x >= 0 && x <= MaxNodes*10
	case int:
		return x, x >= 0 && x <= MaxNodes*10
	case float64:
		if x >= 0 && x == float64(int64(x)) && x <= MaxNodes*10 {
			return int(x), true
		}
	}
	return 0, false
}

func describeExpr(e *Expr) string {
	if e.Ref != nil {
		return e.Ref.String()
	}
	if e.Expression != nil {
		return "${" + e.Expression.Value.Source + "}"
	}
	return "the value"
}

func describeValue(v any, secret bool) string {
	if secret {
		return "a secret value of type " + jsonType(v)
	}
	switch v.(type) {
	case string:
		return fmt.Sprintf("the string %q", clip(v.(string)))
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v (%s)", v, jsonType(v))
}

func jsonType(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64:
		return "integer"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// SortedInputNames lists input names alphabetically (stable output for tools).
func (t *Template) SortedInputNames() []string {
	return slices.Sorted(maps.Keys(t.inputIndex))
}
