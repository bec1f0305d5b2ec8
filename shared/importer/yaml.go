package importer

import (
	"bytes"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML writes the template: format, name, inputs, then nodes in the order the objects came.
// A string holding a reference is quoted, so it stays text.
func (t *Template) YAML() ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	str := func(m *yaml.Node, k, v string) {
		m.Content = append(m.Content, scalar(k), scalar(v))
	}
	str(doc, "format", t.Format)
	str(doc, "name", t.Name)
	if len(t.Inputs) > 0 {
		inputs := &yaml.Node{Kind: yaml.MappingNode}
		names := make([]string, 0, len(t.Inputs))
		for k := range t.Inputs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			in := t.Inputs[k]
			m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			str(m, "type", in.Type)
			m.Content = append(m.Content, scalar("secret"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
			str(m, "description", in.Description)
			inputs.Content = append(inputs.Content, scalar(k), m)
		}
		doc.Content = append(doc.Content, scalar("inputs"), inputs)
	}
	nodes := &yaml.Node{Kind: yaml.MappingNode}
	for _, id := range t.order {
		n := t.Nodes[id]
		m := &yaml.Node{Kind: yaml.MappingNode}
		if len(n.DependsOn) > 0 {
			deps := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, d := range n.DependsOn {
				deps.Content = append(deps.Content, scalar(d))
			}
			m.Content = append(m.Content, scalar("dependsOn"), deps)
		}
		if n.Adopt {
			m.Content = append(m.Content, scalar("adopt"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		}
		var man yaml.Node
		if err := man.Encode(n.Manifest); err != nil {
			return nil, err
		}
		quoteRefs(&man)
		m.Content = append(m.Content, scalar("manifest"), &man)
		nodes.Content = append(nodes.Content, scalar(id), m)
	}
	doc.Content = append(doc.Content, scalar("nodes"), nodes)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func quoteRefs(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		quoteRefs(c)
	}
}
