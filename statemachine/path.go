package statemachine

import (
	"fmt"
	"strconv"
	"strings"
)

// path is a parsed reference path: $ or $$ followed by .field and [index] steps. The runner
// supports the subset the Amazon States Language calls a "Reference Path" (no wildcards,
// filters or slices), which is what definitions here use; anything else is refused at load.
type path struct {
	context bool // $$: the context object
	steps   []step
}

type step struct {
	field string
	index int
	isIdx bool
}

func parsePath(s string) (path, error) {
	var p path
	switch {
	case strings.HasPrefix(s, "$$"):
		p.context, s = true, s[2:]
	case strings.HasPrefix(s, "$"):
		s = s[1:]
	default:
		return p, fmt.Errorf("path %q must start with $", s)
	}
	for len(s) > 0 {
		switch s[0] {
		case '.':
			end := strings.IndexAny(s[1:], ".[")
			if end < 0 {
				end = len(s) - 1
			}
			name := s[1 : 1+end]
			if name == "" || strings.ContainsAny(name, "*?@()") {
				return p, fmt.Errorf("unsupported path step %q", s)
			}
			p.steps = append(p.steps, step{field: name})
			s = s[1+end:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return p, fmt.Errorf("unclosed [ in path")
			}
			inner := s[1:end]
			if strings.HasPrefix(inner, "'") && strings.HasSuffix(inner, "'") && len(inner) >= 2 {
				p.steps = append(p.steps, step{field: inner[1 : len(inner)-1]})
			} else {
				i, err := strconv.Atoi(inner)
				if err != nil || i < 0 {
					return p, fmt.Errorf("unsupported path step [%s]: only non-negative indexes and ['quoted'] names", inner)
				}
				p.steps = append(p.steps, step{index: i, isIdx: true})
			}
			s = s[end+1:]
		default:
			return p, fmt.Errorf("unexpected %q in path", s)
		}
	}
	return p, nil
}

// get follows the path; ok is false when a step is missing.
func (p path) get(input, ctx any) (any, bool) {
	v := input
	if p.context {
		v = ctx
	}
	for _, s := range p.steps {
		if s.isIdx {
			arr, ok := v.([]any)
			if !ok || s.index >= len(arr) {
				return nil, false
			}
			v = arr[s.index]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s.field]; !ok {
			return nil, false
		}
	}
	return v, true
}

// set returns doc with value placed at the path (a ResultPath), creating objects as needed.
func (p path) set(doc, value any) (any, error) {
	if len(p.steps) == 0 {
		return value, nil
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("cannot place a result inside a %T", doc)
	}
	root = cloneMap(root)
	cur := root
	for i, s := range p.steps {
		if s.isIdx {
			return nil, fmt.Errorf("a ResultPath cannot index into an array")
		}
		if i == len(p.steps)-1 {
			cur[s.field] = value
			break
		}
		next, ok := cur[s.field].(map[string]any)
		if !ok {
			next = map[string]any{}
		} else {
			next = cloneMap(next)
		}
		cur[s.field] = next
		cur = next
	}
	return root, nil
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
