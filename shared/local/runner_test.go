package local_test

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/api/runnertest"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/local"
)

// The embedded runner's executions are recorded and held until the test lets them finish, so
// the suite sees what it started and that Start did not wait. That they run the state machine
// for real is the business of the lifecycle tests.
func TestRunnerConformance(t *testing.T) {
	runnertest.Run(t, func(t *testing.T) runnertest.Harness {
		var mu sync.Mutex
		var got []runnertest.Execution
		release := make(chan struct{})
		record := func(machine, name string, input any) error {
			b, _ := json.Marshal(input)
			mu.Lock()
			got = append(got, runnertest.Execution{Machine: machine, Name: name, Input: b})
			mu.Unlock()
			<-release
			return nil
		}
		r := local.NewRunner(context.Background(), nil, zerolog.New(io.Discard))
		r.Stack = func(_ context.Context, name string, op engine.OpRequest) error {
			return record(runnertest.StackMachine, name, op)
		}
		r.Batch = func(_ context.Context, name string, in *engine.BatchInput) error {
			return record(runnertest.BatchMachine, name, in)
		}
		var once sync.Once
		return runnertest.Harness{
			Runner: r,
			Started: func() []runnertest.Execution {
				mu.Lock()
				defer mu.Unlock()
				return append([]runnertest.Execution(nil), got...)
			},
			Release: func() { once.Do(func() { close(release) }); r.Wait() },
		}
	})
}
