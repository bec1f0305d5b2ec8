package local

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/engine"
)

// Runner starts operations and batches in this process and returns without waiting for
// them: what aos serve runs where the api function starts Step Functions executions
// (stepfn.Runner). Both implement api.Runner and pass shared/api/runnertest.
type Runner struct {
	Engine *engine.Engine
	Log    zerolog.Logger
	// Stack and Batch run one execution to its end; nil runs the state machines here
	// (Execute, RunBatch). Tests put recorders in their place.
	Stack func(ctx context.Context, name string, op engine.OpRequest) error
	Batch func(ctx context.Context, name string, in *engine.BatchInput) error

	ctx   context.Context
	wg    sync.WaitGroup
	mu    sync.Mutex
	names map[string]bool // every execution name started, as Step Functions keeps them
}

// NewRunner runs operations until ctx ends (an interrupted operation can be resumed).
func NewRunner(ctx context.Context, e *engine.Engine, log zerolog.Logger) *Runner {
	return &Runner{Engine: e, Log: log, ctx: ctx}
}

// first reports whether no execution of this name was started before, and takes the name.
// A name runs once, as on AWS: a repeated request's start is a no-op.
func (r *Runner) first(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		return false
	}
	if r.names == nil {
		r.names = map[string]bool{}
	}
	r.names[name] = true
	return true
}

// Start implements api.Runner: op runs in the background as execution name, unless an
// execution of that name was started already.
func (r *Runner) Start(_ context.Context, op engine.OpRequest, name string) error {
	if !r.first(name) {
		return nil
	}
	run := r.Stack
	if run == nil {
		run = func(ctx context.Context, name string, op engine.OpRequest) error {
			res, err := Execute(ctx, r.Engine, name, op)
			if err != nil {
				return err
			}
			return res.Err
		}
	}
	r.background(func() error { return run(r.context(), name, op) }, func(ev *zerolog.Event) {
		ev.Str("execution", name).Str("stack", op.Stack).Str("operation", op.Operation)
	}, "operation finished")
	return nil
}

// StartBatch implements api.Runner: the batch runs in the background as execution
// batch-<id>, as on AWS.
func (r *Runner) StartBatch(_ context.Context, in *engine.BatchInput) error {
	run := r.Batch
	if run == nil {
		run = func(ctx context.Context, _ string, in *engine.BatchInput) error {
			res, err := RunBatch(ctx, r.Engine, in)
			if err != nil {
				return err
			}
			return res.Err
		}
	}
	name := in.ExecutionName()
	if !r.first(name) {
		return nil
	}
	r.background(func() error { return run(r.context(), name, in) }, func(ev *zerolog.Event) {
		ev.Str("execution", name).Str("batch", in.Batch).Int("count", len(in.Items))
	}, "batch finished")
	return nil
}

func (r *Runner) context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// background runs fn, then logs how it ended.
func (r *Runner) background(fn func() error, fields func(*zerolog.Event), msg string) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		start := time.Now()
		err := fn()
		ev := r.Log.Info()
		if err != nil {
			ev = r.Log.Warn().Err(err)
		}
		fields(ev)
		ev.Dur("took_ms", time.Since(start)).Msg(msg)
	}()
}

// Wait waits for every operation started so far.
func (r *Runner) Wait() { r.wg.Wait() }
