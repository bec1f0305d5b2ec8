package api

import (
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/aos-project/aos/shared/template"
	"github.com/aos-project/aos/shared/view"
	"github.com/aos-project/aos/templates"
)

// library lists the template library (templates/, embedded): what the console offers to
// create a stack from, with each template's inputs for its form.
func (s *Server) library(w http.ResponseWriter, r *http.Request) error {
	entries, err := fs.Glob(templates.Files, "*.yaml")
	if err != nil {
		return err
	}
	out := []view.Template{}
	for _, name := range entries {
		t, err := libraryTemplate(name)
		if err != nil {
			return err
		}
		out = append(out, view.TemplateOf(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"templates": out})
	return nil
}

// libraryOne is one library template with its text.
func (s *Server) libraryOne(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	file := strings.TrimSuffix(name, ".yaml") + ".yaml"
	if path.Base(file) != file {
		return badRequest("template %q: a library template is named by its file", name)
	}
	data, err := fs.ReadFile(templates.Files, file)
	if err != nil {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "the library has no template " + name + " (GET /v1/templates lists them)"}
	}
	t, err := libraryTemplate(file)
	if err != nil {
		return err
	}
	v := view.TemplateOf(t)
	v.Source = string(data)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func libraryTemplate(file string) (*template.Template, error) {
	data, err := fs.ReadFile(templates.Files, file)
	if err != nil {
		return nil, err
	}
	t, probs := template.Parse(file, data)
	if t == nil || len(probs) > 0 {
		return nil, probs
	}
	return t, nil
}
