package api

import (
	"net/http"
	"strconv"

	"github.com/aos-project/aos/shared/template"
	"github.com/aos-project/aos/shared/view"
)

// historyDiff compares two revisions of a stack: the inputs that differ (secret ones
// without values) and the template's changes, secrets redacted.
func (s *Server) historyDiff(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, err1 := strconv.Atoi(q.Get("from"))
	to, err2 := strconv.Atoi(q.Get("to"))
	if err1 != nil || err2 != nil || from < 1 || to < 1 {
		return badRequest("from=%q to=%q: expected two revision numbers (GET …/history lists them)", q.Get("from"), q.Get("to"))
	}
	d, err := s.Engine.DiffRevisions(r.Context(), st.Name, from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// sameTemplate fills in the stack's own template for a plan or update that sends none: a
// change of inputs only, as the console's update form makes.
func (s *Server) sameTemplate(r *http.Request, b *StackBody) error {
	if b.Template != "" || b.Stack == "" {
		return nil
	}
	st, err := s.stack(r, b.Stack)
	if err != nil {
		return err
	}
	b.Template, b.File, b.dir = st.Template, st.File, st.Dir
	return nil
}

// stackTemplate is the stack's template, with its inputs' schemas and the stack's current
// values of them (never a secret's), for the console's update form.
func (s *Server) stackTemplate(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	t, probs := template.Parse(st.File, []byte(st.Template))
	if t == nil {
		return probs
	}
	v := view.TemplateOf(t)
	v.Source = st.Template
	writeJSON(w, http.StatusOK, map[string]any{"template": v, "values": st.Inputs})
	return nil
}

// drift compares the stack's live objects with what it applied (engine.Drift).
func (s *Server) drift(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	rep, err := s.Engine.Drift(r.Context(), st.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
