package template

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a 1-based line and column in the template file.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"column"`
}

// Problem is one thing wrong with a template or its inputs, with where it is.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"column"`
	Node    string `json:"node,omitempty"`
	Message string `json:"message"`
}

// String formats the problem as FILE:LINE:COL: node "x": message. A problem with a source
// that has no lines (`-p name`) is FILE: message.
func (p Problem) String() string {
	var b strings.Builder
	if p.Line == 0 {
		fmt.Fprintf(&b, "%s: ", p.File)
	} else {
		fmt.Fprintf(&b, "%s:%d:%d: ", p.File, p.Line, p.Col)
	}
	if p.Node != "" {
		fmt.Fprintf(&b, "node %q: ", p.Node)
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found, sorted by position. As an error it lists them all.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sorted orders problems by position, in place.
func (ps Problems) Sorted() Problems { return ps.sorted() }

func (ps Problems) sorted() Problems {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return ps
}

// collector gathers problems with the file name filled in.
type collector struct {
	file  string
	probs Problems
	// lines, when set, bounds positions: YAML places an empty value after the last line.
	lines int
}

func (c *collector) add(pos Pos, node, format string, args ...any) {
	if c.lines > 0 && pos.Line > c.lines {
		pos = Pos{c.lines, 1}
	}
	c.probs = append(c.probs, Problem{File: c.file, Line: pos.Line, Col: pos.Col, Node: node, Message: fmt.Sprintf(format, args...)})
}

// addFrom records a problem of a value given outside the template (`-p name`): it names
// that source, not a line of the template.
func (c *collector) addFrom(source, format string, args ...any) {
	c.probs = append(c.probs, Problem{File: source, Message: fmt.Sprintf(format, args...)})
}

// didYouMean suggests the closest of options to s, or "" if none is close: at most two edits,
// and fewer than half of s, so "b" never suggests "a".
func didYouMean(s string, options []string) string {
	best, bestD := "", 3
	for _, o := range options {
		if d := editDistance(strings.ToLower(s), strings.ToLower(o)); d < bestD {
			best, bestD = o, d
		}
	}
	if best == "" || bestD >= len(s)/2+1 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// DidYouMean is didYouMean for callers outside the package: " (did you mean "x"?)" or "".
func DidYouMean(s string, options []string) string { return didYouMean(s, options) }
