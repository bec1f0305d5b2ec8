package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aos-project/aos/shared/refs"
	"github.com/aos-project/aos/shared/template"
)

// scope is what references resolve against when a node is applied.
type scope struct {
	inputs    map[string]any
	stack     string
	namespace string
	index     int
	// stackIndex is the stack's index in its batch (0 outside a batch): ${stack.index}.
	stackIndex int
	// nodes holds the live values of READY dependencies; outputs their declared outputs.
	nodes   map[string]map[string]any
	outputs map[string]map[string]refs.Path
	// absent holds the dependencies a when left out: reading them is an error, except
	// through an expression's optional access.
	absent map[string]bool
	// stacks holds the outputs of the other stacks the node reads.
	stacks map[string]map[string]any
	// each is the element of its forEach list a copy stands for (hasEach: it has one).
	each    any
	hasEach bool
}

// forEach makes ${each.value} the element of the node's forEach list (src, as written) at
// the scope's index. The list is computed from the inputs again, as the plan step did.
func (s *scope) forEach(src string) error {
	if src == "" {
		return nil
	}
	e, err := refs.Parse(src)
	if err != nil {
		return fmt.Errorf("forEach: %w", err)
	}
	v, err := refs.Render(e, s.lookup)
	if err != nil {
		return fmt.Errorf("forEach: %w", err)
	}
	list, ok := v.([]any)
	if !ok || s.index < 0 || s.index >= len(list) {
		return fmt.Errorf("forEach: the list no longer has element %d", s.index)
	}
	s.each, s.hasEach = list[s.index], true
	return nil
}

// newScope is what a stack's node (index: its copy number, -1 outside count) or outputs
// (index -1) resolve against, before any dependency is added.
func newScope(st *StackRecord, inputs map[string]any, index int) *scope {
	return &scope{inputs: inputs, stack: st.Name, namespace: st.Namespace, index: index, stackIndex: st.Index,
		nodes: map[string]map[string]any{}, outputs: map[string]map[string]refs.Path{}, absent: map[string]bool{}, stacks: map[string]map[string]any{}}
}

// see makes a node readable: its values, or its absence if its when left it out (or the
// revision no longer has it).
func (s *scope) see(n *NodeRecord) {
	if n.leftOut() || n.Remove {
		s.absent[n.ID] = true
		return
	}
	s.dependOn(n)
}

// dependOn makes a node's live values and outputs readable.
func (s *scope) dependOn(n *NodeRecord) {
	s.nodes[n.ID] = n.Live
	out := make(map[string]refs.Path, len(n.Outputs))
	for _, o := range n.Outputs {
		out[o.Name] = o.Path
	}
	s.outputs[n.ID] = out
}

func (s *scope) lookup(r *refs.Ref) (any, error) {
	switch r.Root {
	case refs.RootInputs:
		v, ok := s.inputs[r.Name]
		if !ok {
			return nil, fmt.Errorf("%s: no such input", r)
		}
		got, err := refs.Get(v, r.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		return got, nil
	case refs.RootStack:
		switch r.Name {
		case "name":
			return s.stack, nil
		case "index":
			return int64(s.stackIndex), nil
		}
		return s.namespace, nil
	case refs.RootIndex:
		if s.index < 0 {
			return nil, fmt.Errorf("${index} outside count")
		}
		return int64(s.index), nil
	case refs.RootEach:
		if !s.hasEach {
			return nil, fmt.Errorf("%s outside forEach", r)
		}
		if r.Name == "index" {
			return int64(s.index), nil
		}
		got, err := refs.Get(s.each, r.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		return got, nil
	case refs.RootStacks:
		return s.stackOutput(r)
	case refs.RootNodes:
		if s.absent[r.Name] {
			return nil, fmt.Errorf("%s: node %q is SKIPPED (%w)", r, r.Name, refs.ErrAbsent)
		}
		live, ok := s.nodes[r.Name]
		if !ok {
			return nil, fmt.Errorf("%s: node %q is not READY, or is not a dependency", r, r.Name)
		}
		path := r.Path
		if r.Output != "" {
			p, ok := s.outputs[r.Name][r.Output]
			if !ok {
				return nil, fmt.Errorf("%s: node %q has no output %q", r, r.Name, r.Output)
			}
			path = p
		}
		got, err := refs.Get(live, path)
		if err != nil {
			return nil, fmt.Errorf("%s: the live object has no such value: %w", r, err)
		}
		return got, nil
	}
	return nil, fmt.Errorf("%s: unknown reference", r)
}

// render returns a copy of v with every reference resolved. text holds the paths (as the
// template parser writes them) of lone references that render as text.
func render(v any, s *scope, text map[string]bool) (any, error) {
	return renderAt(v, s, "", text)
}

func renderAt(v any, s *scope, at string, text map[string]bool) (any, error) {
	switch x := v.(type) {
	case string:
		if !refs.HasRefs(x) {
			return x, nil
		}
		e, err := refs.Parse(x)
		if err != nil {
			return nil, err
		}
		out, err := refs.Render(e, s.lookup)
		if err != nil || !text[at] {
			return out, err
		}
		str, err := refs.Text(out)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", x, err)
		}
		return str, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		var errs renderErrors
		for k, e := range x {
			r, err := renderAt(e, s, at+refs.Segment{Field: k}.String(), text)
			errs = errs.add(err)
			out[k] = r
		}
		return out, errs.err()
	case []any:
		out := make([]any, len(x))
		var errs renderErrors
		for i, e := range x {
			r, err := renderAt(e, s, at+refs.Segment{Index: i, IsIndex: true}.String(), text)
			errs = errs.add(err)
			out[i] = r
		}
		return out, errs.err()
	}
	return v, nil
}

// renderErrors holds every reference of a manifest that failed to render, so that one run
// reports them all rather than one per attempt.
type renderErrors []string

func (r renderErrors) add(err error) renderErrors {
	var more renderErrors
	switch {
	case err == nil:
		return r
	case errors.As(err, &more):
		return append(r, more...)
	}
	return append(r, err.Error())
}

func (r renderErrors) err() error {
	if len(r) == 0 {
		return nil
	}
	slices.Sort(r) // map order is random; the message is not
	return r
}

func (r renderErrors) Error() string { return strings.Join(r, "; ") }

func set(paths []string) map[string]bool {
	m := make(map[string]bool, len(paths))
	for _, p := range paths {
		m[p] = true
	}
	return m
}

// referencedNodes lists the node ids a value refers to.
func referencedNodes(v any, into map[string]bool) {
	switch x := v.(type) {
	case string:
		if !refs.HasRefs(x) {
			return
		}
		if e, err := refs.Parse(x); err == nil {
			for _, r := range e.Refs() {
				if r.Root == refs.RootNodes {
					into[r.Name] = true
				}
			}
		}
	case map[string]any:
		for _, e := range x {
			referencedNodes(e, into)
		}
	case []any:
		for _, e := range x {
			referencedNodes(e, into)
		}
	}
}

// liveRoots maps each node to the top-level fields of its live object that the template
// reads (through ${nodes.N.path}, ${nodes.N.outputs.X} and stack outputs); "" stands for the
// whole object. A node nothing reads maps to no fields.
func liveRoots(t *template.Template) map[string]map[string]bool {
	outPath := map[string]map[string]refs.Path{}
	for _, n := range t.Nodes {
		outPath[n.ID] = map[string]refs.Path{}
		for _, o := range n.Outputs {
			outPath[n.ID][o.Name] = o.Path
		}
	}
	out := map[string]map[string]bool{}
	add := func(r *refs.Ref) {
		if r == nil || r.Root != refs.RootNodes {
			return
		}
		p := r.Path
		if r.Output != "" {
			p = outPath[r.Name][r.Output]
		}
		if out[r.Name] == nil {
			out[r.Name] = map[string]bool{}
		}
		if len(p) == 0 || p[0].IsIndex {
			out[r.Name][""] = true
			return
		}
		out[r.Name][p[0].Field] = true
	}
	for _, n := range t.Nodes {
		for _, u := range n.Uses {
			add(u.Ref)
		}
	}
	for _, o := range t.Outputs {
		for _, u := range o.Uses {
			add(u.Ref)
		}
	}
	return out
}
