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
