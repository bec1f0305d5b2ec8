package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// SettleRequest is the state machine's last step when a function failed: the error its Catch
// recorded (Error is the error's name, Cause its message; on AWS a Lambda error's Cause is
// the JSON {"errorMessage", "errorType", …}).
type SettleRequest struct {
	Stack     string `json:"stack"`
	Operation string `json:"operation"`
	// Execution is the execution that failed: a stack another execution has taken over since
	// is not settled by this one's failure.
	Execution string `json:"execution,omitempty"`
	Error     struct {
		Error string `json:"Error"`
		Cause string `json:"Cause"`
	} `json:"error"`
}

// SettleResponse is how the stack stands after settling, and the cause the execution fails
// with: the function's own message, secret values redacted.
type SettleResponse struct {
	Status StackStatus `json:"status"`
	Cause  string      `json:"cause"`
}

// Settle ends an operation a function failed: a stack still in progress under this
// operation is recorded *_FAILED with the error as its reason, its lease released and an
// event written, so no stack is left in progress by a failure the state machine caught. A
// stack the failed call never took (a refused rollback, a run refused as busy) is left as it
// is.
func (e *Engine) Settle(ctx context.Context, req SettleRequest) (SettleResponse, error) {
	msg := causeMessage(req.Error.Cause)
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return SettleResponse{Cause: msg}, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	if _, red, err := e.inputs(st); err == nil {
		msg = red.String(msg)
	} else {
		msg = "(the error cannot be shown: the stack's secret inputs cannot be opened to redact it)"
	}
	if msg == "" {
		msg = req.Error.Error
	}
	resp := SettleResponse{Status: st.Status, Cause: msg}
	if req.Error.Error == "BusyError" {
		// Another operation holds the stack: this one never began. On AWS that is how a
		// scheduled rebuild that fires during an update ends (API requests are refused
		// before they start anything).
		reason := "OperationSkipped"
		if req.Operation == OpRebuild {
			reason = "ScheduledRebuildSkipped"
		}
		e.event(ctx, st.Name, "", string(st.Status), reason, fmt.Sprintf("%s not started: %s", req.Operation, msg))
		return resp, nil
	}
	if !st.Status.InProgress() || e.heldElsewhere(ctx, st, req.Execution) {
		return resp, nil
	}
	st.Status = st.Status.Outcome(false)
	st.Reason = fmt.Sprintf("%s failed: %s", operationName(req.Operation, st.Operation), msg)
	if st.Status == StackDeleteFailed {
		// A delete records no revision of its own.
		st.UpdatedAt, st.Lease, st.CancelRequested = e.now().UTC(), nil, false
		if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
			return resp, fmt.Errorf("stack %q: %w", st.Name, err)
		}
		e.event(ctx, st.Name, "", string(st.Status), "OperationFailed", st.Reason)
	} else if err := e.settleStack(ctx, st, "OperationFailed", nil); err != nil {
		return resp, err
	}
	resp.Status = st.Status
	return resp, nil
}

func operationName(asked, recorded string) string {
	if recorded != "" {
		return recorded
	}
	return asked
}

// causeMessage is the message in a Catch's Cause: a Lambda error's errorMessage on AWS, the
// text itself from the embedded runner.
func causeMessage(cause string) string {
	var lambdaErr struct {
		Message string `json:"errorMessage"`
	}
	if strings.HasPrefix(strings.TrimSpace(cause), "{") && json.Unmarshal([]byte(cause), &lambdaErr) == nil && lambdaErr.Message != "" {
		return lambdaErr.Message
	}
	return cause
}

// executionStatus is the detail of Step Functions' "Step Functions Execution Status Change"
// event on EventBridge, as AWS documents it
// (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html). input is the
// execution's input as a JSON string, left out when it is too large (inputDetails.included).
type executionStatus struct {
	ExecutionArn string `json:"executionArn"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	Input        string `json:"input"`
	InputDetails struct {
		Included *bool `json:"included"`
	} `json:"inputDetails"`
	Error string `json:"error"`
	Cause string `json:"cause"`
}

// SettleEvent is the settle function's handler: the state machine's own Settle step, or an
// EventBridge event saying an execution of the stack state machine ended FAILED, TIMED_OUT or
// ABORTED, which is how a failure no Catch can take (States.Runtime,
// States.DataLimitExceeded, the execution's own timeout, an abort) still settles its stack.
func (e *Engine) SettleEvent(ctx context.Context, raw json.RawMessage) (SettleResponse, error) {
	var probe struct {
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return SettleResponse{}, fmt.Errorf("settle: %w", err)
	}
	if probe.DetailType == "" {
		var req SettleRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return SettleResponse{}, fmt.Errorf("settle: %w", err)
		}
		return e.Settle(ctx, req)
	}
	if probe.DetailType != "Step Functions Execution Status Change" {
		return SettleResponse{}, fmt.Errorf("settle: unexpected event %q", probe.DetailType)
	}
	var d executionStatus
	if err := json.Unmarshal(probe.Detail, &d); err != nil {
		return SettleResponse{}, fmt.Errorf("settle: event detail: %w", err)
	}
	var op OpRequest
	if d.InputDetails.Included != nil && !*d.InputDetails.Included || json.Unmarshal([]byte(d.Input), &op) != nil || op.Stack == "" {
		return SettleResponse{}, fmt.Errorf("settle: execution %s ended %s, but its input does not name a stack (over the event's size limit?): `aos status` and `aos resume` act on the stack by name", d.ExecutionArn, d.Status)
	}
	name, cause := d.Error, d.Cause
	switch d.Status {
	case "FAILED":
	case "TIMED_OUT":
		name, cause = "States.Timeout", "the execution ran longer than the state machine's TimeoutSeconds"
	case "ABORTED":
		name, cause = "ExecutionAborted", "the execution was stopped from outside (StopExecution)"
	default:
		return SettleResponse{}, nil // running or succeeded: nothing to settle
	}
	op.Execution = d.Name
	return e.SettleEnded(ctx, op, name, cause)
}

// SettleEnded settles the stack of an execution that ended without settling it. A stack its
// Settle step already settled, or one another operation holds (the execution was refused as
// busy), is left as it is.
func (e *Engine) SettleEnded(ctx context.Context, op OpRequest, errName, cause string) (SettleResponse, error) {
	if errName == "BusyError" {
		return SettleResponse{Cause: causeMessage(cause)}, nil
	}
	var req SettleRequest
	req.Stack, req.Operation, req.Execution, req.Error.Error, req.Error.Cause = op.Stack, op.Operation, op.Execution, errName, cause
	return e.Settle(ctx, req)
}
