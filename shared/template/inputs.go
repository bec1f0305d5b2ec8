package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/xeipuuv/gojsonschema"
	yaml "go.yaml.in/yaml/v3"

	"github.com/aos-project/aos/shared/refs"
)

// Params are the input values given for one operation.
type Params struct {
	// Values come typed, from a params file or an API request.
	Values map[string]any
	// Raw come from `-p key=value` and are typed by the input's schema. They win over Values.
	Raw map[string]string
	// Previous are the values of the stack's last revision. An update starts from them, so an
	// input not passed again keeps its value rather than falling back to its default; one the
	// template no longer declares is dropped, not refused.
	Previous map[string]any
	// ShapeOnly asks only for the graph's shape (aos graph): a required input that no count
	// or when reads may be left out, since nothing the shape depends on needs it.
	ShapeOnly bool
	// ValuesFile names the params file Values came from, and ValuesAt where each value is in
	// it, so that a problem with one is reported there rather than at the template's input.
	ValuesFile string
	ValuesAt   map[string]Pos
}

// at reports a problem with input in's value: at the value in the params file when it came
// from one, else at the input's declaration.
func (c *collector) at(params Params, in *Input, fromValues bool, format string, args ...any) {
	if p, ok := params.ValuesAt[in.Name]; ok && fromValues && params.ValuesFile != "" {
		c.probs = append(c.probs, Problem{File: params.ValuesFile, Line: p.Line, Col: p.Col, Message: fmt.Sprintf(format, args...)})
		return
	}
	c.add(in.Pos, "", format, args...)
}

// ParseRaw splits `key=value` flags into Params.Raw.
func ParseRaw(pairs []string) (map[string]string, error) {
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-p %q: expected key=value", clip(p))
		}
		out[k] = v
	}
	return out, nil
}

// DecodeValues reads a params file: a YAML or JSON mapping of input names to values.
func DecodeValues(file string, data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("%s: %s", file, yamlErrorMessage(err))
	}
	c := &collector{file: file}
	p := &parser{c: c, aliasBudget: MaxAliasExpanded}
	v, ok := p.value(doc.Content[0], 0, false, "", nil)
	if !ok {
		return nil, c.probs
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, fmt.Errorf("%s: params must be a mapping of input names to values", file)
	}
	return m, nil
}

// ValuePositions says where each top-level value of a params file is (nil when the file does
// not parse as a mapping; DecodeValues says why).
func ValuePositions(data []byte) map[string]Pos {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := doc.Content[0]
	out := make(map[string]Pos, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if _, dup := out[m.Content[i].Value]; !dup {
			out[m.Content[i].Value] = Pos{m.Content[i+1].Line, m.Content[i+1].Column}
		}
	}
	return out
}

func (t *Template) resolveInputs(c *collector, params Params) map[string]any {
	names := make([]string, len(t.Inputs))
	for i, in := range t.Inputs {
		names[i] = in.Name
	}
	declared := "it declares none"
	if len(names) > 0 {
		declared = "it declares " + strings.Join(names, ", ")
	}
	var unknownRaw, unknown []string
	for k := range params.Raw {
		if t.inputIndex[k] == nil {
			unknownRaw = append(unknownRaw, k)
		}
	}
	for k := range params.Values {
		if _, raw := params.Raw[k]; t.inputIndex[k] == nil && !raw {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknownRaw)
	sort.Strings(unknown)
	for _, k := range unknownRaw {
		c.addFrom("-p "+k, "unknown input %q%s: the template has no such input (%s)", k, didYouMean(k, names), declared)
	}
	for _, k := range unknown {
		msg := fmt.Sprintf("unknown input %q%s: the template has no such input (%s)", k, didYouMean(k, names), declared)
		if p, ok := params.ValuesAt[k]; ok && params.ValuesFile != "" {
			c.probs = append(c.probs, Problem{File: params.ValuesFile, Line: p.Line, Col: p.Col, Message: msg})
		} else {
			c.add(Pos{1, 1}, "", "%s", msg)
		}
	}

	values := make(map[string]any, len(t.Inputs))
	for _, in := range t.Inputs {
		var v any
		have, carried := false, false
		fromRaw, fromValues := false, false
		if raw, ok := params.Raw[in.Name]; ok {
			typed, err := in.typed(raw)
			if err != nil {
				c.addFrom("-p "+in.Name, "input %q: %v", in.Name, err)
				continue
			}
			v, have, fromRaw = typed, true, true
		} else if val, ok := params.Values[in.Name]; ok {
			v, have, fromValues = val, true, true
		} else if val, ok := params.Previous[in.Name]; ok {
			v, have, carried = val, true, true
		} else if in.HasDefault {
			if in.badDefault {
				continue
			}
			v, have = in.Default, true
		}
		if !have && params.ShapeOnly && !t.decidesShape(in.Name) {
			continue
		}
		if !have {
			if in.Secret {
				c.add(in.Pos, "", "missing required input %q: pass -p %s=@FILE (a file holding the secret), set $AOS_PARAM_%s, or set it in a --params file", in.Name, in.Name, in.Name)
			} else {
				c.add(in.Pos, "", "missing required input %q: pass -p %s=VALUE or set it in a --params file", in.Name, in.Name)
			}
			continue
		}
		if err := in.mismatch(v); err != nil && !fromRaw {
			// One wording for a wrong type, however the value came (-p says the same).
			c.at(params, in, fromValues, "input %q: %v", in.Name, err)
			continue
		}
		if in.schema != nil {
			res, err := in.schema.Validate(gojsonschema.NewGoLoader(v))
			if err != nil {
				c.add(in.Pos, "", "input %q: cannot be checked: %v", in.Name, err)
				continue
			}
			if !res.Valid() && carried {
				c.add(in.Pos, "", "input %q: the value it kept from the last revision no longer fits its schema: %s (pass -p %s=VALUE, or --reset-inputs to start from the defaults)", in.Name, in.schemaErrors(res), in.Name)
				continue
			}
			if !res.Valid() && fromRaw {
				c.addFrom("-p "+in.Name, "input %q: %s", in.Name, in.schemaErrors(res))
				continue
			}
			if !res.Valid() {
				c.at(params, in, fromValues, "input %q: %s", in.Name, in.schemaErrors(res))
				continue
			}
		}
		values[in.Name] = v
	}
	return values
}

// mismatch says, in typed's words, that a typed value (a params file, an API body, a kept
// value) is not of the input's simple type; the schema checks the rest.
func (in *Input) mismatch(v any) error {
	shown := "the given value"
	if !in.Secret {
		b, _ := json.Marshal(v)
		shown = clip(string(b))
	}
	ok := true
	switch in.Type {
	case "integer":
		switch x := v.(type) {
		case int, int64, int32, uint64:
		case float64:
			ok = x == float64(int64(x))
		default:
			ok = false
		}
		if !ok {
			return fmt.Errorf("%s is not an integer", shown)
		}
	case "number":
		switch v.(type) {
		case int, int64, int32, uint64, float64:
		default:
			return fmt.Errorf("%s is not a number", shown)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s is not true or false", shown)
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s is not a string", shown)
		}
	}
	return nil
}

// typed converts a `-p` string to the input's type. Errors never repeat a secret value.
func (in *Input) typed(raw string) (any, error) {
	shown := strconv.Quote(clip(raw))
	if in.Secret {
		shown = "the given value"
	}
	switch in.Type {
	case "integer":
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not an integer", shown)
		}
		return n, nil
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a number", shown)
		}
		return f, nil
	case "boolean":
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("%s is not true or false", shown)
		}
		return b, nil
	case "array", "object":
		v, err := DecodeValues("-p "+in.Name, []byte("v: "+raw))
		if err != nil {
			return nil, fmt.Errorf("%s is not a YAML/JSON %s", shown, in.Type)
		}
		return v["v"], nil
	}
	return raw, nil
}

// schemaErrors is schemaErrors for this input's value: of a secret input only the rules
// broken are named, since gojsonschema's descriptions name the value's own keys ("additional
// property x") and paths.
func (in *Input) schemaErrors(res *gojsonschema.Result) string {
	if !in.Secret {
		return schemaErrors(res)
	}
	var rules []string
	for _, e := range res.Errors() {
		if r := strings.ReplaceAll(e.Type(), "_", " "); !slices.Contains(rules, r) {
			rules = append(rules, r)
		}
	}
	return "the given value does not fit the input's schema (" + strings.Join(rules, "; ") + ")"
}

// schemaErrors joins gojsonschema's findings. Its descriptions name the rule broken, never the
// value given, so they are safe to print for secret inputs too (a test keeps it so).
func schemaErrors(res *gojsonschema.Result) string {
	var parts []string
	for _, e := range res.Errors() {
		msg := e.Description()
		if msg != "" {
			msg = strings.ToLower(msg[:1]) + msg[1:]
		}
		if f := e.Field(); f != "(root)" && f != "" {
			msg = f + ": " + msg
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}

// decidesShape reports whether an input is read by some node's count or when, which decide
// what nodes exist.
func (t *Template) decidesShape(input string) bool {
	for _, n := range t.Nodes {
		for _, e := range []*Expr{n.Count, n.When, n.ForEach} {
			if e != nil && e.Ref != nil && e.Ref.Root == refs.RootInputs && e.Ref.Name == input {
				return true
			}
			if e != nil && e.Expression != nil {
				for _, r := range e.Expression.Refs {
					if r.Root == refs.RootInputs && r.Name == input {
						return true
					}
				}
			}
		}
	}
	return false
}
