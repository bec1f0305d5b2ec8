package template

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xeipuuv/gojsonschema"
	yaml "go.yaml.in/yaml/v3"

	"github.com/aos-project/aos/shared/expr"
	"github.com/aos-project/aos/shared/refs"
)

var (
	topKeys   = []string{"format", "name", "description", "inputs", "nodes", "outputs"}
	nodeKeys  = []string{"description", "manifest", "chart", "kustomize", "manifests", "lookup", "dependsOn", "ready", "outputs", "count", "forEach", "when", "deletePolicy", "adopt", "replace"}
	readyKeys = []string{"timeout", "conditions", "when", "failWhen"}
	condKeys  = []string{"path", "op", "value"}
	// JSON Schema keywords an input may use, plus AOS's own `secret`.
	inputKeys = []string{"type", "description", "title", "default", "enum", "const", "pattern", "format",
		"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
		"items", "minItems", "maxItems", "uniqueItems", "properties", "required", "additionalProperties",
		"examples", "secret"}

	nodeIDPattern    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	inputNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLinePattern  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	inputTypes       = []string{"string", "integer", "number", "boolean", "array", "object"}
)

// Parse reads a template from YAML or JSON. It returns every problem it can find without
// inputs; Check finds the rest. A template with problems may still be returned partially
// filled, for tools that show as much as they can.
func Parse(file string, data []byte) (*Template, Problems) {
	c := &collector{file: file, lines: lineCount(data)}
	t := &Template{File: file, nodeIndex: map[string]*Node{}, inputIndex: map[string]*Input{}, lines: c.lines}
	if len(data) > MaxFileBytes {
		c.add(Pos{1, 1}, "", "template is %d bytes; the limit is %d bytes (4 MiB): split it into several stacks", len(data), MaxFileBytes)
		return nil, c.probs
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	p := &parser{c: c, t: t, aliasBudget: MaxAliasExpanded, json: len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')}
	if doc, ok := jsonTree(data); ok {
		return p.document(doc)
	}
	if len(data) >= splitMin {
		if doc, ok := splitTree(data, splitParts()); ok {
			return p.document(doc)
		}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.add(Pos{1, 1}, "", "template is empty; expected a mapping with format, name and nodes")
		} else {
			at, hint := yamlProblem(err, data)
			c.add(at, "", "syntax error: %s%s", yamlErrorMessage(err), hint)
		}
		return nil, c.probs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		c.add(Pos{extra.Line, extra.Column}, "", "a template is one YAML document; found another one here (remove the '---')")
		return nil, c.probs
	} else if !errors.Is(err, io.EOF) {
		c.add(yamlErrorPos(err, data), "", "syntax error: %s", yamlErrorMessage(err))
		return nil, c.probs
	}
	return p.document(&doc)
}

// document parses a template's decoded document.
func (p *parser) document(doc *yaml.Node) (*Template, Problems) {
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.c.add(pos(root), "", "a template is a mapping with format, name and nodes; found %s", kindName(root))
		return nil, p.c.probs
	}
	p.top(root)
	return p.t, p.c.probs.sorted()
}

// yamlParserErrors are the YAML parser's (not scanner's) messages; for them the library
// reports the 0-based line, one less than the line people count.
var yamlParserErrors = []string{"did not find expected key", "did not find expected '-' indicator",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'"}

// yamlProblem is where a syntax error is, and a hint for the one a template writer meets most.
// The YAML library reports the line where the enclosing collection began, not the line at
// fault: for a block collection the fault is on the first line whose prefix of the document
// no longer parses; for a flow collection ({…}, […]) it is most often an unquoted ${…},
// which YAML reads as the start of a mapping.
func yamlProblem(err error, data []byte) (Pos, string) {
	at := yamlErrorPos(err, data)
	msg := yamlErrorMessage(err)
	switch msg {
	case "did not find expected key", "did not find expected '-' indicator":
		if p, ok := firstFailingLine(data, at.Line, msg); ok {
			return p, ""
		}
	case "did not find expected ',' or '}'", "did not find expected ',' or ']'":
		if p, ref, ok := unquotedRef(data, at.Line); ok {
			return p, fmt.Sprintf(` (a reference inside {…} or […] must be quoted: write "%s")`, ref)
		}
	}
	return at, ""
}

// yamlScanLimit bounds the search for a syntax error's line: each step parses a prefix of
// the document again.
const yamlScanLimit = 400

// firstFailingLine finds the first line from `from` on such that the document up to it fails
// to parse with msg; its position is the line's first non-blank character.
func firstFailingLine(data []byte, from int, msg string) (Pos, bool) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if from < 1 || from > len(lines) || len(data) > 1<<20 {
		return Pos{}, false
	}
	prefix := len(bytes.Join(lines[:from-1], nil))
	for l := from; l <= len(lines) && l < from+yamlScanLimit; l++ {
		prefix += len(lines[l-1])
		var n yaml.Node
		if err := yaml.Unmarshal(data[:prefix], &n); err != nil && yamlErrorMessage(err) == msg {
			line := lines[l-1]
			return Pos{l, len(line) - len(bytes.TrimLeft(line, " \t")) + 1}, true
		}
	}
	return Pos{}, false
}

// unquotedRef finds the first ${…} outside quotes from line `from` on, in the flow
// collection the error is about.
func unquotedRef(data []byte, from int) (Pos, string, bool) {
	lines := strings.SplitAfter(string(data), "\n")
	for l := max(from, 1); l <= len(lines) && l < from+yamlScanLimit; l++ {
		line := lines[l-1]
		var quote rune
	scan:
		for i, r := range line {
			switch {
			case quote != 0:
				if r == quote {
					quote = 0
				}
			case r == '"' || r == '\'':
				quote = r
			case r == '#' && (i == 0 || line[i-1] == ' '):
				break scan
			case strings.HasPrefix(line[i:], "${"):
				ref := line[i:]
				if end := strings.IndexByte(ref, '}'); end >= 0 {
					ref = ref[:end+1]
				}
				return Pos{l, utf8.RuneCountInString(line[:i]) + 1}, ref, true
			}
		}
	}
	return Pos{}, "", false
}

func yamlErrorPos(err error, data []byte) Pos {
	lines := lineCount(data)
	if m := yamlLinePattern.FindStringSubmatch(firstLine(err.Error())); m != nil {
		n, _ := strconv.Atoi(m[1])
		if slices.Contains(yamlParserErrors, m[2]) {
			n++
		}
		return Pos{min(max(n, 1), lines), 1}
	}
	return Pos{1, 1}
}

// lineCount counts lines the way YAML does: \n, \r\n, a lone \r, and NEL, LS, PS all end one.
func lineCount(data []byte) int {
	n := 1
	s := string(data)
	for i, r := range s {
		switch r {
		case '\n', '\u0085', '\u2028', '\u2029':
			n++
		case '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				n++
			}
		}
	}
	return n
}

func yamlErrorMessage(err error) string {
	s := firstLine(err.Error())
	if m := yamlLinePattern.FindStringSubmatch(s); m != nil {
		return m[2]
	}
	return strings.TrimPrefix(s, "yaml: ")
}

func firstLine(s string) string {
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n  ")
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// outputLongForm returns m when it is an output's long form: a mapping with a `value` key and
// no keys but value, sensitive and description. (To output such a mapping as data, use the
// long form around it.)
func outputLongForm(m *yaml.Node) *yaml.Node {
	if m.Kind != yaml.MappingNode || valueNode(m, "value") == nil {
		return nil
	}
	for i := 0; i < len(m.Content); i += 2 {
		switch m.Content[i].Value {
		case "value", "sensitive", "description":
		default:
			return nil
		}
	}
	return m
}

// celMessage is a CEL compile error on one line: CEL's own words, where it points in the
// expression, without the source it quotes (the template's line shows it).
func celMessage(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	msg = strings.TrimPrefix(strings.ReplaceAll(msg, " (in container '')", ""), "ERROR: ")
	if strings.Contains(msg, "undeclared reference to") {
		msg += "; the live object is self"
	}
	if rest, ok := strings.CutPrefix(msg, "<input>:"); ok {
		if at, text, ok := strings.Cut(rest, ": "); ok {
			return text + " (at " + at + " of the expression)"
		}
	}
	return msg
}

// valueNode is the value of key in mapping m, or nil.
func valueNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// valuePos is where the value of key in mapping m is written (zero when absent).
func valuePos(m *yaml.Node, key string) Pos {
	if v := valueNode(m, key); v != nil {
		return pos(v)
	}
	return Pos{}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", clip(n.Value))
	case "!!null":
		return "nothing (null)"
	case "!!bool":
		return "the boolean " + n.Value
	case "!!int", "!!float":
		return "the number " + n.Value
	}
	return fmt.Sprintf("%q", clip(n.Value))
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

type parser struct {
	c           *collector
	t           *Template
	aliasBudget int
	aliasFailed bool
	emptyNodes  bool
	// json: the document is JSON, where every string is quoted, so quoting means nothing.
	json bool
	// textPaths collects, during one walk, the paths of quoted whole references.
	textPaths []string
}

// pair is one key/value of a mapping.
type pair struct {
	key, val *yaml.Node
}

// pairs lists a mapping's entries, resolving aliases of the value, reporting duplicate keys
// and keys not in allowed (when allowed is non-nil).
func (p *parser) pairs(m *yaml.Node, node, what string, allowed []string) []pair {
	out := make([]pair, 0, len(m.Content)/2)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			if what == "nodes" {
				p.c.add(pos(k), k.Value, "duplicate node id (first at line %d)", first.Line)
			} else {
				p.c.add(pos(k), node, "duplicate key %q in %s (first at line %d)", k.Value, what, first.Line)
			}
			continue
		}
		seen[k.Value] = k
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			p.c.add(pos(k), node, "unknown key %q in %s%s", k.Value, what, didYouMean(k.Value, allowed))
			continue
		}
		out = append(out, pair{k, p.deref(v)})
	}
	return out
}

func (p *parser) deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func (p *parser) mapping(n *yaml.Node, node, what string) bool {
	if n.Kind != yaml.MappingNode {
		p.c.add(pos(n), node, "%s must be a mapping; found %s", what, kindName(n))
		return false
	}
	return true
}

func (p *parser) str(n *yaml.Node, node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.c.add(pos(n), node, "%s must be a string; found %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.c.add(pos(n), node, "%s must be true or false; found %s", what, kindName(n))
		return false
	}
	b, _ := strconv.ParseBool(strings.ToLower(n.Value))
	return b
}

func (p *parser) top(root *yaml.Node) {
	t := p.t
	var haveFormat, haveName, haveNodes bool
	for _, kv := range p.pairs(root, "", "the template", topKeys) {
		switch kv.key.Value {
		case "format":
			haveFormat = true
			if s, ok := p.str(kv.val, "", "format"); ok {
				t.Format = s
				if s != Format {
					p.c.add(pos(kv.val), "", "unsupported format %q; this version reads %q", s, Format)
				}
			}
		case "name":
			haveName = true
			t.NamePos = pos(kv.val)
			if s, ok := p.str(kv.val, "", "name"); ok {
				t.Name = s
				if !nodeIDPattern.MatchString(s) || len(s) > 63 {
					p.c.add(pos(kv.val), "", "name %q must be a DNS label (lower-case letters, digits and '-', at most 63 characters): it names the stack's namespace by default", clip(s))
				}
			}
		case "description":
			t.Description, _ = p.str(kv.val, "", "description")
		case "inputs":
			if p.mapping(kv.val, "", "inputs") {
				p.inputs(kv.val)
			}
		case "nodes":
			haveNodes = true
			if p.mapping(kv.val, "", "nodes") {
				p.emptyNodes = len(kv.val.Content) == 0
				p.nodes(kv.val)
			}
		case "outputs":
			if p.mapping(kv.val, "", "outputs") {
				p.outputs(kv.val)
			}
		}
	}
	if !haveFormat {
		p.c.add(pos(root), "", "missing format: add `format: %s`", Format)
	}
	if !haveName {
		p.c.add(pos(root), "", "missing name: add `name: my-app` (a DNS label)")
	}
	if !haveNodes || p.emptyNodes {
		p.c.add(pos(root), "", "template has no nodes: add `nodes:` with at least one node")
	}
}

func (p *parser) inputs(m *yaml.Node) {
	for _, kv := range p.pairs(m, "", "inputs", nil) {
		name := kv.key.Value
		if !inputNamePattern.MatchString(name) {
			p.c.add(pos(kv.key), "", "input name %q must start with a letter or '_' and hold only letters, digits and '_'", clip(name))
			continue
		}
		in := &Input{Name: name, Pos: pos(kv.key)}
		if !p.mapping(kv.val, "", fmt.Sprintf("input %q", name)) {
			continue
		}
		schema := map[string]any{}
		typeOK := true
		for _, f := range p.pairs(kv.val, "", fmt.Sprintf("input %q", name), inputKeys) {
			switch f.key.Value {
			case "secret":
				in.Secret = p.boolean(f.val, "", fmt.Sprintf("input %q: secret", name))
				continue
			case "description":
				in.Description, _ = p.str(f.val, "", fmt.Sprintf("input %q: description", name))
			case "type":
				in.Type = f.val.Value
				if f.val.Kind == yaml.ScalarNode && !slices.Contains(inputTypes, in.Type) {
					p.c.add(pos(f.val), "", "input %q: type %q is not one of %s%s", name, clip(in.Type), strings.Join(inputTypes, ", "), didYouMean(in.Type, inputTypes))
					typeOK = false
				}
			case "default":
				in.HasDefault = true
			}
			v, ok := p.value(f.val, 0, false, "", nil)
			if !ok {
				continue
			}
			if f.key.Value == "default" {
				in.Default = v
			}
			schema[f.key.Value] = v
		}
		in.Schema = schema
		if in.Secret && in.HasDefault {
			// A default is template text: stored with every revision, shown by every copy of
			// the file. Terraform refuses the same.
			p.c.add(valuePos(kv.val, "default"), "", "input %q is secret and has a default: a secret's value cannot live in the template; remove the default and pass it with -p %s=@FILE or $AOS_PARAM_%s", name, name, name)
			in.HasDefault, in.Default = false, nil
			delete(schema, "default")
		}
		if hasRef(schema) {
			// gojsonschema would fetch a remote $ref over the network: never from a template.
			p.c.add(in.Pos, "", "input %q: $ref is not allowed in input schemas; write the schema inline", name)
			typeOK = false
		}
		if !typeOK {
			// already reported, more clearly than the schema library would
		} else if s, err := gojsonschema.NewSchema(gojsonschema.NewGoLoader(schema)); err != nil {
			p.c.add(in.Pos, "", "input %q: invalid schema: %v", name, err)
		} else {
			in.schema = s
			if in.HasDefault {
				p.checkDefault(in, kv.val)
			}
		}
		p.t.Inputs = append(p.t.Inputs, in)
		p.t.inputIndex[name] = in
	}
}

func hasRef(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "$ref" || hasRef(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasRef(e) {
				return true
			}
		}
	}
	return false
}

func (p *parser) checkDefault(in *Input, m *yaml.Node) {
	res, err := in.schema.Validate(gojsonschema.NewGoLoader(in.Default))
	if err != nil || res.Valid() {
		return
	}
	at := in.Pos
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "default" {
			at = pos(m.Content[i+1])
		}
	}
	in.badDefault = true
	p.c.add(at, "", "input %q: default: %s", in.Name, schemaErrors(res))
}

func (p *parser) nodes(m *yaml.Node) {
	for _, kv := range p.pairs(m, "", "nodes", nil) {
		id := kv.key.Value
		n := &Node{ID: id, Pos: pos(kv.key), DeletePolicy: "delete", Ready: Ready{Timeout: DefaultTimeout}}
		if !nodeIDPattern.MatchString(id) || len(id) > 63 {
			p.c.add(pos(kv.key), id, "node id must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters")
		}
		p.t.Nodes = append(p.t.Nodes, n)
		p.t.nodeIndex[id] = n
		if !p.mapping(kv.val, id, "a node") {
			continue
		}
		var holds []string // manifest, or a source
		for _, f := range p.pairs(kv.val, id, "node", nodeKeys) {
			switch f.key.Value {
			case "description":
				n.Description, _ = p.str(f.val, id, "description")
			case "manifest":
				holds = append(holds, "manifest")
				p.manifest(n, f.val)
			case SourceChart, SourceKustomize, SourceManifests:
				holds = append(holds, f.key.Value)
				p.source(n, f.key.Value, f.val)
			case "lookup":
				holds = append(holds, "lookup")
				p.lookup(n, f.val)
			case "dependsOn":
				p.dependsOn(n, f.val)
			case "ready":
				p.ready(n, f.val)
			case "outputs":
				p.nodeOutputs(n, f.val)
			case "count":
				n.Count = p.expr(n, f.val, "count")
				if n.Count != nil && n.Count.Ref == nil && n.Count.Expression == nil {
					if c, ok := n.Count.Literal.(int64); !ok || c < 0 {
						p.c.add(pos(f.val), id, "count must be a non-negative integer or a reference such as ${inputs.replicas}; found %s", kindName(f.val))
						n.Count = nil
					}
				}
			case "forEach":
				list := f.val
				if f.val.Kind == yaml.MappingNode {
					// The long form, {in: LIST, name: EXPRESSION}: copies named by their element.
					for _, kv := range p.pairs(f.val, id, "forEach", []string{"in", "name"}) {
						if kv.key.Value == "name" {
							n.ForEachName = p.expr(n, kv.val, "forEach.name")
							if n.ForEachName != nil && n.ForEachName.Ref == nil && n.ForEachName.Expression == nil {
								p.c.add(pos(kv.val), id, "forEach.name must be a reference or an expression over the element, such as ${each.value.name}; found %s", kindName(kv.val))
								n.ForEachName = nil
							}
						}
					}
					if list = valueNode(f.val, "in"); list == nil {
						p.c.add(pos(f.val), id, "forEach: the long form needs `in`, the list: {in: ${inputs.tenants}, name: ${each.value.name}}")
						break
					}
				}
				n.ForEach = p.expr(n, list, "forEach")
				if n.ForEach != nil && n.ForEach.Ref == nil && n.ForEach.Expression == nil {
					p.c.add(pos(list), id, "forEach must be a reference or an expression over inputs, such as ${inputs.regions}; found %s", kindName(list))
					n.ForEach = nil
				}
				n.ForEachSource = list.Value
			case "when":
				n.When = p.expr(n, f.val, "when")
				n.WhenSource = f.val.Value
				if n.When != nil && n.When.Ref == nil && n.When.Expression == nil {
					if _, ok := n.When.Literal.(bool); !ok {
						p.c.add(pos(f.val), id, "when must be true, false or a reference such as ${inputs.enabled}; found %s", kindName(f.val))
						n.When = nil
					}
				}
			case "deletePolicy":
				if s, ok := p.str(f.val, id, "deletePolicy"); ok {
					if s != "delete" && s != "retain" {
						p.c.add(pos(f.val), id, "deletePolicy must be delete or retain; found %q%s", clip(s), didYouMean(s, []string{"delete", "retain"}))
					} else {
						n.DeletePolicy, n.DeletePolicySet = s, true
					}
				}
			case "adopt":
				n.Adopt, n.AdoptPos = p.boolean(f.val, id, "adopt"), pos(f.val)
			case "replace":
				n.Replace = p.boolean(f.val, id, "replace")
			}
		}
		switch {
		case len(holds) == 0:
			p.c.add(pos(kv.key), id, "missing manifest: every node holds one Kubernetes object under `manifest:`, or the objects of a `chart:`, `kustomize:` or `manifests:`, or reads one with `lookup:`")
		case len(holds) > 1:
			p.c.add(pos(kv.key), id, "a node holds one of manifest, chart, kustomize, manifests or lookup; this one has %s", strings.Join(holds, " and "))
		case n.Lookup:
			if n.Adopt || n.Replace || n.DeletePolicySet {
				p.c.add(pos(kv.key), id, "a lookup node reads an object the stack does not own: it is never modified or deleted, so adopt, replace and deletePolicy do not apply")
			}
		case n.Source != "":
			if len(n.Ready.Conditions) > 0 || n.Ready.When != "" || n.Ready.FailWhen != "" {
				p.c.add(pos(kv.key), id, "ready.conditions, ready.when and ready.failWhen read one object; a %s node is READY when each of its objects is, by its kind's own rules (only ready.timeout applies)", n.Source)
			}
			if n.Replace {
				p.c.add(pos(kv.key), id, "replace applies to one object; a %s node's objects are applied as they are rendered", n.Source)
			}
		}
	}
}

func (p *parser) manifest(n *Node, m *yaml.Node) {
	n.ManifestPos = pos(m)
	if !p.mapping(m, n.ID, "manifest") {
		return
	}
	n.KindPos = valuePos(m, "kind")
	if md := valueNode(m, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		n.NamespacePos = valuePos(md, "namespace")
	}
	p.textPaths = nil
	v, ok := p.value(m, 0, false, n.ID, func(s string, at Pos, path []string) {
		p.uses(n, s, at, "manifest"+strings.Join(path, ""), &n.Uses)
	})
	if !ok {
		return
	}
	n.Manifest = v.(map[string]any)
	n.TextRefs = p.textPaths
	for _, k := range []string{"apiVersion", "kind"} {
		s, isStr := n.Manifest[k].(string)
		if !isStr || s == "" {
			p.c.add(n.ManifestPos, n.ID, "manifest needs %s (a non-empty string)", k)
		}
	}
	md, isMap := n.Manifest["metadata"].(map[string]any)
	if !isMap {
		p.c.add(n.ManifestPos, n.ID, "manifest needs metadata with a name")
		return
	}
	name, _ := md["name"].(string)
	gen, _ := md["generateName"].(string)
	if name == "" && gen == "" {
		p.c.add(n.ManifestPos, n.ID, "manifest needs metadata.name (or metadata.generateName)")
	}
}

// lookup reads {apiVersion, kind, name, namespace}: an existing object the stack reads and
// waits for, but does not own. It is kept as a manifest of just that identity.
func (p *parser) lookup(n *Node, m *yaml.Node) {
	n.Lookup, n.ManifestPos = true, pos(m)
	if !p.mapping(m, n.ID, "lookup") {
		return
	}
	p.pairs(m, n.ID, "lookup", []string{"apiVersion", "kind", "name", "namespace"})
	n.KindPos, n.NamespacePos = valuePos(m, "kind"), valuePos(m, "namespace")
	v, ok := p.value(m, 0, false, n.ID, func(s string, at Pos, path []string) {
		p.uses(n, s, at, "lookup"+strings.Join(path, ""), &n.Uses)
	})
	if !ok {
		return
	}
	spec := v.(map[string]any)
	md := map[string]any{"name": spec["name"]}
	if ns, ok := spec["namespace"]; ok {
		md["namespace"] = ns
	}
	n.Manifest = map[string]any{"apiVersion": spec["apiVersion"], "kind": spec["kind"], "metadata": md}
	for _, k := range []string{"apiVersion", "kind", "name"} {
		if s, _ := spec[k].(string); s == "" {
			p.c.add(n.ManifestPos, n.ID, "lookup needs %s (a non-empty string): {apiVersion: v1, kind: Secret, name: db-credentials}", k)
		}
	}
}

// source reads a chart, kustomize or manifests source. Its spec is kept as the node's
// Manifest, so its references resolve as a manifest's do; apply renders it into objects.
func (p *parser) source(n *Node, kind string, m *yaml.Node) {
	n.Source, n.ManifestPos = kind, pos(m)
	if kind != SourceChart && m.Kind == yaml.ScalarNode {
		// kustomize: DIR, manifests: FILE|DIR
		if s, ok := p.str(m, n.ID, kind); ok {
			n.Manifest = map[string]any{"path": s}
			p.uses(n, s, pos(m), kind+".path", &n.Uses)
		}
		return
	}
	if !p.mapping(m, n.ID, kind) {
		return
	}
	allowed := []string{"path"}
	if kind == SourceChart {
		allowed = ChartKeys
	}
	p.pairs(m, n.ID, kind, allowed)
	p.textPaths = nil
	v, ok := p.value(m, 0, false, n.ID, func(s string, at Pos, path []string) {
		p.uses(n, s, at, kind+strings.Join(path, ""), &n.Uses)
	})
	if !ok {
		return
	}
	n.Manifest = v.(map[string]any)
	n.TextRefs = p.textPaths
	if kind != SourceChart {
		if _, ok := n.Manifest["path"].(string); !ok {
			p.c.add(n.ManifestPos, n.ID, "%s needs path, a folder or file: `%s: ./deploy`", kind, kind)
		}
		return
	}
	has := func(k string) bool { _, ok := n.Manifest[k]; return ok }
	switch {
	case has("path") && !has("repo") && !has("oci"):
	case has("oci") && !has("path") && !has("repo"):
	case has("repo") && !has("path") && !has("oci"):
		if !has("name") {
			p.c.add(n.ManifestPos, n.ID, "chart.repo needs name, the chart's name in the repository")
		}
	default:
		p.c.add(n.ManifestPos, n.ID, "chart needs exactly one of path (a folder or .tgz), repo (with name) or oci (oci://host/path)")
	}
	if vals, ok := n.Manifest["values"]; ok {
		if _, isMap := vals.(map[string]any); !isMap {
			p.c.add(valuePos(m, "values"), n.ID, "chart.values must be a mapping, as in a values.yaml")
		}
	}
}

// uses parses the references in s and records them; a syntax error is a problem at `at`.
func (p *parser) uses(n *Node, s string, at Pos, field string, into *[]Use) {
	e, err := refs.Parse(s)
	if err != nil {
		p.c.add(at, id(n), "%s: %v", field, err)
		return
	}
	for _, r := range e.Refs() {
		*into = append(*into, Use{Ref: r, Pos: at, Field: field})
	}
	for _, part := range e.Parts {
		if part.Expr != nil {
			p.t.exprs = append(p.t.exprs, exprSite{x: part.Expr, pos: at, node: id(n), field: field})
		}
	}
}

func id(n *Node) string {
	if n == nil {
		return ""
	}
	return n.ID
}

func (p *parser) dependsOn(n *Node, v *yaml.Node) {
	if v.Kind != yaml.SequenceNode {
		p.c.add(pos(v), n.ID, "dependsOn must be a list of node ids, e.g. [db, cache]; found %s", kindName(v))
		return
	}
	for _, e := range v.Content {
		e = p.deref(e)
		if s, ok := p.str(e, n.ID, "each dependsOn entry"); ok {
			n.DependsOn = append(n.DependsOn, Dep{ID: s, Pos: pos(e)})
		}
	}
}

func (p *parser) ready(n *Node, v *yaml.Node) {
	if !p.mapping(v, n.ID, "ready") {
		return
	}
	for _, f := range p.pairs(v, n.ID, "ready", readyKeys) {
		switch f.key.Value {
		case "timeout":
			s, ok := p.str(f.val, n.ID, "ready.timeout")
			if !ok {
				continue
			}
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 || d > MaxReadyTimeout {
				p.c.add(pos(f.val), n.ID, "ready.timeout %q must be a duration between 1s and 24h, such as 90s, 5m or 1h30m", clip(s))
				continue
			}
			n.Ready.Timeout = d
		case "when", "failWhen":
			src, ok := p.str(f.val, n.ID, "ready."+f.key.Value)
			if !ok {
				continue
			}
			if _, err := expr.CompileRule(src); err != nil {
				p.c.add(pos(f.val), n.ID, "ready.%s: %s", f.key.Value, celMessage(err))
				continue
			}
			if f.key.Value == "when" {
				n.Ready.When = src
			} else {
				n.Ready.FailWhen = src
			}
		case "conditions":
			if f.val.Kind != yaml.SequenceNode {
				p.c.add(pos(f.val), n.ID, "ready.conditions must be a list of {path, op, value}; found %s", kindName(f.val))
				continue
			}
			for _, cn := range f.val.Content {
				p.condition(n, p.deref(cn))
			}
		}
	}
}

func (p *parser) condition(n *Node, v *yaml.Node) {
	if !p.mapping(v, n.ID, "a ready condition") {
		return
	}
	c := Condition{Pos: pos(v)}
	var havePath, haveOp, haveValue bool
	for _, f := range p.pairs(v, n.ID, "ready condition", condKeys) {
		switch f.key.Value {
		case "path":
			s, ok := p.str(f.val, n.ID, "condition path")
			if !ok {
				continue
			}
			havePath = true
			path, err := parseObjectPath(s)
			if err != nil {
				p.c.add(pos(f.val), n.ID, "condition path %q: %v", clip(s), err)
				continue
			}
			c.Path = path
		case "op":
			s, ok := p.str(f.val, n.ID, "condition op")
			if !ok {
				continue
			}
			haveOp = true
			if !slices.Contains(conditionOps, s) {
				p.c.add(pos(f.val), n.ID, "condition op %q is not one of %s%s", clip(s), strings.Join(conditionOps, " "), didYouMean(s, conditionOps))
				continue
			}
			c.Op = s
		case "value":
			haveValue = true
			c.Value, _ = p.value(f.val, 0, false, n.ID, nil)
		}
	}
	switch {
	case !havePath:
		p.c.add(c.Pos, n.ID, "ready condition needs a path, e.g. .status.succeeded")
	case !haveOp:
		p.c.add(c.Pos, n.ID, "ready condition needs an op: one of %s", strings.Join(conditionOps, " "))
	case !haveValue && c.Op != "exists" && c.Op != "notExists" && c.Op != "":
		p.c.add(c.Pos, n.ID, "ready condition with op %q needs a value", c.Op)
	case c.Op == "in":
		if _, ok := c.Value.([]any); !ok {
			p.c.add(c.Pos, n.ID, "ready condition with op \"in\" needs a list value")
		}
	}
	n.Ready.Conditions = append(n.Ready.Conditions, c)
}

// parseObjectPath parses a path into an object written from its root, e.g. .status.phase.
func parseObjectPath(s string) (refs.Path, error) {
	if !strings.HasPrefix(s, ".") && !strings.HasPrefix(s, "[") {
		return nil, fmt.Errorf("a path starts with '.', e.g. .status.readyReplicas")
	}
	p, err := refs.ParsePath(s)
	if err == nil && len(p) == 0 {
		err = fmt.Errorf("empty path")
	}
	return p, err
}

func (p *parser) nodeOutputs(n *Node, v *yaml.Node) {
	if !p.mapping(v, n.ID, "outputs") {
		return
	}
	for _, f := range p.pairs(v, n.ID, "outputs", nil) {
		s, ok := p.str(f.val, n.ID, fmt.Sprintf("output %q", f.key.Value))
		if !ok {
			continue
		}
		if refs.HasRefs(s) {
			p.c.add(pos(f.val), n.ID, "output %q: a node output is a path into the node's own object, such as .spec.clusterIP, not a reference", f.key.Value)
			continue
		}
		path, err := parseObjectPath(s)
		if err != nil {
			p.c.add(pos(f.val), n.ID, "output %q: path %q: %v", f.key.Value, clip(s), err)
			continue
		}
		n.Outputs = append(n.Outputs, &NodeOutput{Name: f.key.Value, Path: path, Pos: pos(f.val)})
	}
}

// expr reads count or when: a literal, or a string that is exactly one reference.
func (p *parser) expr(n *Node, v *yaml.Node, field string) *Expr {
	x := &Expr{Pos: pos(v)}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && refs.HasRefs(v.Value) {
		e, err := refs.Parse(v.Value)
		if err != nil {
			p.c.add(pos(v), n.ID, "%s: %v", field, err)
			return nil
		}
		if !e.Whole() {
			p.c.add(pos(v), n.ID, "%s must be exactly one reference, such as ${inputs.replicas}, not text around it", field)
			return nil
		}
		if x.Expression = e.Parts[0].Expr; x.Expression != nil {
			for _, r := range x.Expression.Refs {
				n.Uses = append(n.Uses, Use{Ref: r, Pos: x.Pos, Field: field})
			}
			p.t.exprs = append(p.t.exprs, exprSite{x: x.Expression, pos: x.Pos, node: n.ID, field: field})
			return x
		}
		x.Ref = e.Parts[0].Ref
		n.Uses = append(n.Uses, Use{Ref: x.Ref, Pos: x.Pos, Field: field})
		return x
	}
	lit, ok := p.value(v, 0, false, n.ID, nil)
	if !ok {
		return nil
	}
	x.Literal = lit
	return x
}

func (p *parser) outputs(m *yaml.Node) {
	for _, kv := range p.pairs(m, "", "outputs", nil) {
		o := &Output{Name: kv.key.Value, Pos: pos(kv.key)}
		if !inputNamePattern.MatchString(o.Name) {
			p.c.add(pos(kv.key), "", "output name %q must start with a letter or '_' and hold only letters, digits and '_'", clip(o.Name))
			continue
		}
		val := kv.val
		if long := outputLongForm(val); long != nil {
			// The long form: {value, sensitive, description}.
			val = valueNode(val, "value")
			if d := valueNode(long, "description"); d != nil {
				o.Description, _ = p.str(d, "", fmt.Sprintf("output %q: description", o.Name))
			}
			if sv := valueNode(long, "sensitive"); sv != nil {
				o.Sensitive = p.boolean(sv, "", fmt.Sprintf("output %q: sensitive", o.Name))
			}
		}
		p.textPaths = nil
		v, ok := p.value(val, 0, false, "", func(s string, at Pos, path []string) {
			p.uses(nil, s, at, "outputs."+o.Name+strings.Join(path, ""), &o.Uses)
		})
		if !ok {
			continue
		}
		o.Value, o.TextRefs = v, p.textPaths
		p.t.Outputs = append(p.t.Outputs, o)
	}
}

// value converts a YAML node to plain Go values (map[string]any, []any, string, int64,
// float64, bool, nil), calling onString for every string with its position and path.
// Aliases are expanded under a budget so that a "billion laughs" document fails fast.
func (p *parser) value(n *yaml.Node, depth int, inAlias bool, node string, onString func(string, Pos, []string)) (any, bool) {
	var path []string
	return p.walk(n, depth, inAlias, node, onString, &path)
}

func (p *parser) walk(n *yaml.Node, depth int, inAlias bool, node string, onString func(string, Pos, []string), path *[]string) (any, bool) {
	if depth > MaxDepth {
		p.c.add(pos(n), node, "values nest more than %d levels deep", MaxDepth)
		return nil, false
	}
	if inAlias {
		if p.aliasBudget--; p.aliasBudget < 0 {
			if !p.aliasFailed {
				p.aliasFailed = true
				p.c.add(pos(n), node, "YAML aliases expand to more than %d values (a \"billion laughs\" document?); write the values out or use fewer aliases", MaxAliasExpanded)
			}
			return nil, false
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			p.c.add(pos(n), node, "unknown alias *%s", n.Value)
			return nil, false
		}
		return p.walk(n.Alias, depth+1, true, node, onString, path)
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				if !p.merge(out, v, depth, inAlias, node, onString, path) {
					return nil, false
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				p.c.add(pos(k), node, "mapping keys must be strings; found %s", kindName(k))
				return nil, false
			}
			if line, dup := seen[k.Value]; dup {
				p.c.add(pos(k), node, "duplicate key %q (first at line %d)", k.Value, line)
				continue
			}
			seen[k.Value] = k.Line
			*path = append(*path, fieldText(k.Value))
			val, ok := p.walk(v, depth+1, inAlias, node, onString, path)
			*path = (*path)[:len(*path)-1]
			if !ok {
				return nil, false
			}
			out[k.Value] = val
		}
		return out, true
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			*path = append(*path, "["+strconv.Itoa(i)+"]")
			val, ok := p.walk(e, depth+1, inAlias, node, onString, path)
			*path = (*path)[:len(*path)-1]
			if !ok {
				return nil, false
			}
			out = append(out, val)
		}
		return out, true
	case yaml.ScalarNode:
		return p.scalar(n, node, onString, *path)
	}
	p.c.add(pos(n), node, "unexpected YAML node")
	return nil, false
}

func (p *parser) merge(out map[string]any, v *yaml.Node, depth int, inAlias bool, node string, onString func(string, Pos, []string), path *[]string) bool {
	srcs := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		srcs = v.Content
	}
	for _, s := range srcs {
		val, ok := p.walk(s, depth+1, inAlias, node, onString, path)
		if !ok {
			return false
		}
		m, isMap := val.(map[string]any)
		if !isMap {
			p.c.add(pos(s), node, "a merge key (<<) needs a mapping or a list of mappings")
			return false
		}
		for k, x := range m {
			if _, set := out[k]; !set {
				out[k] = x
			}
		}
	}
	return true
}

func fieldText(k string) string {
	if refs.Path([]refs.Segment{{Field: k}}).String() == "."+k {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

func (p *parser) scalar(n *yaml.Node, node string, onString func(string, Pos, []string), path []string) (any, bool) {
	switch n.ShortTag() {
	case "!!str", "!!timestamp", "!!binary":
		if onString != nil && refs.HasRefs(n.Value) {
			onString(n.Value, pos(n), path)
			// In YAML, quoting a lone reference ("${index}") asks for text. An expression keeps
			// its type quoted or not: YAML needs the quotes around `a ? b : c`, and string()
			// makes text.
			if !p.json && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				if e, err := refs.Parse(n.Value); err == nil && e.Whole() && e.Parts[0].Expr == nil {
					p.textPaths = append(p.textPaths, strings.Join(path, ""))
				}
			}
		}
		return n.Value, true
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			p.c.add(pos(n), node, "bad boolean %q", clip(n.Value))
			return nil, false
		}
		return b, true
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			p.c.add(pos(n), node, "bad integer %q: %v", clip(n.Value), err)
			return nil, false
		}
		switch x := v.(type) {
		case int:
			return int64(x), true
		case int64:
			return x, true
		case uint64:
			p.c.add(pos(n), node, "integer %s is too large", clip(n.Value))
			return nil, false
		}
		p.c.add(pos(n), node, "integer %s is out of range", clip(n.Value))
		return nil, false
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			p.c.add(pos(n), node, "bad number %q", clip(n.Value))
			return nil, false
		}
		return f, true
	}
	p.c.add(pos(n), node, "unsupported YAML tag %s", n.Tag)
	return nil, false
}
