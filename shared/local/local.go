// Package local runs stack operations in one process: the state machine definition AWS Step
// Functions runs, executed by the embedded runner, with its Task resources bound to the
// engine's handlers through aws-lambda-go's handler adapter (JSON in, JSON out, exactly what
// the Lambda functions see).
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/statemachine"
)

// The resource placeholders in statemachine/*.asl.json; infra/ substitutes Lambda ARNs.
const (
	ResValidate   = "${ValidateFunctionArn}"
	ResPlan       = "${PlanFunctionArn}"
	ResApplyNode  = "${ApplyNodeFunctionArn}"
	ResCheckReady = "${CheckReadyFunctionArn}"
	ResSettle     = "${SettleFunctionArn}"
	// ResStartExecution starts an execution without waiting for it: how an execution near
	// the history quota hands over to the next (engine/continue.go).
	ResStartExecution = "arn:aws:states:::states:startExecution"
	// StackMachineID is the stack machine's ARN as its executions see it here.
	StackMachineID = "arn:aws:states:local:000000000000:stateMachine:aos-stack"
)

// continuation is an execution a running one started: its name and input.
type continuation struct {
	name  string
	input []byte
}

// starter is the startExecution resource: it records the execution to run once this one
// has ended, as Step Functions starts it without waiting.
func starter(next **continuation) statemachine.Handler {
	return func(_ context.Context, payload []byte) ([]byte, error) {
		var p struct {
			Name  string          `json:"Name"`
			Input json.RawMessage `json:"Input"`
		}
		if err := json.Unmarshal(payload, &p); err != nil || p.Name == "" {
			return nil, &statemachine.Error{Name: "States.Runtime", Cause: fmt.Sprintf("startExecution: %s", payload)}
		}
		*next = &continuation{name: p.Name, input: p.Input}
		return json.Marshal(map[string]any{"ExecutionArn": "arn:aws:states:local:000000000000:execution:aos-stack:" + p.Name, "StartDate": time.Now().UTC().Format(time.RFC3339Nano)})
	}
}

func adapt(fn any) statemachine.Handler {
	h := lambda.NewHandler(fn)
	return h.Invoke
}

// Result is the outcome of one operation.
type Result struct {
	Transitions int64
	// Invocations counts the calls of each function (what Lambda would bill on AWS).
	Invocations map[string]int64
	History     []statemachine.Event
	// Err is the execution's failure (a *statemachine.Error for Fail states), nil on success.
	Err error
	// Output is the execution's output (JSON), when it succeeded.
	Output json.RawMessage
	// Executions, HistoryEvents (the most in any one execution) and MaxPayloadBytes (the
	// largest state input or output) are the figures AWS's quotas apply to.
	Executions      int
	HistoryEvents   int64
	MaxPayloadBytes int64
}

// Run executes one operation on a stack and returns when the state machine ends. A failed
// update rolls back; RunOp lets the caller keep it instead.
func Run(ctx context.Context, e *engine.Engine, stack, operation string) (*Result, error) {
	return RunOp(ctx, e, engine.OpRequest{Stack: stack, Operation: operation})
}

// RunOp executes one operation described by req.
func RunOp(ctx context.Context, e *engine.Engine, req engine.OpRequest) (*Result, error) {
	return Execute(ctx, e, req.Stack+"-"+req.Operation, req)
}

// Execute is RunOp as an execution of the given name.
func Execute(ctx context.Context, e *engine.Engine, name string, req engine.OpRequest) (*Result, error) {
	return execute(ctx, e, name, req, nil)
}

// execute is Execute with some functions replaced (tests put failures in their place).
func execute(ctx context.Context, e *engine.Engine, name string, req engine.OpRequest, replaced map[string]statemachine.Handler) (*Result, error) {
	fns := e.Functions()
	var mu sync.Mutex
	calls := map[string]int64{}
	counted := func(name string) statemachine.Handler {
		h := adapt(fns[name])
		if r := replaced[name]; r != nil {
			h = r
		}
		return func(ctx context.Context, payload []byte) ([]byte, error) {
			mu.Lock()
			calls[name]++
			mu.Unlock()
			return h(ctx, payload)
		}
	}
	var next *continuation
	m, err := statemachine.Load(statemachine.StackDefinition, map[string]statemachine.Handler{
		ResValidate:       counted(engine.FnValidate),
		ResPlan:           counted(engine.FnPlan),
		ResApplyNode:      counted(engine.FnApplyNode),
		ResCheckReady:     counted(engine.FnCheckReady),
		ResSettle:         counted(engine.FnSettle),
		ResStartExecution: starter(&next),
	})
	if err != nil {
		return nil, fmt.Errorf("loading the state machine: %w", err)
	}
	m.ID = StackMachineID
	input, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	res := &Result{Invocations: calls}
	var out []byte
	var runErr error
	// An execution that continues in another ends; the operation ends with the last one.
	for {
		x := m.NewExecution(name)
		next = nil
		out, runErr = x.Run(ctx, input)
		res.Executions++
		res.Transitions += x.Transitions()
		res.History = append(res.History, x.History()...)
		res.HistoryEvents = max(res.HistoryEvents, x.HistoryEvents())
		res.MaxPayloadBytes = max(res.MaxPayloadBytes, x.MaxPayload())
		if runErr != nil || next == nil {
			break
		}
		name, input = next.name, next.input
	}
	var se *statemachine.Error
	if errors.As(runErr, &se) && ctx.Err() == nil {
		// What no Catch takes (States.Runtime and the like) ends the stack here as an
		// EventBridge rule ends it on AWS; a stack its Settle step settled is left as it is.
		// An interrupted run is not an ending: `aos resume` continues it.
		ended := req
		ended.Execution = name
		if _, err := e.SettleEnded(context.WithoutCancel(ctx), ended, se.Name, se.Cause); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Str("stack", req.Stack).Msg("settling an execution that failed")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	res.Err, res.Output = runErr, out
	return res, nil
}

// BatchResult is the outcome of one batch.
type BatchResult struct {
	Transitions int64
	Results     []map[string]any // one per instance, in order
	Err         error
}

// RunBatch executes statemachine/batch.asl.json: each instance is a child execution of the
// stack state machine (the startExecution.sync:2 resource), run in this process, at most
// in.Concurrency at once.
func RunBatch(ctx context.Context, e *engine.Engine, in *engine.BatchInput) (*BatchResult, error) {
	child := func(ctx context.Context, payload []byte) ([]byte, error) {
		var p struct {
			Input engine.OpRequest `json:"Input"`
		}
		if err := json.Unmarshal(payload, &p); err != nil {
			return nil, err
		}
		name := p.Input.Stack + "-" + p.Input.Operation
		start := time.Now().UTC()
		res, err := RunOp(ctx, e, p.Input)
		if err != nil {
			return nil, err
		}
		// What startExecution.sync:2 returns: the child's DescribeExecution, its input and
		// output as JSON
		// (https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
		desc := map[string]any{
			"ExecutionArn": "arn:aws:states:local:000000000000:execution:aos-stack:" + name, "Name": name,
			"StateMachineArn": "arn:aws:states:local:000000000000:stateMachine:aos-stack", "Input": p.Input,
			"StartDate": start.Format(time.RFC3339Nano), "StopDate": time.Now().UTC().Format(time.RFC3339Nano),
		}
		if res.Err != nil {
			// The task fails with States.TaskFailed, the description of the failed child as
			// its cause.
			var se *statemachine.Error
			desc["Status"], desc["Error"], desc["Cause"] = "FAILED", "States.Runtime", res.Err.Error()
			if errors.As(res.Err, &se) {
				desc["Error"], desc["Cause"] = se.Name, se.Cause
			}
			cause, _ := json.Marshal(desc)
			return nil, &statemachine.Error{Name: "States.TaskFailed", Cause: string(cause)}
		}
		desc["Status"], desc["Output"] = "SUCCEEDED", res.Output
		return json.Marshal(desc)
	}
	m, err := statemachine.Load(statemachine.BatchDefinition, map[string]statemachine.Handler{statemachine.StartStackSync: child})
	if err != nil {
		return nil, fmt.Errorf("loading the batch state machine: %w", err)
	}
	input, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	x := m.NewExecution(in.ExecutionName())
	out, runErr := x.Run(ctx, input)
	res := &BatchResult{Transitions: x.Transitions(), Err: runErr}
	var doc struct {
		Results []map[string]any `json:"results"`
	}
	if runErr == nil && json.Unmarshal(out, &doc) == nil {
		res.Results = doc.Results
	}
	return res, nil
}
