package engine

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Batch limits.
const (
	MaxBatchCount       = 1000
	MaxBatchConcurrency = 40
)

// BatchRequest asks for Count stacks from one template, named <Prefix>-<index>, each in its
// own namespace of that name, at most Concurrency in progress at once. Each instance reads
// its index as ${stack.index}.
type BatchRequest struct {
	TemplateRequest
	Prefix      string `json:"prefix"`
	Count       int    `json:"count"`
	Concurrency int    `json:"concurrency"`
	Context     string `json:"context,omitempty"`
	// Project is the project every instance belongs to (default: project.DefaultName).
	Project string `json:"project,omitempty"`
}

// BatchInput is the batch state machine's input: names only.
type BatchInput struct {
	Batch string `json:"batch"`
	// Execution names the batch's execution, unique per attempt: a prefix used again after
	// its earlier batch was deleted gets a new one (AWS keeps a closed name taken).
	Execution   string      `json:"execution,omitempty"`
	Concurrency int         `json:"concurrency"`
	Items       []OpRequest `json:"items"`
}

// ExecutionName is the batch's execution name: the one SubmitBatch chose, else batch-<id>.
func (in *BatchInput) ExecutionName() string {
	if in.Execution != "" {
		return in.Execution
	}
	return "batch-" + in.Batch
}

// SubmitBatch validates the request once, records every instance (queued: its first event
// says so), and returns the batch state machine's input.
func (e *Engine) SubmitBatch(ctx context.Context, req BatchRequest) (*BatchInput, error) {
	switch {
	case req.Count < 1 || req.Count > MaxBatchCount:
		return nil, &InputError{fmt.Sprintf("count %d: expected 1 to %d", req.Count, MaxBatchCount)}
	case req.Concurrency < 1 || req.Concurrency > MaxBatchConcurrency:
		return nil, &InputError{fmt.Sprintf("concurrency %d: expected 1 to %d", req.Concurrency, MaxBatchConcurrency)}
	}
	last := fmt.Sprintf("%s-%d", req.Prefix, req.Count-1)
	if errs := validation.IsDNS1123Label(last); len(errs) > 0 {
		return nil, &InputError{fmt.Sprintf("prefix %q: instance names such as %q must be DNS labels: %s", req.Prefix, last, errs[0])}
	}
	// One validation for all: an invalid template is reported once, not Count times.
	v, err := Validate(ctx, req.TemplateRequest)
	if err != nil {
		return nil, err
	}
	if !v.Valid {
		return nil, &InvalidTemplateError{Problems: v.Problems}
	}
	for i := range req.Count {
		name := fmt.Sprintf("%s-%d", req.Prefix, i)
		if st, err := e.Store.GetStack(ctx, name); err == nil && st.Status != StackDeleteComplete {
			return nil, &StateError{fmt.Sprintf("stack %q exists already (%s): choose another prefix, or delete the earlier batch", name, st.Status)}
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	in := &BatchInput{Batch: req.Prefix, Concurrency: min(req.Concurrency, req.Count)}
	for i := range req.Count {
		name := fmt.Sprintf("%s-%d", req.Prefix, i)
		_, op, err := e.Submit(ctx, CreateRequest{Context: req.Context, Project: req.Project, Index: i, Batch: req.Prefix, Queued: true,
			Note:        fmt.Sprintf("batch %s, instance %d of %d", req.Prefix, i+1, req.Count),
			PlanRequest: PlanRequest{TemplateRequest: req.TemplateRequest, Stack: name}})
		if err != nil {
			return nil, fmt.Errorf("recording instance %s: %w", name, err)
		}
		in.Items = append(in.Items, OpRequest{Stack: name, Operation: op, OnFailure: "keep"})
	}
	// Instances' revisions keep counting across delete and create again.
	st, err := e.Store.GetStack(ctx, in.Items[0].Stack)
	if err != nil {
		return nil, err
	}
	in.Execution = fmt.Sprintf("batch-%s-r%d", req.Prefix, st.Revision)
	return in, nil
}

// BatchStatus is where each instance of a batch stands.
type BatchStatus struct {
	ID        string              `json:"id"`
	Count     int                 `json:"count"`
	Done      bool                `json:"done"`
	Counts    map[StackStatus]int `json:"counts"` // by stack status
	Instances []BatchMember       `json:"instances"`
}

// BatchMember is one instance.
type BatchMember struct {
	Stack  string      `json:"stack"`
	Index  int         `json:"index"`
	Status StackStatus `json:"status"`
	Reason string      `json:"reason,omitempty"`
}

// Batch reports on the stacks of a batch.
func (e *Engine) Batch(ctx context.Context, id string) (*BatchStatus, error) {
	stacks, err := e.Store.ListStacks(ctx)
	if err != nil {
		return nil, err
	}
	b := &BatchStatus{ID: id, Counts: map[StackStatus]int{}, Done: true}
	actor, checked := ActorOf(ctx)
	for _, st := range stacks {
		if st.Batch != id || checked && e.Admit(actor, st.Project) != nil {
			continue
		}
		b.Instances = append(b.Instances, BatchMember{Stack: st.Name, Index: st.Index, Status: st.Status, Reason: st.Reason})
		b.Counts[st.Status]++
		if st.Status.InProgress() {
			b.Done = false
		}
	}
	if len(b.Instances) == 0 {
		return nil, fmt.Errorf("%w: no batch %q", ErrNotFound, id)
	}
	b.Count = len(b.Instances)
	return b, nil
}

// InputError: the request itself is wrong (a 400, exit code 2).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }
