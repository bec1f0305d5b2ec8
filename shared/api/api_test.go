package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/engine"
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

// brokenStore fails every read with an error that quotes configuration, as a kubeconfig or
// store error can.
type brokenStore struct{ engine.Store }

func (brokenStore) GetStack(context.Context, string) (*engine.StackRecord, error) {
	return nil, errors.New("dial 10.1.2.3:6443 with /etc/aos/kubeconfig: connection refused")
}

// A 500 names a request id and keeps its detail for the log.
func TestInternalErrorsKeepTheirDetailInTheLog(t *testing.T) {
	var log bytes.Buffer
	srv := &Server{Engine: &engine.Engine{Store: brokenStore{}}, Log: zerolog.New(&log)}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/stacks/web", nil))
	id := rec.Header().Get("X-Request-Id")
	body := rec.Body.String()
	if rec.Code != 500 || id == "" || !strings.Contains(body, "request id "+id) || strings.Contains(body, "kubeconfig") {
		t.Fatalf("%d %q %s", rec.Code, id, body)
	}
	if !strings.Contains(log.String(), "kubeconfig") || !strings.Contains(log.String(), id) {
		t.Fatalf("the log lacks the detail: %s", log.String())
	}
}
