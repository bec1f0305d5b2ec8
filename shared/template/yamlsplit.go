package template

import (
	"bytes"
	"runtime"
	"sync"

	yaml "go.yaml.in/yaml/v3"
)

// Parsing a large YAML template on more than one core. yaml.v3 is most of the time of
// validating a 10,000-node template, and it reads on one core. A template's bulk is its
// `nodes:` mapping, whose entries start on lines of one indentation; splitTree parses runs of
// whole entries side by side, each as a document of its own laid out on the lines it came
// from (so lines and columns are the file's), and joins their entries under the one `nodes`
// key of the rest of the document.
//
// A split can only change what a text means where a construct spans an entry's first line:
// a quoted scalar or a flow collection left open (YAML's block scalars and plain scalars end
// at a line indented no more than their key, so they cannot). Then the part before the
// split does not parse. So splitTree gives up on any error of any part, and on anything it
// does not lay out exactly (another document, a directive, a document that is a flow
// mapping, a tab before a line's text, an entry line that does not start a plain or quoted
// key, a line of the section less indented than its entries); Parse then decodes the whole
// text with yaml.v3, which also words the errors. An alias to an anchor in another part is
// such an error ("unknown anchor"). The tree is yaml.v3's own (TestSplitTreeIsYAMLsTree,
// FuzzSplitTree), bar comments, which the parser does not read.

// splitMin is the size below which one core is as quick: a part costs a goroutine and a copy
// of its lines.
const splitMin = 256 << 10

// splitTree returns the document node of data parsed in up to parts pieces, or false.
func splitTree(data []byte, parts int) (*yaml.Node, bool) {
	if parts < 2 {
		return nil, false
	}
	l, ok := layout(data)
	if !ok || len(l.entries) < 2 {
		return nil, false
	}
	pieces := cut(l.entries, l.end, parts)
	trees := make([]*yaml.Node, len(pieces))
	fail := make([]bool, len(pieces))
	var wg sync.WaitGroup
	for i, p := range pieces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			trees[i], fail[i] = partTree(data, l, p[0], p[1])
		}()
	}
	// The rest of the document: the section's entries blanked, so that later keys keep their
	// lines.
	rest := make([]byte, 0, l.entries[0]+(len(data)-l.end)+l.lines)
	rest = append(rest, data[:l.entries[0]]...)
	rest = append(rest, bytes.Repeat([]byte{'\n'}, l.lines)...)
	rest = append(rest, data[l.end:]...)
	var doc yaml.Node
	err := yaml.Unmarshal(rest, &doc)
	wg.Wait()
	// A block mapping: in a flow mapping ({…}) lines at column 0 need not start keys, and
	// the entries' lines are not a block of their own.
	if err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode || doc.Content[0].Style&yaml.FlowStyle != 0 {
		return nil, false
	}
	var nodes *yaml.Node
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "nodes" && k.Line == l.keyLine && k.Column == 1 {
			if nodes != nil || root.Content[i+1].ShortTag() != "!!null" {
				return nil, false
			}
			nodes = root.Content[i+1]
		}
	}
	if nodes == nil {
		return nil, false
	}
	for i, t := range trees {
		if fail[i] {
			return nil, false
		}
		if i == 0 {
			*nodes = *t
			continue
		}
		nodes.Content = append(nodes.Content, t.Content...)
	}
	return &doc, true
}

// sectionLayout is where the `nodes:` section's entries are in a text.
type sectionLayout struct {
	keyLine int   // the line of `nodes:`
	indent  int   // the entries' indentation
	entries []int // the offset of each entry's first line
	end     int   // the offset just past the section
	lines   int   // how many lines the section's entries take
	first   []int // the line number of each entry's first line
}

// layout finds the section, or false when the text is not laid out as splitTree needs.
func layout(data []byte) (sectionLayout, bool) {
	l := sectionLayout{indent: -1, end: -1}
	in := false
	line := 0
	for off := 0; off < len(data); {
		line++
		next := bytes.IndexByte(data[off:], '\n')
		if next < 0 {
			next = len(data)
		} else {
			next += off + 1
		}
		text := bytes.TrimRight(data[off:next], "\r\n")
		ind := 0
		for ind < len(text) && text[ind] == ' ' {
			ind++
		}
		body := text[ind:]
		switch {
		case len(body) > 0 && body[0] == '\t':
			return l, false
		case ind == 0 && (bytes.HasPrefix(body, []byte("---")) || bytes.HasPrefix(body, []byte("...")) || bytes.HasPrefix(body, []byte("%"))):
			return l, false
		case len(body) == 0 || body[0] == '#':
			// Blank or a comment: in whichever part it falls.
		case ind == 0:
			if in {
				l.end, in = off, false
			}
			if isNodesKey(body) {
				if l.keyLine != 0 {
					return l, false
				}
				l.keyLine, in = line, true
			}
		case in:
			if l.indent < 0 {
				l.indent = ind
			}
			switch {
			case ind < l.indent:
				return l, false
			case ind == l.indent:
				if !keyStart(body[0]) {
					return l, false
				}
				l.entries = append(l.entries, off)
				l.first = append(l.first, line)
			}
		}
		off = next
	}
	if l.keyLine == 0 || len(l.entries) == 0 {
		return l, false
	}
	if in {
		l.end = len(data)
	}
	l.lines = bytes.Count(data[l.entries[0]:l.end], []byte{'\n'})
	return l, true
}

// isNodesKey: `nodes:` with nothing after it but blanks or a comment.
func isNodesKey(body []byte) bool {
	rest, ok := bytes.CutPrefix(body, []byte("nodes:"))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " ")
	return len(rest) == 0 || rest[0] == '#'
}

// keyStart: a character that starts a plain or quoted key (a node id, in a valid template).
func keyStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '"' || c == '\''
}

// cut divides the entries into up to parts runs of about equal bytes: [from, to) entry
// indexes.
func cut(entries []int, end, parts int) [][2]int {
	parts = min(parts, len(entries))
	size := (end - entries[0]) / parts
	var out [][2]int
	from := 0
	for i := 1; i < len(entries) && len(out) < parts-1; i++ {
		if entries[i]-entries[from] >= size {
			out = append(out, [2]int{from, i})
			from = i
		}
	}
	return append(out, [2]int{from, len(entries)})
}

// partTree parses entries [from, to) as `nodes:` on the line before the first of them, and
// returns the mapping of those entries; true if it failed.
func partTree(data []byte, l sectionLayout, from, to int) (*yaml.Node, bool) {
	start, end := l.entries[from], l.end
	if to < len(l.entries) {
		end = l.entries[to]
	}
	first := l.first[from]
	text := make([]byte, 0, first+len("nodes:")+(end-start))
	text = append(text, bytes.Repeat([]byte{'\n'}, first-2)...)
	text = append(text, "nodes:\n"...)
	text = append(text, data[start:end]...)
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil || len(doc.Content) != 1 {
		return nil, true
	}
	root := doc.Content[0]
	// One key per entry line: anything else means the lines were not what they seemed.
	if root.Kind != yaml.MappingNode || len(root.Content) != 2 || root.Content[1].Kind != yaml.MappingNode ||
		len(root.Content[1].Content) != 2*(to-from) {
		return nil, true
	}
	return root.Content[1], false
}

// splitParts is how many pieces a large template is parsed in.
func splitParts() int { return min(runtime.GOMAXPROCS(0), 8) }
