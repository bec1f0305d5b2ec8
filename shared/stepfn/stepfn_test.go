package stepfn

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/aos-project/aos/shared/api/runnertest"
	"github.com/aos-project/aos/shared/engine"
)

type fake struct{ got []*sfn.StartExecutionInput }

func (f *fake) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.got = append(f.got, in)
	if len(f.got) > 2 {
		return nil, &types.ExecutionAlreadyExists{Message: aws.String("exists")}
	}
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:x")}, nil
}

func TestStartRequests(t *testing.T) {
	f := &fake{}
	r := &Runner{Client: f, StackMachine: "arn:aws:states:eu-west-1:1:stateMachine:aos-stack", BatchMachine: "arn:aws:states:eu-west-1:1:stateMachine:aos-batch"}
	ctx := context.Background()
	if err := r.Start(ctx, engine.OpRequest{Stack: "shop", Operation: "create"}, "key-1"); err != nil {
		t.Fatal(err)
	}
	var op engine.OpRequest
	if err := json.Unmarshal([]byte(*f.got[0].Input), &op); err != nil || op.Stack != "shop" || *f.got[0].Name != "key-1" || *f.got[0].StateMachineArn != r.StackMachine {
		t.Fatalf("stack execution: %+v %v", f.got[0], err)
	}
	if err := r.StartBatch(ctx, &engine.BatchInput{Batch: "b", Concurrency: 5, Items: []engine.OpRequest{{Stack: "b-0", Operation: "create"}}}); err != nil {
		t.Fatal(err)
	}
	if *f.got[1].StateMachineArn != r.BatchMachine || *f.got[1].Name != "batch-b" {
		t.Fatalf("batch execution: %+v", f.got[1])
	}
	// A retried start of the same execution is not an error.
	if err := r.Start(ctx, engine.OpRequest{Stack: "shop", Operation: "create"}, "key-1"); err != nil {
		t.Fatalf("retried start: %v", err)
	}
}

// stepFunctions is a fake of StartExecution as AWS documents it for standard workflows
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html):
// an execution name is unique per state machine for 90 days, running or closed; starting a
// name again with the same input while it runs succeeds and returns the same execution;
// with another input, or once it has closed, the call fails with ExecutionAlreadyExists.
type stepFunctions struct {
	mu   sync.Mutex
	runs []runnertest.Execution
	open map[string]bool // by machine/name: still running
}

func (f *stepFunctions) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	machine := map[string]string{stackARN: runnertest.StackMachine, batchARN: runnertest.BatchMachine}[aws.ToString(in.StateMachineArn)]
	name, input := aws.ToString(in.Name), aws.ToString(in.Input)
	arn := aws.String("arn:aws:states:eu-west-1:1:execution:" + machine + ":" + name)
	for _, x := range f.runs {
		if x.Machine != machine || x.Name != name {
			continue
		}
		if f.open[machine+"/"+name] && string(x.Input) == input {
			return &sfn.StartExecutionOutput{ExecutionArn: arn}, nil
		}
		return nil, &types.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: '" + *arn + "'")}
	}
	f.runs = append(f.runs, runnertest.Execution{Machine: machine, Name: name, Input: json.RawMessage(input)})
	if f.open == nil {
		f.open = map[string]bool{}
	}
	f.open[machine+"/"+name] = true
	return &sfn.StartExecutionOutput{ExecutionArn: arn}, nil
}

// close ends every execution, as if each had run to its end.
func (f *stepFunctions) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.open = nil
}

const (
	stackARN = "arn:aws:states:eu-west-1:1:stateMachine:aos-stack"
	batchARN = "arn:aws:states:eu-west-1:1:stateMachine:aos-batch"
)

func TestRunnerConformance(t *testing.T) {
	runnertest.Run(t, func(t *testing.T) runnertest.Harness {
		f := &stepFunctions{}
		return runnertest.Harness{
			Runner: &Runner{Client: f, StackMachine: stackARN, BatchMachine: batchARN},
			Started: func() []runnertest.Execution {
				f.mu.Lock()
				defer f.mu.Unlock()
				return append([]runnertest.Execution(nil), f.runs...)
			},
			Release: f.close,
		}
	})
}
