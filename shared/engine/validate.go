// Package engine holds the four stateless functions AOS is made of — validate, plan,
// apply-node and check-ready — as plain Go handlers. The Lambda entry points in functions/
// and the embedded runner call the same handlers with the same JSON.
package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/template"
)

// TemplateRequest carries a template and its inputs.
type TemplateRequest struct {
	// File names the template in problem positions (default "template.yaml").
	File string `json:"file,omitempty"`
	// Template is the template text, YAML or JSON.
	Template string `json:"template"`
	// Params are typed input values (a params file, an API body).
	Params map[string]any `json:"params,omitempty"`
	// RawParams are `-p key=value` strings, typed by each input's schema; they win over Params.
	RawParams map[string]string `json:"rawParams,omitempty"`
	// Dir is the folder the template file was read from (StackRecord.Dir); never from an API
	// body, so a caller cannot make the server read its files.
	Dir string `json:"-"`
	// previous are the stack's inputs an update starts from (template.Params.Previous).
	previous map[string]any
	// ShapeOnly: only the graph is wanted (template.Params.ShapeOnly).
	ShapeOnly bool `json:"-"`
	// ParamsFile and ParamsAt say where Params came from (template.Params.ValuesFile).
	ParamsFile string                  `json:"-"`
	ParamsAt   map[string]template.Pos `json:"-"`
}

func (r TemplateRequest) file() string {
	if r.File == "" {
		return "template.yaml"
	}
	return r.File
}

// InputInfo describes one declared input. A secret input's default is never shown.
type InputInfo struct {
	Name        string `json:"name"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required"`
	Secret      bool   `json:"secret,omitempty"`
	Default     any    `json:"default,omitempty"`
	// Schema is the input's JSON Schema (enums, bounds, items), for a form to be made from.
	Schema map[string]any `json:"schema,omitempty"`
}

// ValidateResponse is the validate function's answer. An invalid template is an answer
// (Valid false, every problem listed), not an error.
type ValidateResponse struct {
	Valid    bool               `json:"valid"`
	Problems []template.Problem `json:"problems"`
	Name     string             `json:"name,omitempty"`
	// Nodes and Edges count the graph after count expansion and `when`.
	Nodes  int         `json:"nodes"`
	Edges  int         `json:"edges"`
	Inputs []InputInfo `json:"inputs"`
}

// Validate parses and checks a template with its inputs.
func Validate(ctx context.Context, req TemplateRequest) (ValidateResponse, error) {
	start := time.Now()
	r, tpl, probs := load(req)
	resp := ValidateResponse{Valid: len(probs) == 0, Problems: probs, Inputs: []InputInfo{}}
	if resp.Problems == nil {
		resp.Problems = []template.Problem{}
	}
	if tpl != nil {
		resp.Name = tpl.Name
		for _, in := range tpl.Inputs {
			info := InputInfo{Name: in.Name, Type: in.Type, Description: in.Description, Required: in.Required(), Secret: in.Secret, Schema: in.Schema}
			if !in.Secret {
				info.Default = in.Default
			}
			resp.Inputs = append(resp.Inputs, info)
		}
	}
	if r != nil {
		resp.Nodes, resp.Edges = r.Graph.Len(), r.Graph.Edges()
	}
	zerolog.Ctx(ctx).Info().Str("fn", "validate").Str("template", resp.Name).Bool("valid", resp.Valid).
		Int("problems", len(probs)).Int("nodes", resp.Nodes).Dur("took_ms", time.Since(start)).Msg("validated")
	return resp, nil
}

// load runs the template pipeline: parse, check, resolve. tpl is set whenever parsing got far
// enough to name the template's parts.
func load(req TemplateRequest) (*template.Resolved, *template.Template, template.Problems) {
	file := req.file()
	params := template.Params{Values: req.Params, Raw: req.RawParams, Previous: req.previous, ShapeOnly: req.ShapeOnly, ValuesFile: req.ParamsFile, ValuesAt: req.ParamsAt}
	r, probs := template.Validate(file, []byte(req.Template), params)
	if r != nil {
		return r, r.Template, nil
	}
	tpl, _ := template.Parse(file, []byte(req.Template))
	return nil, tpl, probs
}

// InvalidTemplateError is returned by functions that cannot proceed on an invalid template.
// Its name is the error type Step Functions matches in Catch.
type InvalidTemplateError struct {
	Problems template.Problems
}

func (e *InvalidTemplateError) Error() string {
	return fmt.Sprintf("template has %d problem(s):\n%s", len(e.Problems), e.Problems.Error())
}
