// Package stepfn starts the state machines on AWS Step Functions: what the api and trigger
// functions do where aos serve runs the embedded runner.
package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/aos-project/aos/shared/engine"
)

// API is what Runner needs of the Step Functions client.
type API interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// Runner starts executions of the stack and batch state machines.
type Runner struct {
	Client       API
	StackMachine string // ARN of statemachine/stack.asl.json as deployed
	BatchMachine string // ARN of statemachine/batch.asl.json as deployed
}

// Start implements api.Runner. The execution name makes a retried start idempotent: Step
// Functions starts a name once. A name that ran already (ExecutionAlreadyExists, which AWS
// answers for a closed execution of that name too) starts nothing, as on the embedded
// runner: whether to run the operation again under a new name is the caller's decision,
// made with Running (the API takes over the lease of a closed execution and starts anew).
func (r *Runner) Start(ctx context.Context, op engine.OpRequest, name string) error {
	return r.start(ctx, r.StackMachine, name, op)
}

// StartBatch implements api.Runner.
func (r *Runner) StartBatch(ctx context.Context, in *engine.BatchInput) error {
	return r.start(ctx, r.BatchMachine, in.ExecutionName(), in)
}

func (r *Runner) start(ctx context.Context, machine, name string, input any) error {
	data, err := json.Marshal(input)
	if err != nil {
		return err
	}
	_, err = r.Client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(string(data))})
	var exists *types.ExecutionAlreadyExists
	if errors.As(err, &exists) {
		return nil // started by an earlier try of this request, running or closed
	}
	if err != nil {
		return fmt.Errorf("starting execution %s of %s: %w", name, machine, err)
	}
	return nil
}

// Running implements engine.ExecutionChecker: whether the stack machine's execution of this
// name still runs, by DescribeExecution. An execution AWS does not know never ran.
func (r *Runner) Running(ctx context.Context, name string) (bool, error) {
	arn, err := executionARN(r.StackMachine, name)
	if err != nil {
		return false, err
	}
	out, err := r.Client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	var missing *types.ExecutionDoesNotExist
	if errors.As(err, &missing) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describing execution %s: %w", arn, err)
	}
	return out.Status == types.ExecutionStatusRunning, nil
}

// executionARN is the ARN of a standard workflow's execution: the state machine's ARN with
// "stateMachine" replaced by "execution" and the execution's name appended
// (the executionArn of https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
func executionARN(machine, name string) (string, error) {
	before, after, ok := strings.Cut(machine, ":stateMachine:")
	if !ok {
		return "", fmt.Errorf("%q is not a state machine ARN", machine)
	}
	return before + ":execution:" + after + ":" + name, nil
}
