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
	if !st.Status.InProgress() || e.heldElsewhere(st) {
		return resp, nil
	}
	st.Status = st.Status.Outcome(false)
	st.Reason = fmt.Sprintf("%s failed: %s", operationName(req.Operation, st.Operation), msg)
	if st.Status == StackDeleteFailed {
		// A delete records no revision of its own.
		st.UpdatedAt, st.Lease = e.now().UTC(), nil
		if err := e.Store.PutStack(ctx, st, st.Version); err != nil {
			return resp, fmt.Errorf("stack %q: %w", st.Name, err)
		}
		e.event(ctx, st.Name, "", string(st.Status), "OperationFailed", st.Reason)
	} else if err := e.settleStackAs(ctx, st, "OperationFailed"); err != nil {
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
