package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/view"
)

// With --server, an operation starts with a request to the server's route and runs there; the
// CLI then follows it through the API as it follows an embedded run — the same live view,
// event lines, final line and exit code — and stops waiting (the operation goes on) when its
// --timeout passes or it is interrupted.

// stackBody is the API's body for a create, update or plan (api.StackBody).
type stackBody struct {
	File        string            `json:"file,omitempty"`
	Template    string            `json:"template,omitempty"`
	Params      map[string]any    `json:"params,omitempty"`
	RawParams   map[string]string `json:"rawParams,omitempty"`
	Stack       string            `json:"stack,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Context     string            `json:"context,omitempty"`
	Project     string            `json:"project,omitempty"`
	OnFailure   string            `json:"onFailure,omitempty"`
	ResetInputs bool              `json:"resetInputs,omitempty"`
}

func bodyOf(req engine.CreateRequest, onFailure string) stackBody {
	return stackBody{File: req.File, Template: req.Template, Params: req.Params, RawParams: req.RawParams, Stack: req.Stack,
		Namespace: req.Namespace, Context: req.Context, Project: req.Project, OnFailure: onFailure, ResetInputs: req.ResetInputs}
}

// operation is the API's answer to a request that starts one (api.Operation).
type operation struct {
	Stack     string `json:"stack"`
	Operation string `json:"operation"`
}

// lastSeq is the stack's last event's sequence number (0: none, or no stack yet), so the
// events of the operation about to start are all shown.
func (a *app) lastSeq(ctx context.Context, e *engine.Engine, stack string) (int64, error) {
	if stack == "" {
		return 0, nil
	}
	var last int64
	for {
		evs, err := e.Store.ListEvents(ctx, stack, last, 1000)
		if errors.Is(err, engine.ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 {
			return last, nil
		}
		last = evs[len(evs)-1].Seq
	}
}

// remoteSubmit sends a create or update and follows it.
func (a *app) remoteSubmit(ctx context.Context, e *engine.Engine, req engine.CreateRequest, onFailure, output string) error {
	from, err := a.lastSeq(ctx, e, req.Stack)
	if err != nil {
		return err
	}
	var op operation
	if err := a.remote.call(ctx, "POST", "/v1/stacks", bodyOf(req, onFailure), &op); err != nil {
		return a.refused(err, req.File)
	}
	return a.remoteFollow(ctx, e, op.Stack, op.Operation, onFailure, output, from)
}

// remoteStart asks the server to start op on an existing stack.
func (a *app) remoteStart(ctx context.Context, stack, op string) error {
	path := "/v1/stacks/" + url.PathEscape(stack)
	switch op {
	case engine.OpDelete:
		if a.forceDelete {
			path += "?force=1"
		}
		return a.remote.call(ctx, "DELETE", path, nil, nil)
	case engine.OpRollback, engine.OpRebuild, "resume", "continue-rollback", "cancel":
		return a.remote.call(ctx, "POST", path+"/"+op, nil, nil)
	}
	return fmt.Errorf("%s: not an operation the server starts on request", op)
}

// settledFor reports whether a stack's status ends op. A rebuild passes DELETE_COMPLETE on its
// way to creating again; a failed update that rolls back passes UPDATE_FAILED first, so that
// one is awaited a while for the rollback to start.
func settledFor(op, onFailure string, st engine.StackStatus, since time.Duration) bool {
	switch {
	case st.InProgress():
		return false
	case op == engine.OpRebuild && st == engine.StackDeleteComplete:
		return false
	case op == engine.OpUpdate && onFailure == "rollback" && st == engine.StackUpdateFailed:
		return since > 10*time.Second
	}
	return true
}

// succeeded reports whether op ended as it meant to.
func succeeded(op string, st engine.StackStatus) bool {
	switch st {
	case engine.StackCreateComplete, engine.StackUpdateComplete, engine.StackDeleteComplete:
		return true
	case engine.StackRollbackComplete:
		return op == engine.OpRollback
	}
	return false
}

// remoteFollow shows an operation running on the server until it ends, then its result, as
// operate does for an embedded run.
func (a *app) remoteFollow(ctx context.Context, e *engine.Engine, stack, op, onFailure, output string, from int64) error {
	start := time.Now()
	var stop func()
	if w, h, tty := terminal(a.stdout); tty && output != "json" {
		stop = a.live(ctx, e, stack, w, h)
	} else {
		stop = a.followFrom(ctx, e, stack, output != "json", from)
	}
	var st *engine.StackRecord
	var failedAt time.Time
	for {
		var err error
		st, err = e.Store.GetStack(ctx, stack)
		if err != nil && ctx.Err() == nil {
			stop()
			return err
		}
		if err == nil {
			since := time.Duration(0)
			if st.Status == engine.StackUpdateFailed {
				if failedAt.IsZero() {
					failedAt = time.Now()
				}
				since = time.Since(failedAt)
			}
			if settledFor(op, onFailure, st.Status, since) {
				awaitStackEvent(ctx, e, stack, st.Status, from)
				break
			}
		}
		select {
		case <-ctx.Done():
			stop()
			return fmt.Errorf("stopped waiting: %w; the operation goes on on the server (`aos events -f %s --server %s` follows it)", ctx.Err(), stack, a.global.server)
		case <-time.After(250 * time.Millisecond):
		}
	}
	stop()
	took := time.Since(start).Round(time.Millisecond)
	nodes, _ := e.Store.ListNodes(context.WithoutCancel(ctx), stack)
	if output == "json" {
		_ = a.printJSON(map[string]any{"stack": view.StackOf(st), "nodes": view.Nodes(nodes), "seconds": took.Seconds()})
	} else {
		fmt.Fprintf(a.stdout, "\nstack %s: %s in %s (%d node(s))\n", st.Name, st.Status, took, len(nodes))
		if st.Reason != "" {
			fmt.Fprintf(a.stdout, "reason: %s\n", st.Reason)
		}
		a.printOutputs(st)
	}
	if !succeeded(op, st.Status) {
		return fmt.Errorf("%s %s failed: %s", op, stack, st.Reason)
	}
	return nil
}

// remoteOp starts an operation through route (resume, continue-rollback) and follows op.
func (a *app) remoteOp(ctx context.Context, e *engine.Engine, stack, route, op, output string) error {
	from, err := a.lastSeq(ctx, e, stack)
	if err != nil {
		return err
	}
	if err := a.remoteStart(ctx, stack, route); err != nil {
		return err
	}
	return a.remoteFollow(ctx, e, stack, op, "keep", output, from)
}

// errNotRemote: a command that needs what only the embedded form has.
func errNotRemote(cmd, why string) error {
	return fmt.Errorf("aos %s is not available with --server: %s", cmd, why)
}

// awaitStackEvent waits, briefly, for the stack's event of status to be readable: the server
// writes the stack record before it appends that event, and a follower stopped in between
// would never show how the operation ended.
func awaitStackEvent(ctx context.Context, e *engine.Engine, stack string, status engine.StackStatus, after int64) {
	deadline := time.Now().Add(finalEventWait)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		evs, err := e.Store.ListEvents(ctx, stack, max(after, 0), 0)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Node == "" && ev.Status == string(status) {
				return
			}
		}
		if len(evs) > 0 {
			after = evs[len(evs)-1].Seq
		}
		time.Sleep(50 * time.Millisecond)
	}
}
