package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/view"
)

// remoteStore reads a stack's state through a remote server's API, so the commands that show
// state (status, list, events, outputs, history, the live view of an operation) print what
// they print from the embedded store. It holds no secret and writes nothing: operations go
// to the server's routes (remoteOps).
type remoteStore struct{ r *remote }

var errRemoteWrite = errors.New("the state is the server's: this command does not write it over --server")

type stackAnswer struct {
	Stack view.Stack  `json:"stack"`
	Nodes []view.Node `json:"nodes"`
}

func (s remoteStore) stack(ctx context.Context, name string) (*stackAnswer, error) {
	var got stackAnswer
	if err := s.r.call(ctx, "GET", "/v1/stacks/"+url.PathEscape(name), nil, &got); err != nil {
		return nil, err
	}
	return &got, nil
}

func recordOf(v view.Stack) *engine.StackRecord {
	st := &engine.StackRecord{Name: v.Name, Namespace: v.Namespace, Context: v.Context, Project: v.Project, StartedBy: v.StartedBy,
		Status: v.Status, Reason: v.Reason, Inputs: v.Inputs, Outputs: v.Outputs, Operation: v.Operation, Revision: v.Revision,
		Schedule: v.Schedule, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
	if len(v.Secret) > 0 {
		// Names only: what is sealed stays on the server.
		st.Sealed = map[string]string{}
		for _, k := range v.Secret {
			st.Sealed[k] = ""
		}
	}
	return st
}

func (s remoteStore) GetStack(ctx context.Context, name string) (*engine.StackRecord, error) {
	got, err := s.stack(ctx, name)
	if err != nil {
		return nil, err
	}
	return recordOf(got.Stack), nil
}

func (s remoteStore) ListNodes(ctx context.Context, stack string) ([]*engine.NodeRecord, error) {
	got, err := s.stack(ctx, stack)
	if err != nil {
		return nil, err
	}
	out := make([]*engine.NodeRecord, 0, len(got.Nodes))
	for _, n := range got.Nodes {
		rec := &engine.NodeRecord{Stack: stack, ID: n.ID, Status: n.Status, Reason: n.Reason, Message: n.Message,
			DependsOn: n.DependsOn, AppliedAt: n.AppliedAt, ReadyAt: n.ReadyAt}
		if n.Kind != "" || n.Name != "" {
			rec.Ref = &kube.Ref{Kind: n.Kind, Name: n.Name, Namespace: n.Namespace}
		}
		out = append(out, rec)
	}
	return out, nil
}

func (s remoteStore) GetNode(ctx context.Context, stack, id string) (*engine.NodeRecord, error) {
	nodes, err := s.ListNodes(ctx, stack)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.ID == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("stack %q has no node %q: %w", stack, id, engine.ErrNotFound)
}

func (s remoteStore) PageStacks(ctx context.Context, after string, limit int) ([]*engine.StackRecord, error) {
	var got struct {
		Stacks []view.Stack `json:"stacks"`
	}
	q := url.Values{"after": {after}, "limit": {strconv.Itoa(min(max(limit, 1), 1000))}}
	if err := s.r.call(ctx, "GET", "/v1/stacks?"+q.Encode(), nil, &got); err != nil {
		return nil, err
	}
	out := make([]*engine.StackRecord, 0, len(got.Stacks))
	for _, v := range got.Stacks {
		out = append(out, recordOf(v))
	}
	return out, nil
}

func (s remoteStore) ListStacks(ctx context.Context) ([]*engine.StackRecord, error) {
	var all []*engine.StackRecord
	for after := ""; ; {
		page, err := s.PageStacks(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		after = page[len(page)-1].Name
	}
}

func (s remoteStore) ListEvents(ctx context.Context, stack string, after int64, limit int) ([]*engine.Event, error) {
	var all []*engine.Event
	for {
		page := 1000
		if limit > 0 {
			page = min(limit-len(all), 1000)
		}
		var got struct {
			Events []*engine.Event `json:"events"`
		}
		q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(page)}}
		if err := s.r.call(ctx, "GET", "/v1/stacks/"+url.PathEscape(stack)+"/events?"+q.Encode(), nil, &got); err != nil {
			return nil, err
		}
		all = append(all, got.Events...)
		if len(got.Events) < page || limit > 0 && len(all) >= limit {
			return all, nil
		}
		after = got.Events[len(got.Events)-1].Seq
	}
}

func (s remoteStore) ListRevisions(ctx context.Context, stack string) ([]*engine.Revision, error) {
	var got struct {
		Revisions []view.Revision `json:"revisions"`
	}
	if err := s.r.call(ctx, "GET", "/v1/stacks/"+url.PathEscape(stack)+"/history", nil, &got); err != nil {
		return nil, err
	}
	out := make([]*engine.Revision, 0, len(got.Revisions))
	for _, v := range got.Revisions {
		rev := &engine.Revision{Number: v.Number, File: v.File, Inputs: v.Inputs, Operation: v.Operation, Status: v.Status,
			Reason: v.Reason, Note: v.Note, StartedAt: v.StartedAt, EndedAt: v.EndedAt}
		if len(v.Secret) > 0 {
			rev.Sealed = map[string]string{}
			for _, k := range v.Secret {
				rev.Sealed[k] = ""
			}
		}
		out = append(out, rev)
	}
	return out, nil
}

func (remoteStore) DeleteStack(context.Context, string) error                  { return errRemoteWrite }
func (remoteStore) PutStack(context.Context, *engine.StackRecord, int64) error { return errRemoteWrite }
func (remoteStore) PutNode(context.Context, *engine.NodeRecord, int64) error   { return errRemoteWrite }
func (remoteStore) PutNodes(context.Context, []*engine.NodeRecord) error       { return errRemoteWrite }
func (remoteStore) PutRevision(context.Context, string, *engine.Revision) error {
	return errRemoteWrite
}
func (remoteStore) AppendEvent(context.Context, *engine.Event) error { return errRemoteWrite }
