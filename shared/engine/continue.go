package engine

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
)

// Step Functions records at most 25,000 events in one execution's history, and an execution
// that reaches the cap fails. A stack of thousands of nodes needs more: each Map iteration
// costs 7 events (a Lambda task around it, which applies a batch of the turn's nodes), and a
// turn runs up to 40. So check-ready keeps count, as the state machine passes its answer
// back ($.check.spent), and before a turn that could pass the budget it answers Continue:
// the execution starts a fresh execution of the same machine, named after it (-c2, -c3, …),
// and ends. The state is in the store; the new execution's plan step picks up where this one
// stopped, and claims the lease this check handed over.

// historyBudget is the events an execution may plan to use: AWS's 25,000 less room for the
// ending (the Finished, rollback or Settle states) and for retries.
var historyBudget = 25000 - 1000 // a var so that a test can make executions short

// Events the states of stack.asl.json record, as AWS counts them: a state entered and
// exited (2), a Lambda task's attempt scheduled, started, ended (3), a Map's start and end
// (2) and each iteration's (2).
const (
	choiceEvents    = 2
	taskEvents      = 2 + 3
	waitEvents      = 2
	mapEvents       = 2 + 2
	iterationEvents = 2 + taskEvents
	// firstPlanEvents: the execution's start and end, Validate, Plan.
	firstPlanEvents = 2 + taskEvents + taskEvents
	// laterPlanEvents: a Choice and a Pass (OnFailure, MarkRollback; Finished,
	// MarkRecreate), then Plan.
	laterPlanEvents = choiceEvents + 2 + taskEvents
)

// turnEvents is what the turn an answer starts costs: Decide, then the Map of its
// applies (iterations of them) or the Wait, then the next check.
func turnEvents(iterations int) int {
	n := choiceEvents + taskEvents
	if iterations > 0 {
		return n + mapEvents + iterations*iterationEvents
	}
	return n + waitEvents
}

// planSpent is the events used by the time a plan step's check runs.
func planSpent(req OpRequest) int {
	if req.Spent == 0 {
		return firstPlanEvents
	}
	return req.Spent + laterPlanEvents
}

// budget counts the turn this answer starts, and answers Continue instead when it could
// pass the budget, handing the lease over to the execution that continues.
func (e *Engine) budget(ctx context.Context, req CheckRequest, resp *CheckResponse) error {
	iterations := len(resp.Startable)
	if req.Batched {
		iterations = len(resp.Batches)
	}
	resp.Spent = req.Spent + turnEvents(iterations)
	if resp.Spent <= historyBudget || resp.Done || req.Execution == "" || resp.Failure && resp.InFlight == 0 {
		return nil
	}
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	if st.Lease != nil {
		// The next execution's first check claims it; until then no other may.
		st.Lease.Execution = ""
		st.Lease.Until = e.now().Add(e.leaseFor()).UTC()
		if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
			return fmt.Errorf("stack %q: handing the lease to the next execution: %w", st.Name, err)
		}
	}
	resp.Continue, resp.ContinueAs = true, continuation(req.Execution)
	// The next execution's first check is handed no ids.
	e.tellDeferred(ctx, resp)
	e.event(ctx, st.Name, "", string(st.Status), "Continued",
		fmt.Sprintf("execution %s used about %d of Step Functions' 25,000 history events; %s continues", req.Execution, req.Spent, resp.ContinueAs))
	return nil
}

var continued = regexp.MustCompile(`-c(\d+)$`)

// continuation names the execution that continues exec: exec-c2, then -c3, within the
// 80 characters an execution name may have.
func continuation(exec string) string {
	n := 2
	if m := continued.FindStringSubmatch(exec); m != nil {
		k, _ := strconv.Atoi(m[1])
		n, exec = k+1, exec[:len(exec)-len(m[0])]
	}
	suffix := "-c" + strconv.Itoa(n)
	return exec[:min(len(exec), 80-len(suffix))] + suffix
}
