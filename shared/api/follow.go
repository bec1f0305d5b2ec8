package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/refs"
	"github.com/aos-project/aos/shared/view"
)

// MaxWait bounds a long poll: under API Gateway's 29 s integration timeout.
const MaxWait = 25 * time.Second

// followPoll is how often a long poll reads the store again.
const followPoll = 250 * time.Millisecond

func waitParam(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxWait {
		return 0, badRequest("wait=%q: expected 0 to %d seconds", v, int(MaxWait/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// followEvents is ListEvents that, when there is nothing after `after`, waits up to wait for
// something to come (a long poll: the console follows a stack with it).
func (s *Server) followEvents(ctx context.Context, stack string, after int64, limit int, wait time.Duration) ([]*engine.Event, error) {
	deadline := time.Now().Add(wait)
	for {
		evs, err := s.Engine.Store.ListEvents(ctx, stack, after, limit)
		if err != nil || len(evs) > 0 || !time.Now().Before(deadline) {
			return evs, err
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(followPoll):
		}
	}
}

// node is one node in full, for the console's node panel: its view, the manifest as the
// template writes it (references unresolved, so no secret is in it), as apply renders it
// (secrets masked), the live values kept (secrets never are) and its outputs read from them.
func (s *Server) node(w http.ResponseWriter, r *http.Request) error {
	st, err := s.stack(r, r.PathValue("name"))
	if err != nil {
		return err
	}
	n, err := s.Engine.Store.GetNode(r.Context(), st.Name, r.PathValue("id"))
	if errors.Is(err, engine.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "stack " + st.Name + " has no node " + strconv.Quote(r.PathValue("id"))}
	}
	if err != nil {
		return err
	}
	outputs := map[string]any{}
	for _, o := range n.Outputs {
		if v, err := refs.Get(n.Live, o.Path); err == nil {
			outputs[o.Name] = v
		}
	}
	resp := map[string]any{"node": view.Nodes([]*engine.NodeRecord{n})[0], "manifest": n.Manifest, "live": n.Live, "outputs": outputs}
	if n.Ref != nil {
		// What apply made of the manifest: references resolved, secrets masked.
		if applied, err := s.Engine.AppliedManifest(r.Context(), st, n.ID); err == nil {
			resp["applied"] = applied
		} else {
			resp["appliedError"] = err.Error()
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
