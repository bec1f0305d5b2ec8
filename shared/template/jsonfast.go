package template

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// A JSON fast path. Every JSON text is YAML, and the parser walks yaml.Node trees for their
// positions; yaml.v3 builds them slowly (most of the time of validating a 10,000-node
// template went to its scanner). jsonTree builds the same tree from a JSON text directly:
// the same kinds, styles, tags, values, lines and columns (counted in characters, as yaml.v3
// counts them), so everything after the decode is unchanged. It gives up on anything it does
// not handle exactly as yaml.v3 would (a syntax error, an escaped surrogate, a line break
// YAML counts that JSON does not, text after the value) and Parse then decodes with yaml.v3,
// which also words the errors. Two things JSON allows and yaml.v3 refused are now taken: the
// escaped slash (\/) and a key longer than 1,024 characters.

// jsonTree returns the document node of data, a JSON object, or false.
func jsonTree(data []byte) (*yaml.Node, bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	s := &jsonScanner{data: data, line: 1, col: 1}
	s.space()
	if s.i >= len(data) || data[s.i] != '{' {
		return nil, false
	}
	root, ok := s.value(0)
	if !ok {
		return nil, false
	}
	if s.space(); s.i != len(data) {
		return nil, false
	}
	doc := s.node()
	doc.Kind, doc.Line, doc.Column, doc.Content = yaml.DocumentNode, root.Line, root.Column, []*yaml.Node{root}
	return doc, true
}

type jsonScanner struct {
	data []byte
	i    int
	// line is the current line, and col the column of offset colAt on it: counting the
	// characters to the next token costs only what lies between.
	line, colAt, col int
	slab             []yaml.Node
}

// maxJSONDepth is deeper than any template needs; the walker refuses what is deeper still.
const maxJSONDepth = 10000

// node allocates nodes in blocks: a large template has hundreds of thousands of them.
func (s *jsonScanner) node() *yaml.Node {
	if len(s.slab) == 0 {
		s.slab = make([]yaml.Node, 256)
	}
	n := &s.slab[0]
	s.slab = s.slab[1:]
	return n
}

// space skips JSON whitespace, counting lines.
func (s *jsonScanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t':
		case '\n':
			s.line, s.colAt, s.col = s.line+1, s.i+1, 1
		case '\r':
			// YAML counts a lone CR as a line break and CRLF as one: leave both to yaml.v3.
			s.i = len(s.data) + 1
			return
		default:
			return
		}
		s.i++
	}
}

// column is the 1-based character column of the current offset.
func (s *jsonScanner) column() int {
	s.col += utf8.RuneCount(s.data[s.colAt:s.i])
	s.colAt = s.i
	return s.col
}

func (s *jsonScanner) value(depth int) (*yaml.Node, bool) {
	if depth > maxJSONDepth || s.i >= len(s.data) {
		return nil, false
	}
	n := s.node()
	n.Line, n.Column = s.line, s.column()
	switch c := s.data[s.i]; {
	case c == '{':
		n.Kind, n.Style, n.Tag = yaml.MappingNode, yaml.FlowStyle, "!!map"
		return n, s.members(n, depth, '}')
	case c == '[':
		n.Kind, n.Style, n.Tag = yaml.SequenceNode, yaml.FlowStyle, "!!seq"
		return n, s.members(n, depth, ']')
	case c == '"':
		n.Kind, n.Style, n.Tag = yaml.ScalarNode, yaml.DoubleQuotedStyle, "!!str"
		v, ok := s.str()
		n.Value = v
		return n, ok
	default:
		start := s.i
		for s.i < len(s.data) && bytes.IndexByte([]byte("+-.0123456789eEtrufalsn"), s.data[s.i]) >= 0 {
			s.i++
		}
		lit := s.data[start:s.i]
		if !json.Valid(lit) {
			return nil, false
		}
		n.Kind, n.Value = yaml.ScalarNode, string(lit)
		n.Tag = (&yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}).ShortTag()
		return n, true
	}
}

// members reads an object's members or an array's elements up to end.
func (s *jsonScanner) members(n *yaml.Node, depth int, end byte) bool {
	s.i++
	s.space()
	if s.i < len(s.data) && s.data[s.i] == end {
		s.i++
		return true
	}
	for {
		if end == '}' {
			s.space()
			if s.i >= len(s.data) || s.data[s.i] != '"' {
				return false
			}
			k, ok := s.value(depth + 1)
			if !ok {
				return false
			}
			if s.space(); s.i >= len(s.data) || s.data[s.i] != ':' {
				return false
			}
			s.i++
			n.Content = append(n.Content, k)
		}
		s.space()
		v, ok := s.value(depth + 1)
		if !ok {
			return false
		}
		n.Content = append(n.Content, v)
		if s.space(); s.i >= len(s.data) {
			return false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
		case end:
			s.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string. One with escapes is unquoted by encoding/json, unless it escapes a
// surrogate: JSON pairs them, YAML takes each escape as a character of its own.
func (s *jsonScanner) str() (string, bool) {
	start := s.i
	s.i++
	escaped := false
	for s.i < len(s.data) {
		switch c := s.data[s.i]; {
		case c == '"':
			s.i++
			if !escaped {
				return string(s.data[start+1 : s.i-1]), true
			}
			raw := s.data[start:s.i]
			if bytes.Contains(raw, []byte(`\ud`)) || bytes.Contains(raw, []byte(`\uD`)) {
				return "", false
			}
			var v string
			if json.Unmarshal(raw, &v) != nil {
				return "", false
			}
			return v, true
		case c == '\\':
			escaped = true
			s.i += 2
			continue
		case c < 0x20:
			return "", false
		case c == 0xc2 || c == 0xe2:
			// NEL (U+0085) and the line and paragraph separators (U+2028, U+2029) are line
			// breaks to YAML, folded inside a quoted string: leave them to yaml.v3.
			r, _ := utf8.DecodeRune(s.data[s.i:])
			if r == 0x85 || r == 0x2028 || r == 0x2029 {
				return "", false
			}
		}
		s.i++
	}
	return "", false
}
