package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/local"
)

func (a *app) batchCmd() *cobra.Command {
	var f inputFlags
	var prefix string
	var count, concurrency int
	cmd := &cobra.Command{
		Use:   "batch FILE --count N --concurrency K --prefix P",
		Short: "Create N stacks from one template, K at a time (statemachine/batch.asl.json)",
		Long: "Validates the template once, records stacks P-0 … P-(N-1), each in its own namespace of that\n" +
			"name and reading its index as ${stack.index}, and runs the batch state machine: one stack\n" +
			"execution per instance, at most K at once. Exits 1 if any instance failed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if prefix == "" {
				return errors.New("--prefix is required: instances are named PREFIX-0, PREFIX-1, …")
			}
			req, err := a.request(args[0], &f)
			if err != nil {
				return err
			}
			e, err := a.engine()
			if err != nil {
				return err
			}
			start := time.Now()
			if a.remote != nil {
				return a.remoteBatch(cmd.Context(), req, prefix, count, concurrency, f.output, start)
			}
			in, err := e.SubmitBatch(cmd.Context(), engine.BatchRequest{TemplateRequest: req, Prefix: prefix, Count: count, Concurrency: concurrency, Context: a.global.context, Project: a.global.project})
			if err != nil {
				return a.batchRefused(err, args[0])
			}
			fmt.Fprintf(a.stderr, "batch %s: %d stack(s), %d at a time\n", in.Batch, len(in.Items), in.Concurrency)
			res, err := local.RunBatch(cmd.Context(), e, in)
			if err != nil {
				return err
			}
			b, err := e.Batch(cmd.Context(), in.Batch)
			if err != nil {
				return err
			}
			return a.printBatch(b, f.output, start, map[string]any{"transitions": res.Transitions})
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&prefix, "prefix", "", "instance name prefix: PREFIX-0, PREFIX-1, …")
	cmd.Flags().IntVar(&count, "count", 1, "number of instances")
	cmd.Flags().IntVar(&concurrency, "concurrency", 5, "instances in progress at once (at most 40)")
	return cmd
}

// printBatch shows a batch's end: each instance, the counts by status; an error when some
// instance did not complete.
func (a *app) printBatch(b *engine.BatchStatus, output string, start time.Time, extra map[string]any) error {
	if output == "json" {
		out := map[string]any{"batch": b, "seconds": time.Since(start).Seconds()}
		maps.Copy(out, extra)
		_ = a.printJSON(out)
	} else {
		for _, m := range b.Instances {
			fmt.Fprintf(a.stdout, "%-30s %-20s %s\n", m.Stack, m.Status, m.Reason)
		}
		var counts []string
		for _, st := range slices.Sorted(maps.Keys(b.Counts)) {
			counts = append(counts, fmt.Sprintf("%d %s", b.Counts[st], st))
		}
		fmt.Fprintf(a.stdout, "\nbatch %s: %s in %s\n", b.ID, strings.Join(counts, ", "), time.Since(start).Round(time.Millisecond))
	}
	if b.Counts[engine.StackCreateComplete] != b.Count {
		return fmt.Errorf("batch %s: %d of %d instances did not complete", b.ID, b.Count-b.Counts[engine.StackCreateComplete], b.Count)
	}
	return nil
}

// remoteBatch starts a batch on the server (POST /v1/batches) and waits for it to end.
func (a *app) remoteBatch(ctx context.Context, req engine.TemplateRequest, prefix string, count, concurrency int, output string, start time.Time) error {
	body := map[string]any{"template": req.Template, "file": req.File, "params": req.Params, "rawParams": req.RawParams,
		"prefix": prefix, "count": count, "concurrency": concurrency, "context": a.global.context, "project": a.global.project}
	var started struct {
		Batch       string `json:"batch"`
		Count       int    `json:"count"`
		Concurrency int    `json:"concurrency"`
	}
	if err := a.remote.call(ctx, "POST", "/v1/batches", body, &started); err != nil {
		return a.batchRefused(err, req.File)
	}
	fmt.Fprintf(a.stderr, "batch %s: %d stack(s), %d at a time\n", started.Batch, started.Count, started.Concurrency)
	for {
		var b engine.BatchStatus
		if err := a.remote.call(ctx, "GET", "/v1/batches/"+url.PathEscape(started.Batch), nil, &b); err != nil {
			return err
		}
		if b.Done {
			return a.printBatch(&b, output, start, nil)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting: %w; the batch goes on on the server", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// batchRefused is refused, and an invalid count, concurrency or prefix (InputError) exits 2.
func (a *app) batchRefused(err error, file string) error {
	var input *engine.InputError
	if errors.As(err, &input) {
		return &exitError{ExitInvalid, err}
	}
	return a.refused(err, file)
}
