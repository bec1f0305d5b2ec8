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

// recorder is a Step Functions client that records StartExecution calls.
type recorder struct {
	mu  sync.Mutex
	got []runnertest.Execution
}

func (r *recorder) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	machine := map[string]string{stackARN: runnertest.StackMachine, batchARN: runnertest.BatchMachine}[aws.ToString(in.StateMachineArn)]
	r.got = append(r.got, runnertest.Execution{Machine: machine, Name: aws.ToString(in.Name), Input: json.RawMessage(aws.ToString(in.Input))})
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:aws:states:eu-west-1:1:execution:" + aws.ToString(in.Name))}, nil
}

const (
	stackARN = "arn:aws:states:eu-west-1:1:stateMachine:aos-stack"
	batchARN = "arn:aws:states:eu-west-1:1:stateMachine:aos-batch"
)

func TestRunnerConformance(t *testing.T) {
	runnertest.Run(t, func(t *testing.T) runnertest.Harness {
		rec := &recorder{}
		return runnertest.Harness{
			Runner: &Runner{Client: rec, StackMachine: stackARN, BatchMachine: batchARN},
			Started: func() []runnertest.Execution {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				return append([]runnertest.Execution(nil), rec.got...)
			},
			Release: func() {},
		}
	})
}
