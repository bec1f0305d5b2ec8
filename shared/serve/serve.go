// Package serve is `aos serve`: the HTTP API (shared/api) with operations run by the embedded
// state machine runner in this process, rebuild schedules fired by an in-process cron, and
// batches run by the batch state machine.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/api"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/local"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/schedule"
)

// Options configure a server.
type Options struct {
	Addr string
	// Token is a bearer token naming project.AdminIdentity; Tokens maps tokens to identities
	// (--token-file). Both empty only with Insecure, which is refused unless Addr is a
	// loopback address.
	Token    string
	Tokens   *project.Tokens
	Insecure bool
	// TLSCert and TLSKey, both set, serve HTTPS.
	TLSCert, TLSKey string
	Log             zerolog.Logger
}

// Server is a running aos serve.
type Server struct {
	API    *api.Server
	Runner *local.Runner
	Cron   *schedule.Local
	http   *http.Server
	ln     net.Listener

	tlsCert, tlsKey string
}

// New builds the server and loads the stored schedules; Serve starts it.
func New(ctx context.Context, e *engine.Engine, o Options) (*Server, error) {
	if o.Token == "" && o.Tokens == nil && !o.Insecure {
		return nil, errors.New("aos serve needs a bearer token (--token-file or $AOS_API_TOKEN); --insecure-no-auth runs without one, on a loopback address only")
	}
	if o.Insecure && !loopback(o.Addr) {
		return nil, fmt.Errorf("--insecure-no-auth is refused on %s: only a loopback address (127.0.0.1, ::1, localhost) may serve without a token", o.Addr)
	}
	runner := local.NewRunner(ctx, e, o.Log)
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	s := &Server{Runner: runner, tlsCert: o.TLSCert, tlsKey: o.TLSKey}
	s.Cron = schedule.NewLocal(ctx, func(ctx context.Context, stack string) { s.scheduled(ctx, e, stack) })
	s.API = &api.Server{Engine: e, Runner: runner, Scheduler: s.Cron, Token: o.Token, Tokens: o.Tokens, Insecure: o.Insecure, Log: o.Log}
	stacks, err := e.Store.ListStacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading schedules: %w", err)
	}
	for _, st := range stacks {
		if st.Schedule != nil {
			if err := s.Cron.SetSchedule(ctx, st.Name, st.Schedule); err != nil {
				o.Log.Warn().Err(err).Str("stack", st.Name).Msg("stored schedule not loaded")
			}
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	// Bodies are at most api.MaxBody (4 MiB) and every answer is one JSON document, so a
	// client slower than these is stuck or hostile.
	s.http = &http.Server{Handler: s.API.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx ends, then stops accepting requests and waits (up to a minute) for
// running operations to reach a step they can be resumed from.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if s.tlsCert != "" {
			errc <- s.http.ServeTLS(s.ln, s.tlsCert, s.tlsKey)
			return
		}
		errc <- s.http.Serve(s.ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.http.Shutdown(shut)
	done := make(chan struct{})
	go func() { s.Runner.Wait(); close(done) }()
	select {
	case <-done:
	case <-shut.Done():
	}
	return err
}

// scheduled starts a stack's scheduled rebuild, unless another operation holds the stack:
// then the firing is skipped and recorded as an event.
func (s *Server) scheduled(ctx context.Context, e *engine.Engine, stack string) {
	st, err := e.Store.GetStack(ctx, stack)
	if err != nil {
		s.Runner.Log.Warn().Err(err).Str("stack", stack).Msg("scheduled rebuild: stack unreadable")
		return
	}
	if st.Schedule == nil {
		return
	}
	if st.Status.InProgress() {
		err := e.Store.AppendEvent(ctx, &engine.Event{Stack: st.Name, Time: time.Now().UTC(), Status: string(st.Status),
			Reason: "ScheduledRebuildSkipped", Message: fmt.Sprintf("the schedule %q fired while the stack was %s", st.Schedule.Cron, strings.ToLower(string(st.Status)))})
		if err != nil {
			s.Runner.Log.Warn().Err(err).Str("stack", stack).Msg("skipped scheduled rebuild not recorded")
		}
		return
	}
	if st.Status == engine.StackDeleteComplete {
		return
	}
	// A name per firing: the runner starts a name once, as Step Functions does.
	_ = s.Runner.Start(ctx, engine.OpRequest{Stack: st.Name, Operation: engine.OpRebuild, OnFailure: "keep"}, fmt.Sprintf("%s-scheduled-rebuild-r%d-v%d", st.Name, st.Revision, st.Version))
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
