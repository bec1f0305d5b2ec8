package view

import "github.com/aos-project/aos/shared/template"

// Input is what a form needs of an input: its JSON Schema (types, enums, bounds), its
// default, and whether it is secret or required. A secret's value is never here.
type Input struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Schema      map[string]any `json:"schema"`
	Default     any            `json:"default,omitempty"`
	HasDefault  bool           `json:"hasDefault"`
	Secret      bool           `json:"secret,omitempty"`
	Required    bool           `json:"required"`
}

// Template is a library template as a list or a form shows it.
type Template struct {
	Name        string  `json:"name"`
	File        string  `json:"file"`
	Description string  `json:"description,omitempty"`
	Inputs      []Input `json:"inputs"`
	Nodes       int     `json:"nodes"`
	// Source is the template's text, when one template is asked for.
	Source string `json:"template,omitempty"`
}

// TemplateOf is the view of a parsed template.
func TemplateOf(t *template.Template) Template {
	v := Template{Name: t.Name, File: t.File, Description: t.Description, Inputs: []Input{}, Nodes: len(t.Nodes)}
	for _, in := range t.Inputs {
		v.Inputs = append(v.Inputs, Input{Name: in.Name, Description: in.Description, Schema: in.Schema,
			Default: in.Default, HasDefault: in.HasDefault, Secret: in.Secret, Required: in.Required()})
	}
	return v
}
