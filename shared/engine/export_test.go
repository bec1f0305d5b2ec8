package engine

import "context"

// What the tests of package engine_test drive the engine with, without it being API.

// CreateResponse names the stack and the nodes that can start at once.
type CreateResponse struct {
	Stack string
	Nodes int
	Ready []string
}

// Create is Submit followed by the plan step, for tests that drive the loop themselves.
func (e *Engine) Create(ctx context.Context, req CreateRequest) (CreateResponse, error) {
	name, _, err := e.Submit(ctx, req)
	if err != nil {
		return CreateResponse{}, err
	}
	resp, err := e.PlanStack(ctx, OpRequest{Stack: name, Operation: OpCreate})
	if err != nil {
		return CreateResponse{}, err
	}
	return CreateResponse{Stack: name, Nodes: resp.Pending + resp.InFlight, Ready: resp.Startable}, nil
}

// StartDelete begins deleting a stack, as the plan step of a delete does.
func (e *Engine) StartDelete(ctx context.Context, req CheckRequest) (CheckResponse, error) {
	return e.startDelete(ctx, req.Stack, OpDelete, "", 0, false)
}

// SetMaxStartable bounds the nodes a turn starts, for a test; it returns the undo.
func SetMaxStartable(n int) func() {
	old := maxStartable
	maxStartable = n
	return func() { maxStartable = old }
}

// SetHistoryBudget bounds the history events an execution plans to use, for a test; it
// returns the undo.
func SetHistoryBudget(n int) func() {
	old := historyBudget
	historyBudget = n
	return func() { historyBudget = old }
}

// SealedAt is where a stack's secret input is sealed for (the associated data).
var SealedAt = sealedAt

// ListForCheck is the listing check-ready decides on (check_list.go).
func (e *Engine) ListForCheck(ctx context.Context, stack string) ([]*NodeRecord, error) {
	return e.listForCheck(ctx, stack)
}
