// Package stepfn starts the state machines on AWS Step Functions: what the api and trigger
// functions do where aos serve runs the embedded runner.
package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/aos-project/aos/shared/engine"
)

// API is what Runner needs of the Step Functions client.
type API interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// Runner starts executions of the stack and batch state machines.
type Runner struct {
	Client       API
	StackMachine string // ARN of statemachine/stack.asl.json as deployed
	BatchMachine string // ARN of statemachine/batch.asl.json as deployed
}

// Start implements api.Runner. The execution name makes a retried start idempotent: Step
// Functions refuses a second execution of the same name.
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
		return nil // started by an earlier try of this request
	}
	if err != nil {
		return fmt.Errorf("starting execution %s of %s: %w", name, machine, err)
	}
	return nil
}
