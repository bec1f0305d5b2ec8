package stepfn

import (
	"context"
	"encoding/json"
	"strings"
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

func (f *fake) DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	return nil, &types.ExecutionDoesNotExist{Message: aws.String("none")}
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

// stepFunctions is a fake of StartExecution and DescribeExecution as AWS documents them for
// standard workflows
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html):
// an execution name is unique per state machine for 90 days, running or closed; starting a
// name again with the same input while it runs succeeds and returns the same execution;
// with another input, or once it has closed, the call fails with ExecutionAlreadyExists.
// DescribeExecution
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html)
// answers RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED, and ExecutionDoesNotExist for an
// ARN it never started.
type stepFunctions struct {
	mu     sync.Mutex
	runs   []runnertest.Execution
	open   map[string]bool                  // by machine/name: still running
	closed map[string]types.ExecutionStatus // by machine/name: how it ended
}

func (f *stepFunctions) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	machine, _ := strings.CutPrefix(aws.ToString(in.StateMachineArn), "arn:aws:states:eu-west-1:1:stateMachine:")
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
	for k := range f.open {
		f.end(k, types.ExecutionStatusSucceeded)
	}
}

// abort ends one execution of the stack machine as StopExecution would.
func (f *stepFunctions) abort(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.end(runnertest.StackMachine+"/"+name, types.ExecutionStatusAborted)
}

func (f *stepFunctions) end(key string, status types.ExecutionStatus) {
	if !f.open[key] {
		return
	}
	delete(f.open, key)
	if f.closed == nil {
		f.closed = map[string]types.ExecutionStatus{}
	}
	f.closed[key] = status
}

func (f *stepFunctions) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := aws.ToString(in.ExecutionArn)
	rest, ok := strings.CutPrefix(arn, "arn:aws:states:eu-west-1:1:execution:")
	machine, name, _ := strings.Cut(rest, ":")
	key := machine + "/" + name
	switch {
	case !ok:
		return nil, &types.InvalidArn{Message: aws.String("Invalid Arn: '" + arn + "'")}
	case f.open[key]:
		return &sfn.DescribeExecutionOutput{ExecutionArn: aws.String(arn), Name: aws.String(name), Status: types.ExecutionStatusRunning}, nil
	case f.closed[key] != "":
		return &sfn.DescribeExecutionOutput{ExecutionArn: aws.String(arn), Name: aws.String(name), Status: f.closed[key]}, nil
	}
	return nil, &types.ExecutionDoesNotExist{Message: aws.String("Execution Does Not Exist: '" + arn + "'")}
}

const (
	stackARN = "arn:aws:states:eu-west-1:1:stateMachine:" + runnertest.StackMachine
	batchARN = "arn:aws:states:eu-west-1:1:stateMachine:" + runnertest.BatchMachine
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
