// Package api is the HTTP API under /v1: one router served by `aos serve` and, through
// API Gateway (HTTP API, payload v2), by the api Lambda. Operations answer 202 with the
// operation and a Location; reads answer JSON; errors are {"error":{"code","message","details"}}.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/aos-project/aos/shared/console"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/schedule"
	"github.com/aos-project/aos/shared/template"
	"github.com/aos-project/aos/shared/view"
)

// Runner starts operations and batches and returns without waiting for them: Step Functions
// executions on AWS (stepfn.Runner), the embedded runner in aos serve (local.Runner). Both
// pass shared/api/runnertest.
type Runner interface {
	// Start starts op as execution name: on AWS the Step Functions execution name, so
	// starting the same name twice runs once.
	Start(ctx context.Context, op engine.OpRequest, name string) error
	// StartBatch starts the batch state machine (statemachine/batch.asl.json) on input whose
	// instances are recorded already.
	StartBatch(ctx context.Context, in *engine.BatchInput) error
}

// Scheduler keeps a stack's rebuild schedule where it fires: aos serve's cron, or an
// EventBridge Scheduler schedule on AWS. A nil schedule removes it.
type Scheduler interface {
	SetSchedule(ctx context.Context, stack string, s *engine.Schedule) error
}

// MaxBody is the largest request body: a template at its limit, plus room for inputs.
const MaxBody = template.MaxFileBytes + 256<<10

// Server is the API.
type Server struct {
	Engine    *engine.Engine
	Runner    Runner
	Scheduler Scheduler // nil: schedules are refused
	// Token, when set, is a bearer token every request but /healthz may carry, naming the
	// identity project.AdminIdentity; Tokens maps more tokens to identities. With either set,
	// a request without a known token is refused. On AWS the HTTP API authorizes requests
	// (IAM) before they reach the function, and the caller's principal is the identity
	// (LambdaHandler); both are empty.
	Token  string
	Tokens *project.Tokens
	// Insecure serves without authentication (loopback only): then a request must come from
	// this machine's own pages, so a foreign Origin or Host, and a write whose body is not
	// JSON or YAML (what a cross-site form can send), are refused.
	Insecure bool
	Log      zerolog.Logger
}

// Anonymous is the identity of a request on a server that authenticates none.
const Anonymous = "anonymous"

// Route is one method and path the API serves.
type Route struct{ Method, Path string }

// Routes lists every route, for docs/openapi.yaml's consistency test.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.routes() {
		out = append(out, Route{r.method, r.path})
	}
	return out
}

type route struct {
	method, path string
	h            func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routes() []route {
	return []route{
		{"GET", "/healthz", s.health},
		{"POST", "/v1/validate", s.validate},
		{"POST", "/v1/plan", s.plan},
		{"GET", "/v1/stacks", s.listStacks},
		{"POST", "/v1/stacks", s.createStack},
		{"GET", "/v1/stacks/{name}", s.getStack},
		{"PUT", "/v1/stacks/{name}", s.updateStack},
		{"DELETE", "/v1/stacks/{name}", s.deleteStack},
		{"POST", "/v1/stacks/{name}/rollback", s.rollback},
		{"POST", "/v1/stacks/{name}/rebuild", s.rebuild},
		{"POST", "/v1/stacks/{name}/copy", s.copyStack},
		{"POST", "/v1/stacks/{name}/cancel", s.cancel},
		{"POST", "/v1/stacks/{name}/resume", s.resume},
		{"POST", "/v1/stacks/{name}/continue-rollback", s.continueRollback},
		{"GET", "/v1/stacks/{name}/events", s.events},
		{"GET", "/v1/stacks/{name}/nodes/{id}", s.node},
		{"GET", "/v1/stacks/{name}/resources", s.resources},
		{"GET", "/v1/stacks/{name}/outputs", s.outputs},
		{"GET", "/v1/stacks/{name}/history", s.history},
		{"PUT", "/v1/stacks/{name}/schedule", s.setSchedule},
		{"DELETE", "/v1/stacks/{name}/schedule", s.deleteSchedule},
		{"GET", "/v1/templates", s.library},
		{"GET", "/v1/templates/{name}", s.libraryOne},
		{"GET", "/v1/stacks/{name}/history/diff", s.historyDiff},
		{"GET", "/v1/stacks/{name}/template", s.stackTemplate},
		{"GET", "/v1/stacks/{name}/drift", s.drift},
		{"POST", "/v1/batches", s.createBatch},
		{"GET", "/v1/batches/{id}", s.getBatch},
	}
}

// Handler is the router with authentication, body limits and error mapping.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, newRequestID()))
			w.Header().Set("X-Request-Id", requestID(r))
			if rt.path != "/healthz" {
				if err := s.sameOrigin(r); err != nil {
					s.fail(w, r, err)
					return
				}
				id, err := s.authenticate(r)
				if err != nil {
					s.fail(w, r, err)
					return
				}
				r = r.WithContext(engine.WithActor(r.Context(), id))
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
			rec := &statusRecorder{ResponseWriter: w, status: 200}
			if err := rt.h(rec, r); err != nil {
				s.fail(rec, r, err)
			}
			actor, _ := engine.ActorOf(r.Context())
			s.Log.Info().Str("method", r.Method).Str("path", r.URL.Path).Int("status", rec.status).
				Str("identity", actor).Str("request_id", requestID(r)).Dur("took_ms", time.Since(start)).Msg("request")
		})
	}
	// The console is public: a page and its script, no data; everything it shows comes
	// through the routes above, authenticated and authorized as any client's request.
	ui := console.Handler()
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET /console/", ui)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("no route %s %s (see docs/openapi.yaml)", r.Method, r.URL.Path)})
	})
	return mux
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// Error is an API error as the client sees it.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// authenticate says who sent the request: the identity its bearer token names, the AWS
// principal the Lambda handler found, or Anonymous on a server that authenticates none.
func (s *Server) authenticate(r *http.Request) (string, error) {
	if s.Token == "" && s.Tokens == nil {
		if id, ok := engine.ActorOf(r.Context()); ok {
			return id, nil
		}
		return Anonymous, nil
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing bearer token: send Authorization: Bearer <token>"}
	}
	if s.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) == 1 {
		return project.AdminIdentity, nil
	}
	if s.Tokens != nil {
		if id, ok := s.Tokens.Identity(got); ok {
			return id, nil
		}
	}
	return "", &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "the bearer token is not valid"}
}

// sameOrigin refuses, on a server without authentication, what a web page elsewhere could
// make a browser send: a request naming a foreign Origin, a Host that is not this loopback
// address (DNS rebinding), and a write whose body a cross-site form can send without a
// preflight (text/plain, form encodings).
func (s *Server) sameOrigin(r *http.Request) error {
	if !s.Insecure {
		return nil
	}
	forbid := func(format string, args ...any) error {
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: fmt.Sprintf(format, args...) + " (aos serve --insecure-no-auth answers only this machine's own clients; run it with a token to serve others)"}
	}
	if !loopbackHost(r.Host) {
		return forbid("Host %q is not a loopback address", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return forbid("Origin %q is not this server", o)
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.ContentLength != 0 {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/json" && !isYAML(ct) {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: fmt.Sprintf("Content-Type %q: send application/json or application/yaml", r.Header.Get("Content-Type"))}
		}
	}
	return nil
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type requestIDKey struct{}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

// fail writes err as a JSON error with the status that fits it. A 500's detail goes to the
// log only, under the request id the answer names: internal errors can quote configuration.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Status >= 500 {
		s.Log.Error().Err(err).Str("path", r.URL.Path).Str("request_id", requestID(r)).Msg("request failed")
		if e.Code == "internal" {
			e = &Error{Status: e.Status, Code: e.Code, Message: fmt.Sprintf("internal error (request id %s): the server's log has the detail", requestID(r))}
		}
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aos"`)
	}
	writeJSON(w, e.Status, map[string]any{"error": e})
}

func asError(err error) *Error {
	var e *Error
	var inv *engine.InvalidTemplateError
	var tooBig *http.MaxBytesError
	var state *engine.StateError
	var input *engine.InputError
	var reused *engine.KeyReuseError
	var policy *engine.PolicyError
	var forbidden *engine.ForbiddenError
	var unknown *project.UnknownError
	switch {
	case errors.As(err, &policy):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: fmt.Sprintf("project %q refuses %d thing(s) in this template", policy.Project, len(policy.Problems)), Details: policy.Problems}
	case errors.As(err, &forbidden):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: err.Error()}
	case errors.As(err, &unknown):
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: err.Error()}
	case errors.As(err, &input):
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: err.Error()}
	case errors.As(err, &e):
		return e
	case errors.As(err, &inv):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_template", Message: fmt.Sprintf("the template or its inputs have %d problem(s)", len(inv.Problems)), Details: inv.Problems}
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("the request body is over %d bytes", tooBig.Limit)}
	case errors.As(err, &reused):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "key_reused", Message: err.Error()}
	case errors.Is(err, engine.ErrBusy), errors.Is(err, engine.ErrVersionConflict):
		return &Error{Status: http.StatusConflict, Code: "busy", Message: err.Error()}
	case errors.As(err, &state):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}
	case errors.Is(err, engine.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Messages quote templates and commands (<token>, ->); this is JSON, not HTML.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

// decode reads a JSON body into v, refusing unknown fields. A YAML body (Content-Type
// application/yaml) is read the same way, and its template may be written inline as a
// mapping rather than as one escaped string.
func decode(r *http.Request, v any) error {
	if isYAML(r.Header.Get("Content-Type")) {
		return decodeYAML(r, v)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("request body: %v", err)
	}
	return nil
}

func isYAML(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml"
}

func decodeYAML(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err // over MaxBody: a 413
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return badRequest("request body (YAML): %v", err)
	}
	if t, ok := doc["template"]; ok {
		if _, isText := t.(string); !isText {
			text, err := yaml.Marshal(t)
			if err != nil {
				return badRequest("request body: template: %v", err)
			}
			doc["template"] = string(text)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return badRequest("request body (YAML): %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) error {
	// auth tells the console whether to ask for a token before its first request.
	writeJSON(w, 200, map[string]any{"status": "ok", "auth": s.Token != "" || s.Tokens != nil})
	return nil
}

// TemplateBody is a template with its inputs, as requests carry it.
type TemplateBody struct {
	File     string         `json:"file,omitempty"`
	Template string         `json:"template"`
	Params   map[string]any `json:"params,omitempty"`
	// RawParams are inputs as text (`aos -p key=value`), typed by each input's schema; they
	// win over Params.
	RawParams map[string]string `json:"rawParams,omitempty"`
}

func (b TemplateBody) request() engine.TemplateRequest {
	return engine.TemplateRequest{File: b.File, Template: b.Template, Params: b.Params, RawParams: b.RawParams}
}

func (s *Server) validate(w http.ResponseWriter, r *http.Request) error {
	var b TemplateBody
	if err := decode(r, &b); err != nil {
		return err
	}
	resp, err := engine.Validate(r.Context(), b.request())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !resp.Valid {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, resp)
	return nil
}

// StackBody asks for a stack to be created or updated.
type StackBody struct {
	TemplateBody
	Stack     string `json:"stack,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Context   string `json:"context,omitempty"`
	// Project names the project a new stack belongs to (default "default").
	Project   string `json:"project,omitempty"`
	OnFailure string `json:"onFailure,omitempty"`
	// ResetInputs makes an update start from the inputs' defaults, not the stack's inputs.
	ResetInputs bool   `json:"resetInputs,omitempty"`
	note        string // why, for rollback and copy
	// dir is the stack's own folder, when the body keeps the stack's template (sameTemplate):
	// never taken from a caller.
	dir string
}

func (b StackBody) create(key string) engine.CreateRequest {
	tr := b.request()
	tr.Dir = b.dir
	return engine.CreateRequest{Context: b.Context, Project: b.Project, IdempotencyKey: key, Note: b.note,
		PlanRequest: engine.PlanRequest{TemplateRequest: tr, Stack: b.Stack, Namespace: b.Namespace, ResetInputs: b.ResetInputs}}
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) error {
	var b StackBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if err := s.sameTemplate(r, &b); err != nil {
		return err
	}
	plan, err := s.Engine.Preview(r.Context(), b.create(""), r.URL.Query().Get("dryRun") != "false")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, plan)
	return nil
}

// Operation is the answer to a request that started one.
type Operation struct {
	ID        string             `json:"operationId"`
	Stack     string             `json:"stack"`
	Operation string             `json:"operation"`
	Revision  int                `json:"revision"`
	Status    engine.StackStatus `json:"status"`
	Repeated  bool               `json:"repeated,omitempty"` // the Idempotency-Key named an earlier request
}

// executionName is the operation's id and its Step Functions execution name, unique per
// attempt: AWS keeps a closed execution's name taken for 90 days, so a name used twice
// would start nothing the second time. Without an Idempotency-Key it is stack, operation,
// revision and the stack record's version after the operation was recorded (a retried delete
// of the same revision gets a new one); with a key, stack, operation and a digest of the key,
// so that a retry of the same request names the same execution and keys never collide across
// stacks.
func executionName(st *engine.StackRecord, op, key string) string {
	suffix := fmt.Sprintf("-%s-r%d-v%d", op, st.Revision, st.Version)
	if key != "" {
		sum := sha256.Sum256([]byte(key))
		suffix = fmt.Sprintf("-%s-k%s", op, hex.EncodeToString(sum[:8]))
	}
	return st.Name[:min(len(st.Name), 80-len(suffix))] + suffix
}

func (s *Server) started(w http.ResponseWriter, st *engine.StackRecord, op, name string, repeated bool) {
	w.Header().Set("Location", "/v1/stacks/"+st.Name)
	writeJSON(w, http.StatusAccepted, Operation{ID: name, Stack: st.Name, Operation: op, Revision: st.Revision, Status: st.Status, Repeated: repeated})
}

// start starts a recorded operation. When the start fails the operation is settled as
// failed, so that no stack waits in progress for an execution that never began.
func (s *Server) start(ctx context.Context, st *engine.StackRecord, req engine.OpRequest, name string) error {
	err := s.Runner.Start(context.WithoutCancel(ctx), req, name)
	if err == nil {
		return nil
	}
	var sr engine.SettleRequest
	sr.Stack, sr.Operation, sr.Error.Error, sr.Error.Cause = st.Name, req.Operation, "StartFailed", "the operation could not be started: "+err.Error()
	if _, serr := s.Engine.Settle(context.WithoutCancel(ctx), sr); serr != nil {
		s.Log.Error().Err(serr).Str("stack", st.Name).Msg("settling an operation that did not start")
	}
	// Not an internal error: the runner (Step Functions) refused or could not be reached, and
	// the stack's reason records the same words; a retry may succeed.
	s.Log.Error().Err(err).Str("stack", st.Name).Msg("operation not started")
	return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: fmt.Sprintf("starting %s of stack %q: %v; the operation is recorded as failed: retry", req.Operation, st.Name, err)}
}

// submit records a create or update and starts it.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, b StackBody) error {
	if b.OnFailure != "" && b.OnFailure != "rollback" && b.OnFailure != "keep" {
		return badRequest("onFailure %q: expected rollback or keep", b.OnFailure)
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		return badRequest("Idempotency-Key is over 200 characters")
	}
	name, op, err := s.Engine.Submit(r.Context(), b.create(key))
	var rep *engine.RepeatedError
	repeated := errors.As(err, &rep)
	if err != nil && !repeated {
		return err
	}
	st, err := s.Engine.Store.GetStack(r.Context(), name)
	if err != nil {
		return err
	}
	id, err := s.startOnce(r.Context(), st, engine.OpRequest{Stack: name, Operation: op, OnFailure: b.OnFailure}, executionName(st, op, key), repeated)
	if err != nil {
		return err
	}
	s.started(w, st, op, id, repeated)
	return nil
}

// startOnce starts an operation just recorded, as execution name. A repeated request starts
// it again under that name while it is in progress (a no-op if the first request started it
// and it runs); once the operation has ended, the first request's outcome is the answer and
// nothing starts. A repeated request for an operation still in progress whose run has died
// (its execution closed, or its lease expired) takes the operation over and starts it as a
// new execution: the first name is taken for good on AWS. It returns the name it started.
func (s *Server) startOnce(ctx context.Context, st *engine.StackRecord, req engine.OpRequest, name string, repeated bool) (string, error) {
	if repeated && !st.Status.InProgress() {
		return name, nil
	}
	if repeated {
		taken, err := s.Engine.TakeOver(ctx, st.Name)
		switch {
		case errors.Is(err, engine.ErrBusy):
			// The first run holds it: starting its name again is a no-op.
		case err != nil:
			return "", err
		default:
			name = executionName(taken, req.Operation, "")
		}
	}
	return name, s.start(ctx, st, req, name)
}

func (s *Server) createStack(w http.ResponseWriter, r *http.Request) error {
	var b StackBody
	if err := decode(r, &b); err != nil {
		return err
	}
	return s.submit(w, r, b)
}

func (s *Server) updateStack(w http.ResponseWriter, r *http.Request) error {
	var b StackBody
	if err := decode(r, &b); err != nil {
		return err
	}
	name := r.PathValue("name")
	if b.Stack != "" && b.Stack != name {
		return badRequest("the body names stack %q, the path %q", b.Stack, name)
	}
	if _, err := s.stack(r, name); err != nil {
		return err
	}
	b.Stack = name
	if err := s.sameTemplate(r, &b); err != nil {
		return err
	}
	return s.submit(w, r, b)
}

func (s *Server) stack(r *http.Request, name string) (*engine.StackRecord, error) {
	st, err := s.Engine.Store.GetStack(r.Context(), name)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("no stack named %q", name)}
	}
	if err != nil {
		return nil, err
	}
	if id, ok := engine.ActorOf(r.Context()); ok {
		if err := s.Engine.Admit(id, st.Project); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// operate starts an operation on an existing stack.
func (s *Server) operate(w http.ResponseWriter, r *http.Request, op string) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	if st.Status == engine.StackDeleteComplete {
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf("stack %q is deleted", st.Name)}
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		return badRequest("Idempotency-Key is over 200 characters")
	}
	scheduled := st.Schedule != nil
	if op == engine.OpDelete {
		force := r.URL.Query().Get("force")
		if err := s.Engine.DeleteAllowed(r.Context(), st.Name, force == "1" || force == "true"); err != nil {
			return err
		}
	}
	// Recorded before the answer, so the client's next GET shows the operation under way.
	err = s.Engine.Begin(r.Context(), st.Name, op, key)
	var rep *engine.RepeatedError
	repeated := errors.As(err, &rep)
	if err != nil && !repeated {
		return err
	}
	if st, err = s.Engine.Store.GetStack(r.Context(), st.Name); err != nil {
		return err
	}
	id, err := s.startOnce(r.Context(), st, engine.OpRequest{Stack: st.Name, Operation: op, OnFailure: "keep"}, executionName(st, op, key), repeated)
	if err != nil {
		return err
	}
	if op == engine.OpDelete && scheduled && s.Scheduler != nil {
		// The delete dropped the schedule from the stack record; drop where it fires too.
		if err := s.Scheduler.SetSchedule(context.WithoutCancel(r.Context()), st.Name, nil); err != nil {
			s.Log.Error().Err(err).Str("stack", st.Name).Msg("removing the schedule of a deleted stack")
		}
	}
	s.started(w, st, op, id, repeated)
	return nil
}

func (s *Server) deleteStack(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Location", "/v1/stacks/"+r.PathValue("name"))
	return s.operate(w, r, engine.OpDelete)
}

func (s *Server) rebuild(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Location", "/v1/stacks/"+r.PathValue("name"))
	return s.operate(w, r, engine.OpRebuild)
}

// cancel asks the operation in progress to stop (engine.Cancel).
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.stack(r, r.PathValue("name")); err != nil {
		return err
	}
	st, err := s.Engine.Cancel(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/stacks/"+st.Name)
	writeJSON(w, http.StatusAccepted, map[string]any{"stack": st.Name, "status": st.Status, "cancelRequested": st.CancelRequested})
	return nil
}

// resume continues an operation whose run died (its lease expired, or its holder is gone)
// from the stored state, as a new execution.
func (s *Server) resume(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.stack(r, r.PathValue("name")); err != nil {
		return err
	}
	st, err := s.Engine.TakeOver(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if st, err = s.Engine.Store.GetStack(r.Context(), st.Name); err != nil {
		return err
	}
	id := executionName(st, st.Operation, "")
	if err := s.start(r.Context(), st, engine.OpRequest{Stack: st.Name, Operation: st.Operation, OnFailure: "keep"}, id); err != nil {
		return err
	}
	s.started(w, st, st.Operation, id, false)
	return nil
}

// continueRollback runs a rollback that failed again, from where it stopped (CloudFormation's
// ContinueUpdateRollback).
func (s *Server) continueRollback(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	if st.Status != engine.StackRollbackFailed {
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf("stack %q is %s: only a failed rollback can be continued", st.Name, st.Status)}
	}
	w.Header().Set("Location", "/v1/stacks/"+st.Name)
	return s.operate(w, r, engine.OpRollback)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Revision int `json:"revision,omitempty"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &b); err != nil {
			return err
		}
	}
	name := r.PathValue("name")
	if _, err := s.stack(r, name); err != nil {
		return err
	}
	if b.Revision == 0 {
		w.Header().Set("Location", "/v1/stacks/"+name)
		return s.operate(w, r, engine.OpRollback)
	}
	req, err := s.Engine.RevisionRequest(r.Context(), name, b.Revision)
	if err != nil {
		return err
	}
	return s.submit(w, r, StackBody{TemplateBody: TemplateBody{File: req.File, Template: req.Template, Params: req.Params},
		Stack: name, Namespace: req.Namespace, Context: req.Context, note: req.Note})
}

func (s *Server) copyStack(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		To        string            `json:"to"`
		Namespace string            `json:"namespace,omitempty"`
		Context   string            `json:"context,omitempty"`
		Project   string            `json:"project,omitempty"`
		Params    map[string]any    `json:"params,omitempty"`
		RawParams map[string]string `json:"rawParams,omitempty"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if _, err := s.stack(r, r.PathValue("name")); err != nil {
		return err
	}
	req, err := s.Engine.CopyRequest(r.Context(), r.PathValue("name"), engine.CopyOptions{To: b.To, Namespace: b.Namespace, Context: b.Context, Project: b.Project, Params: b.Params, RawParams: b.RawParams})
	if err != nil {
		return err
	}
	return s.submit(w, r, StackBody{TemplateBody: TemplateBody{File: req.File, Template: req.Template, Params: req.Params, RawParams: req.RawParams},
		Stack: req.Stack, Namespace: req.Namespace, Context: req.Context, Project: req.Project, note: req.Note})
}

func (s *Server) listStacks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	after, limit := q.Get("after"), 100
	if v := q.Get("limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return badRequest("limit=%q: expected 1 to 1000", v)
		}
	}
	// Pages of the store, by name, keeping the stacks of projects the caller may use; a few
	// pages at most, so a caller who sees little of a large table is answered quickly, with
	// a cursor to go on from.
	id, _ := engine.ActorOf(r.Context())
	visible := []*engine.StackRecord{}
	more := false
	for range 10 {
		page, err := s.Engine.Store.PageStacks(r.Context(), after, limit)
		if err != nil {
			return err
		}
		for i, st := range page {
			after = st.Name
			if s.Engine.Admit(id, st.Project) == nil {
				visible = append(visible, st)
			}
			if len(visible) == limit {
				more = i < len(page)-1 || len(page) == limit
				break
			}
		}
		if len(visible) == limit {
			break
		}
		if more = len(page) == limit; !more {
			break
		}
	}
	stacks := view.Stacks(visible)
	if q.Get("nodes") != "" {
		// How far each stack's nodes are, for the console's list: one read per listed stack.
		for i, st := range visible {
			nodes, err := s.Engine.Store.ListNodes(r.Context(), st.Name)
			if err != nil {
				return err
			}
			stacks[i].Nodes = view.CountOf(nodes)
		}
	}
	resp := map[string]any{"stacks": stacks}
	if more {
		resp["next"] = after
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getStack(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	nodes, err := s.Engine.Store.ListNodes(r.Context(), st.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"stack": view.StackOf(st), "nodes": view.Nodes(nodes)})
	return nil
}

func (s *Server) outputs(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	out := st.Outputs
	if out == nil {
		out = map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"outputs": out})
	return nil
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	revs, err := s.Engine.Store.ListRevisions(r.Context(), st.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"revisions": view.Revisions(revs)})
	return nil
}

// events pages through a stack's event log: ?after=SEQ&limit=N; next is the cursor for the
// following page (absent when there is none yet).
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	after, limit := int64(0), 100
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return badRequest("after=%q: expected a sequence number", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return badRequest("limit=%q: expected 1 to 1000", v)
		}
	}
	wait, err := waitParam(q.Get("wait"))
	if err != nil {
		return err
	}
	// One more than the page, to know whether another follows: a long log is never read whole.
	evs, err := s.followEvents(r.Context(), st.Name, after, limit+1, wait)
	if err != nil {
		return err
	}
	resp := map[string]any{}
	if len(evs) > limit {
		evs = evs[:limit]
		resp["next"] = evs[limit-1].Seq
	}
	if evs == nil {
		evs = []*engine.Event{}
	}
	resp["events"] = evs
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// resources is each node with its object's live status, read from the cluster now.
func (s *Server) resources(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	live, err := s.Engine.Resources(r.Context(), st)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": live})
	return nil
}

func (s *Server) setSchedule(w http.ResponseWriter, r *http.Request) error {
	if s.Scheduler == nil {
		return &Error{Status: http.StatusNotImplemented, Code: "not_supported", Message: "this server runs no scheduler"}
	}
	var sc engine.Schedule
	if err := decode(r, &sc); err != nil {
		return err
	}
	if err := schedule.Check(&sc); err != nil {
		return badRequest("%v", err)
	}
	return s.putSchedule(w, r, &sc)
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request) error {
	if s.Scheduler == nil {
		return &Error{Status: http.StatusNotImplemented, Code: "not_supported", Message: "this server runs no scheduler"}
	}
	return s.putSchedule(w, r, nil)
}

func (s *Server) putSchedule(w http.ResponseWriter, r *http.Request, sc *engine.Schedule) error {
	// The schedule is one field of a record that a running operation writes at every step (a
	// rebuild fired by this very schedule, say): read it again and set it again when it moved.
	var st *engine.StackRecord
	for attempt := 0; ; attempt++ {
		var err error
		if st, err = s.stack(r, r.PathValue("name")); err != nil {
			return err
		}
		st.Schedule = sc
		err = s.Engine.Store.PutStack(r.Context(), st, st.Version)
		if err == nil {
			break
		}
		if !errors.Is(err, engine.ErrVersionConflict) {
			return err
		}
		if attempt == 9 {
			return &Error{Status: http.StatusConflict, Code: "conflict", Message: "the stack kept changing while the schedule was set; retry"}
		}
		time.Sleep(time.Duration(20*(attempt+1)) * time.Millisecond)
	}
	if err := s.Scheduler.SetSchedule(r.Context(), st.Name, sc); err != nil {
		return fmt.Errorf("setting the schedule of stack %q: %w", st.Name, err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"stack": view.StackOf(st)})
	return nil
}

// BatchBody asks for a batch of stacks from one template.
type BatchBody struct {
	TemplateBody
	Prefix      string `json:"prefix"`
	Count       int    `json:"count"`
	Concurrency int    `json:"concurrency"`
	Context     string `json:"context,omitempty"`
	Project     string `json:"project,omitempty"`
}

// Request is the engine's form of the body.
func (b BatchBody) Request() engine.BatchRequest {
	return engine.BatchRequest{TemplateRequest: b.request(), Prefix: b.Prefix, Count: b.Count, Concurrency: b.Concurrency, Context: b.Context, Project: b.Project}
}

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) error {
	var b BatchBody
	if err := decode(r, &b); err != nil {
		return err
	}
	in, err := s.Engine.SubmitBatch(r.Context(), b.Request())
	if err != nil {
		return err
	}
	if err := s.Runner.StartBatch(context.WithoutCancel(r.Context()), in); err != nil {
		return fmt.Errorf("starting batch %q: %w", in.Batch, err)
	}
	w.Header().Set("Location", "/v1/batches/"+in.Batch)
	writeJSON(w, http.StatusAccepted, map[string]any{"batch": in.Batch, "count": len(in.Items), "concurrency": in.Concurrency})
	return nil
}

func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) error {
	b, err := s.Engine.Batch(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}
