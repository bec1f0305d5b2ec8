package api

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// Error bodies are JSON, not HTML: what they quote (<token>, ->) arrives as written.
func TestErrorBodiesAreNotHTMLEscaped(t *testing.T) {
	srv := &Server{Token: "a-long-enough-token-value", Log: zerolog.New(io.Discard)}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/stacks", nil))
	body := rec.Body.String()
	if rec.Code != 401 || !strings.Contains(body, "Authorization: Bearer <token>") || strings.Contains(body, `\u003c`) {
		t.Fatalf("%d %s", rec.Code, body)
	}
}

// A YAML body: the template inline as a mapping, or as a block string.
func TestYAMLBodies(t *testing.T) {
	srv := &Server{Log: zerolog.New(io.Discard)}
	post := func(body string) (int, string) {
		req := httptest.NewRequest("POST", "/v1/validate", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/yaml; charset=utf-8")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	inline := `template:
  format: aos/v1
  name: shop
  inputs:
    message: {type: string, default: hello}
  nodes:
    config:
      manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: config}, data: {message: "${inputs.message}"}}
params: {message: hi}
`
	if code, body := post(inline); code != 200 || !strings.Contains(body, `"valid": true`) {
		t.Fatalf("inline template: %d %s", code, body)
	}
	block := "template: |\n  format: aos/v1\n  name: shop\n  nodes:\n    a:\n      manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
	if code, body := post(block); code != 200 || !strings.Contains(body, `"name": "shop"`) {
		t.Fatalf("block template: %d %s", code, body)
	}
	if code, body := post("template: [unclosed\n"); code != 400 || !strings.Contains(body, "request body (YAML)") {
		t.Fatalf("bad YAML: %d %s", code, body)
	}
	if code, body := post("template: x\nsurprise: 1\n"); code != 400 || !strings.Contains(body, `unknown field \"surprise\"`) && !strings.Contains(body, `unknown field "surprise"`) {
		t.Fatalf("unknown field: %d %s", code, body)
	}
}
