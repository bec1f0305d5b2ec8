// Package refs holds the `${…}` reference grammar of AOS templates: parsing a string into
// literal text and references, and rendering it back with values looked up at run time.
//
//	${inputs.replicas}                  an input
//	${nodes.db-svc.spec.ports[0].nodePort}  a field of another node's live object
//	${nodes.db.metadata.labels["app.kubernetes.io/name"]}
//	${nodes.db.outputs.host}            a declared output of another node
//	${stack.name} ${stack.namespace}    the stack
//	${index}                            the copy number under `count` or `forEach`
//	${each.value} ${each.index}         the element a `forEach` copy stands for
//	${inputs.env == "prod" ? 3 : 1}     an expression (CEL; cel.go)
//	$${                                 a literal "${"
//
// A string that is exactly one reference keeps the referenced value's type; references
// inside longer strings are interpolated as text.
package refs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Limits that keep hostile input cheap to reject.
const (
	MaxPathSegments = 64   // segments in one reference path
	MaxRefsPerValue = 256  // references in one string
	MaxRefLength    = 1024 // characters between ${ and }
)

// Root is what a reference starts from.
type Root string

const (
	RootInputs Root = "inputs"
	RootNodes  Root = "nodes"
	RootStack  Root = "stack"
	RootIndex  Root = "index"
	// RootEach is the element of a forEach node's list a copy stands for: ${each.value},
	// ${each.value.name}, ${each.index}.
	RootEach Root = "each"
	// RootStacks reads another stack's output: ${stacks.NAME.outputs.KEY}.
	RootStacks Root = "stacks"
)

// Segment is one step of a path: a field name (`.name` or `["name"]`) or a list index (`[0]`).
type Segment struct {
	Field   string
	Index   int
	IsIndex bool
}

func (s Segment) String() string {
	if s.IsIndex {
		return "[" + strconv.Itoa(s.Index) + "]"
	}
	if isPlainField(s.Field) {
		return "." + s.Field
	}
	return "[" + strconv.Quote(s.Field) + "]"
}

// Path is a list of segments into a JSON-like value.
type Path []Segment

func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		b.WriteString(s.String())
	}
	return b.String()
}

// Ref is one parsed reference.
type Ref struct {
	Root Root
	// Name is the input name, the node id, or the stack field ("name", "namespace", "index").
	Name string
	// Output is set for ${nodes.N.outputs.X}: the output's name. Path is then empty.
	Output string
	// Path is the path into the live object for ${nodes.N.<path>}, or into the input's value.
	Path Path
	// Offset is the byte offset of "${" in the string the reference came from.
	Offset int
	// Optional: an expression reads the node or input optionally (`nodes.?cache…`), so it
	// may be absent.
	Optional bool
}

func (r Ref) String() string {
	switch r.Root {
	case RootIndex:
		return "${index}"
	case RootNodes, RootStacks:
		if r.Output != "" {
			return "${" + string(r.Root) + "." + r.Name + ".outputs." + r.Output + "}"
		}
	}
	return "${" + string(r.Root) + "." + r.Name + r.Path.String() + "}"
}

// Part is literal text, a reference, or an expression.
type Part struct {
	Text string
	Ref  *Ref
	Expr *Expression
}

// Expr is a parsed string: literal parts and references in order.
type Expr struct {
	Parts []Part
}

// Whole reports whether the string was exactly one reference or expression (its value
// keeps its type).
func (e *Expr) Whole() bool {
	return len(e.Parts) == 1 && (e.Parts[0].Ref != nil || e.Parts[0].Expr != nil)
}

// Refs lists the references in order, those expressions make included.
func (e *Expr) Refs() []*Ref {
	var out []*Ref
	for _, p := range e.Parts {
		if p.Ref != nil {
			out = append(out, p.Ref)
		}
		if p.Expr != nil {
			out = append(out, p.Expr.Refs...)
		}
	}
	return out
}

// HasRefs reports whether s contains a reference, cheaply, without parsing it.
func HasRefs(s string) bool { return strings.Contains(s, "${") }

// SyntaxError says what is wrong with a reference and where in the string.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

// Parse splits s into literal text and references.
func Parse(s string) (*Expr, error) {
	e := &Expr{}
	var lit strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		end := closing(s[i+2:])
		if end < 0 {
			return nil, &SyntaxError{i, fmt.Sprintf("reference %q is not closed: add a '}' (write $${ for a literal ${)", clip(s[i:]))}
		}
		body := s[i+2 : i+2+end]
		if len(body) > MaxRefLength {
			return nil, &SyntaxError{i, fmt.Sprintf("reference is %d characters long; the limit is %d", len(body), MaxRefLength)}
		}
		if strings.Contains(body, "${") {
			return nil, &SyntaxError{i, "nested references are not supported: a reference cannot contain ${"}
		}
		if n++; n > MaxRefsPerValue {
			return nil, &SyntaxError{i, fmt.Sprintf("more than %d references in one value", MaxRefsPerValue)}
		}
		part, what := Part{}, "reference"
		ref, err := parseBody(body)
		if err != nil && !plainLooking.MatchString(body) {
			what = "expression"
			// Not a plain reference: an expression.
			var x *Expression
			if x, err = parseExpression(body); err == nil {
				for _, r := range x.Refs {
					r.Offset = i
				}
				part.Expr = x
			}
		} else if err == nil {
			ref.Offset = i
			part.Ref = ref
		}
		if err != nil {
			return nil, &SyntaxError{i, fmt.Sprintf("%s ${%s}: %v", what, clip(body), err)}
		}
		if lit.Len() > 0 {
			e.Parts = append(e.Parts, Part{Text: lit.String()})
			lit.Reset()
		}
		e.Parts = append(e.Parts, part)
		i += 2 + end + 1
	}
	if lit.Len() > 0 || len(e.Parts) == 0 {
		e.Parts = append(e.Parts, Part{Text: lit.String()})
	}
	return e, nil
}

// closing finds the '}' that ends a `${…}` body: braces of an expression's maps nest, and
// quoted strings hold any character.
func closing(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func parseBody(body string) (*Ref, error) {
	if body == "index" {
		return &Ref{Root: RootIndex}, nil
	}
	root, rest, _ := strings.Cut(body, ".")
	switch Root(root) {
	case RootInputs, RootNodes, RootStack, RootEach, RootStacks:
	case "":
		return nil, fmt.Errorf("empty reference; expected inputs.NAME, nodes.ID.PATH, stack.name, stack.namespace or index")
	default:
		return nil, fmt.Errorf("unknown root %q; expected inputs, nodes, stack, stacks, index or each", root)
	}
	name, n := scanName(rest)
	if name == "" {
		return nil, fmt.Errorf("%s needs a name after the dot", root)
	}
	path, err := ParsePath(rest[n:])
	if err != nil {
		return nil, err
	}
	r := &Ref{Root: Root(root), Name: name, Path: path}
	switch r.Root {
	case RootEach:
		if name != "value" && name != "index" {
			return nil, fmt.Errorf("unknown each field %q; expected each.value or each.index", name)
		}
		if name == "index" && len(path) > 0 {
			return nil, fmt.Errorf("each.index has no fields")
		}
	case RootStack:
		if name != "name" && name != "namespace" && name != "index" {
			return nil, fmt.Errorf("unknown stack field %q; expected stack.name, stack.namespace or stack.index", name)
		}
		if len(path) > 0 {
			return nil, fmt.Errorf("stack.%s has no fields", name)
		}
	case RootStacks:
		if len(path) != 2 || path[0].IsIndex || path[0].Field != "outputs" || path[1].IsIndex {
			return nil, fmt.Errorf("another stack is read through its outputs: ${stacks.%s.outputs.KEY}", name)
		}
		r.Output, r.Path = path[1].Field, nil
	case RootNodes:
		if len(path) == 0 {
			return nil, fmt.Errorf("a node reference needs a path into the object, e.g. ${nodes.%s.metadata.name}", name)
		}
		if !path[0].IsIndex && path[0].Field == "outputs" {
			if len(path) != 2 || path[1].IsIndex {
				return nil, fmt.Errorf("expected ${nodes.%s.outputs.NAME}", name)
			}
			r.Output, r.Path = path[1].Field, nil
		}
	}
	return r, nil
}

// scanName reads an identifier: letters, digits, '-' and '_'.
func scanName(s string) (string, int) {
	i := 0
	for i < len(s) && isNameByte(s[i]) {
		i++
	}
	return s[:i], i
}

func isNameByte(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isPlainField(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// ParsePath parses `.a.b[0]["c.d"]`. A leading dot is required before a plain field; the
// empty string is the empty path.
func ParsePath(s string) (Path, error) {
	var p Path
	for i := 0; i < len(s); {
		if len(p) >= MaxPathSegments {
			return nil, fmt.Errorf("path has more than %d segments", MaxPathSegments)
		}
		switch s[i] {
		case '.':
			name, n := scanName(s[i+1:])
			if name == "" {
				return nil, fmt.Errorf("expected a field name after '.' at %q", clip(s[i:]))
			}
			p = append(p, Segment{Field: name})
			i += 1 + n
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("'[' without ']' at %q", clip(s[i:]))
			}
			inner := s[i+1 : i+end]
			if strings.HasPrefix(inner, `"`) {
				// A quoted key may itself contain ']'; find the closing quote first.
				q, err := strconv.QuotedPrefix(s[i+1:])
				if err != nil || !strings.HasPrefix(s[i+1+len(q):], "]") {
					return nil, fmt.Errorf(`bad quoted key at %q; expected ["key"]`, clip(s[i:]))
				}
				key, _ := strconv.Unquote(q)
				p = append(p, Segment{Field: key})
				i += 1 + len(q) + 1
				continue
			}
			idx, err := strconv.Atoi(inner)
			if err != nil || idx < 0 || inner != strconv.Itoa(idx) {
				return nil, fmt.Errorf("bad index [%s]; expected a non-negative integer or a quoted key", inner)
			}
			p = append(p, Segment{Index: idx, IsIndex: true})
			i += end + 1
		default:
			return nil, fmt.Errorf("unexpected %q in path at %q; use .field, [0] or [\"key\"]", s[i], clip(s[i:]))
		}
	}
	return p, nil
}

// Lookup returns the value of a reference, or an error saying why it has none.
type Lookup func(r *Ref) (any, error)

// Render evaluates e. A whole-value reference returns the referenced value as is; otherwise
// every reference is formatted as text and joined with the literal parts.
func Render(e *Expr, lookup Lookup) (any, error) {
	if e.Whole() {
		return e.Parts[0].value(lookup)
	}
	var b strings.Builder
	for _, p := range e.Parts {
		if p.Ref == nil && p.Expr == nil {
			b.WriteString(p.Text)
			continue
		}
		v, err := p.value(lookup)
		if err != nil {
			return nil, err
		}
		s, err := Text(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (p Part) value(lookup Lookup) (any, error) {
	if p.Expr != nil {
		return p.Expr.eval(lookup)
	}
	return lookup(p.Ref)
}

func (p Part) String() string {
	switch {
	case p.Ref != nil:
		return p.Ref.String()
	case p.Expr != nil:
		return "${" + p.Expr.Value.Source + "}"
	}
	return p.Text
}

// Text formats a scalar for interpolation into a string.
func Text(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "", nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	default:
		return "", fmt.Errorf("a %T cannot be interpolated into a string; use the reference as the whole value", v)
	}
}

// Get follows a path into a JSON-like value (maps, slices, scalars).
func Get(v any, p Path) (any, error) {
	for i, s := range p {
		switch x := v.(type) {
		case map[string]any:
			if s.IsIndex {
				return nil, fmt.Errorf("%s: is an object, not a list", p[:i+1])
			}
			val, ok := x[s.Field]
			if !ok {
				return nil, fmt.Errorf("%s: no such field%s", p[:i+1], fieldHint(x, s.Field))
			}
			v = val
		case []any:
			if !s.IsIndex {
				return nil, fmt.Errorf("%s: is a list, not an object", p[:i+1])
			}
			if s.Index >= len(x) {
				return nil, fmt.Errorf("%s: index out of range (length %d)", p[:i+1], len(x))
			}
			v = x[s.Index]
		default:
			return nil, fmt.Errorf("%s: %v is not an object or list", p[:i+1], v)
		}
	}
	return v, nil
}

// fieldHint suggests the field a path most likely meant: the same name in another case
// (clusterIp for clusterIP), else the fields there are, when they are few.
func fieldHint(m map[string]any, field string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if strings.EqualFold(k, field) {
			return fmt.Sprintf(" (did you mean %q? field names are case-sensitive)", k)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 || len(keys) > 12 {
		return ""
	}
	sort.Strings(keys)
	return " (it has " + strings.Join(keys, ", ") + ")"
}
