package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/local"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/store/metered"
	"github.com/aos-project/aos/shared/template"
	"github.com/aos-project/aos/shared/view"
	"github.com/aos-project/aos/shared/wiring/embedded"
	"github.com/aos-project/aos/statemachine"
)

// globalFlags say where state lives and which cluster to use.
type globalFlags struct {
	state, kubeconfig, context string
	projects, project          string
	// server, when set, is a remote AOS API the stack commands drive (tokenFile, or
	// $AOS_API_TOKEN, authenticates; sigv4 signs for an AWS API).
	server, tokenFile string
	sigv4             bool
}

func (g *globalFlags) register(root *cobra.Command) {
	root.PersistentFlags().StringVar(&g.state, "state", "", "state file (default $AOS_STATE, else "+embedded.DefaultStatePath()+")")
	root.PersistentFlags().StringVar(&g.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, ~/.kube/config, or in-cluster)")
	root.PersistentFlags().StringVar(&g.context, "context", "", "kube context (default: the kubeconfig's current context)")
	root.PersistentFlags().StringVar(&g.projects, "projects", "", "projects file: who may do what (default $AOS_PROJECTS; without one, every stack is in the permissive \"default\" project; docs/projects.md)")
	root.PersistentFlags().StringVar(&g.project, "project", "", "the project a new stack belongs to (default \"default\")")
	root.PersistentFlags().StringVar(&g.server, "server", os.Getenv("AOS_SERVER"), "drive a remote AOS API (aos serve, or the AWS deployment's URL) instead of the embedded engine (default $AOS_SERVER)")
	root.PersistentFlags().StringVar(&g.tokenFile, "token-file", "", "file of `TOKEN [IDENTITY]` lines: with --server, the first token authenticates (default $AOS_API_TOKEN); for aos serve, the tokens it accepts")
	root.PersistentFlags().BoolVar(&g.sigv4, "sigv4", false, "with --server, sign requests with AWS SigV4 (automatic for an execute-api URL)")
}

// engine opens the embedded engine for the command; Main closes it when the command ends.
func (a *app) engine() (*engine.Engine, error) {
	if a.global.server != "" {
		// The server's state, read through its API; operations go to its routes.
		if a.remote == nil {
			r, err := newRemote(context.Background(), a.global.server, a.global.tokenFile, a.global.sigv4)
			if err != nil {
				return nil, err
			}
			a.remote = r
		}
		return &engine.Engine{Store: remoteStore{a.remote}}, nil
	}
	e, closeFn, err := embedded.Engine(embedded.Options{StatePath: a.global.state, Kubeconfig: a.global.kubeconfig, Context: a.global.context})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, closeFn)
	if e.Projects, err = a.projects(); err != nil {
		return nil, err
	}
	a.store = metered.Wrap(e.Store)
	e.Store = a.store
	return e, nil
}

// projects loads --projects (or $AOS_PROJECTS); nil when neither is set: the default
// project only.
func (a *app) projects() (engine.Projects, error) {
	file := cmp.Or(a.global.projects, os.Getenv("AOS_PROJECTS"))
	if file == "" {
		return nil, nil
	}
	set, err := project.Load(file)
	if err != nil {
		return nil, &exitError{ExitInvalid, err}
	}
	return set, nil
}

// policy refuses, with exit 2 and the problems printed, a template the project does not
// allow; it checks nothing without a projects file.
func (a *app) policy(req engine.TemplateRequest, ns string) error {
	set, err := a.projects()
	if err != nil || set == nil {
		return err
	}
	probs, err := engine.CheckProject(set, a.global.project, req, ns, a.global.context)
	if err != nil || len(probs) == 0 {
		return err
	}
	return &engine.PolicyError{Project: cmp.Or(a.global.project, project.DefaultName), Problems: probs}
}

// cost is what one operation cost, in the units AWS bills: state transitions, function
// invocations, store requests.
type cost struct {
	Transitions int64            `json:"stateTransitions"`
	Invocations map[string]int64 `json:"invocations"`
	StoreReads  int64            `json:"storeReads"`
	StoreWrites int64            `json:"storeWrites"`
}

func (a *app) stackCommands() []*cobra.Command {
	return []*cobra.Command{a.upCmd(), a.downCmd(), a.rollbackCmd(), a.rebuildCmd(), a.copyCmd(), a.resumeCmd(), a.cancelCmd(), a.continueRollbackCmd(),
		a.statusCmd(), a.listCmd(), a.eventsCmd(), a.logsCmd(), a.outputsCmd(), a.historyCmd(), a.diffCmd(), a.driftCmd(), a.purgeCmd(), a.serveCmd(), a.batchCmd()}
}

func (a *app) upCmd() *cobra.Command {
	var f inputFlags
	var stack, ns string
	var timeout time.Duration
	var onFailure string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "up FILE",
		Short: "Create or update a stack from a template and wait until every node is READY",
		Long: "Validates the template and inputs, records the stack, and runs the stack state machine\n" +
			"(statemachine/stack.asl.json) in this process: every node starts as soon as its own\n" +
			"dependencies are READY. On an existing stack it updates: changed nodes are re-applied,\n" +
			"unchanged ones left alone, removed ones deleted last in reverse order. Inputs not passed\n" +
			"keep the stack's current values, secrets included (--reset-inputs: the defaults).\n" +
			"Prints each node's transitions, then the stack's outputs.\n" +
			"Exits 0 when the stack is READY, 1 when it failed, 2 when the input is invalid.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dryRun {
				plan, err := a.plan(cmd, args[0], &f, stack, ns, true)
				if err != nil {
					return err
				}
				return a.printPlan(plan, f.output)
			}
			req, err := a.request(args[0], &f)
			if err != nil {
				return err
			}
			e, err := a.engine()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if onFailure != "rollback" && onFailure != "keep" {
				return fmt.Errorf("--on-failure %q: expected rollback or keep", onFailure)
			}
			return a.submitAndOperate(ctx, e, engine.CreateRequest{Context: a.global.context, Project: a.global.project, PlanRequest: engine.PlanRequest{TemplateRequest: req, Stack: stack, Namespace: ns, ResetInputs: f.reset}}, onFailure, f.output)
		},
	}
	f.register(cmd, true)
	f.registerReset(cmd)
	cmd.Flags().StringVar(&stack, "stack", "", "stack name (default: the template's name)")
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "namespace for the stack's objects (default: the stack name)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (e.g. 10m); the stack can be resumed")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change (as aos plan does) and change nothing")
	cmd.Flags().StringVar(&onFailure, "on-failure", "rollback", "when an update fails: rollback (to the last good revision) or keep (for inspection)")
	return cmd
}

// operate runs one operation through the state machine, printing progress, then the result.
func (a *app) operate(ctx context.Context, e *engine.Engine, req engine.OpRequest, output string) error {
	if a.remote != nil {
		from, err := a.lastSeq(ctx, e, req.Stack)
		if err != nil {
			return err
		}
		if err := a.remoteStart(ctx, req.Stack, req.Operation); err != nil {
			return err
		}
		return a.remoteFollow(ctx, e, req.Stack, req.Operation, req.OnFailure, output, from)
	}
	stack, op := req.Stack, req.Operation
	start := time.Now()
	var stop func()
	if w, h, tty := terminal(a.stdout); tty && output != "json" {
		stop = a.live(ctx, e, stack, w, h)
	} else {
		stop = a.follow(ctx, e, stack, output != "json")
	}
	res, err := local.RunOp(ctx, e, req)
	stop()
	if err != nil {
		return err
	}
	st, gerr := e.Store.GetStack(context.WithoutCancel(ctx), stack)
	if gerr != nil {
		return gerr
	}
	took := time.Since(start).Round(time.Millisecond)
	nodes, _ := e.Store.ListNodes(context.WithoutCancel(ctx), stack)
	if output == "json" {
		c := cost{Transitions: res.Transitions, Invocations: res.Invocations}
		if a.store != nil {
			// Every request of the command, from the recording of the operation (Submit's
			// writes: the stack record, its revision, its first event) to the reads above.
			c.StoreReads, c.StoreWrites = a.store.Counts()
		}
		_ = a.printJSON(map[string]any{"stack": view.StackOf(st), "nodes": view.Nodes(nodes), "seconds": took.Seconds(), "transitions": res.Transitions, "cost": c,
			// The figures Step Functions' quotas apply to: 25,000 events per execution, 256 KiB
			// per state input or output.
			"executions": res.Executions, "maxHistoryEvents": res.HistoryEvents, "maxPayloadBytes": res.MaxPayloadBytes})
	} else {
		fmt.Fprintf(a.stdout, "\nstack %s: %s in %s (%d node(s), %d state transitions)\n", st.Name, st.Status, took, len(nodes), res.Transitions)
		if st.Reason != "" {
			fmt.Fprintf(a.stdout, "reason: %s\n", st.Reason)
		}
		a.printOutputs(st)
	}
	if res.Err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped: %w; `aos resume %s` continues", ctx.Err(), stack)
		}
		// A function's own message, as the settle step passed it on, not the state's name.
		var se *statemachine.Error
		if errors.As(res.Err, &se) && se.Cause != "" {
			return fmt.Errorf("%s %s failed: %s", op, stack, se.Cause)
		}
		return fmt.Errorf("%s %s failed: %v", op, stack, res.Err)
	}
	return nil
}

// follow prints the stack's events as they are appended until stop is called.
func (a *app) follow(ctx context.Context, e *engine.Engine, stack string, enabled bool) (stop func()) {
	return a.followFrom(ctx, e, stack, enabled, -1)
}

// followFrom is follow from the event after sequence number from (-1: from the event that
// started the operation, the last one now).
func (a *app) followFrom(ctx context.Context, e *engine.Engine, stack string, enabled bool, from int64) (stop func()) {
	if !enabled {
		return func() {}
	}
	after := from
	if from < 0 {
		evs, _ := e.Store.ListEvents(ctx, stack, 0, 0)
		after = 0
		if len(evs) > 0 {
			after = evs[len(evs)-1].Seq
			if st, err := e.Store.GetStack(ctx, stack); err == nil && st.Status.InProgress() {
				after-- // submitted already: show the event that started this operation
			}
		}
	}
	flush := func() {
		evs, err := e.Store.ListEvents(context.WithoutCancel(ctx), stack, after, 0)
		if err != nil {
			return
		}
		for _, ev := range evs {
			writeEvent(a.stdout, ev)
			after = ev.Seq
		}
	}
	return every(100*time.Millisecond, flush)
}

// every calls fn at each tick until stop is called, and once more as it stops, so the last
// state is always shown.
func every(d time.Duration, fn func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				fn()
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func writeEvent(w io.Writer, ev *engine.Event) {
	node := ev.Node
	if node == "" {
		node = "(stack)"
	}
	msg := ev.Reason
	if ev.Message != "" {
		if msg != "" {
			msg += ": "
		}
		msg += ev.Message
	}
	fmt.Fprintf(w, "%s  %-24s %-20s %s\n", ev.Time.Local().Format("15:04:05.000"), node, ev.Status, msg)
}

func (a *app) downCmd() *cobra.Command {
	return a.opCmd("down NAME", "Delete a stack in reverse dependency order (deletePolicy: retain keeps objects)", engine.OpDelete)
}

func (a *app) rollbackCmd() *cobra.Command {
	var revision int
	cmd := a.opCmd("rollback NAME", "Return a stack to its last good revision, or to any earlier one with --revision", engine.OpRollback)
	cmd.Long = "Without --revision: undoes a failed update, returning to the last revision that completed.\n" +
		"With --revision N: updates the stack to revision N's template and inputs (see `aos history`);\n" +
		"if that update fails, it is rolled back like any other."
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		output := cmd.Flags().Lookup("output").Value.String()
		e, err := a.engine()
		if err != nil {
			return err
		}
		if revision == 0 {
			if a.remote == nil {
				// Begun before it runs, as the API begins it: a stack with nothing to roll
				// back is refused, and nothing runs.
				if err := e.Begin(cmd.Context(), args[0], engine.OpRollback, ""); err != nil {
					return err
				}
			}
			return a.operate(cmd.Context(), e, engine.OpRequest{Stack: args[0], Operation: engine.OpRollback, OnFailure: "keep"}, output)
		}
		if a.remote != nil {
			from, err := a.lastSeq(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			var op operation
			if err := a.remote.call(cmd.Context(), "POST", "/v1/stacks/"+url.PathEscape(args[0])+"/rollback", map[string]any{"revision": revision}, &op); err != nil {
				return err
			}
			return a.remoteFollow(cmd.Context(), e, op.Stack, op.Operation, "rollback", output, from)
		}
		req, err := e.RevisionRequest(cmd.Context(), args[0], revision)
		if err != nil {
			return err
		}
		return a.submitAndOperate(cmd.Context(), e, req, "rollback", output)
	}
	cmd.Flags().IntVar(&revision, "revision", 0, "the revision to return to (default: the last good one)")
	return cmd
}

// submitAndOperate records a create or update and runs it.
func (a *app) submitAndOperate(ctx context.Context, e *engine.Engine, req engine.CreateRequest, onFailure, output string) error {
	if a.remote != nil {
		return a.remoteSubmit(ctx, e, req, onFailure, output)
	}
	name, op, err := e.Submit(ctx, req)
	if err != nil {
		return a.refused(err, req.File)
	}
	return a.operate(ctx, e, engine.OpRequest{Stack: name, Operation: op, OnFailure: onFailure}, output)
}

func (a *app) rebuildCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "rebuild NAME",
		Short: "Delete a stack and create it again from the same template and inputs",
		Long: "Runs `aos down NAME`, then creates the stack again from its current revision's template and\n" +
			"inputs (secret inputs included), in the same namespace and context. Useful to reset an\n" +
			"environment to a clean state. The stack's revisions and events continue.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, st, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if st.Status == engine.StackDeleteComplete {
				return fmt.Errorf("stack %q is deleted; `aos up` creates it again from a template", st.Name)
			}
			if err := engine.Settled(st); err != nil {
				return err
			}
			// One execution of the state machine: delete, then create from the same revision.
			return a.operate(cmd.Context(), e, engine.OpRequest{Stack: st.Name, Operation: engine.OpRebuild, OnFailure: "keep"}, output)
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func (a *app) copyCmd() *cobra.Command {
	var output, to, ns string
	var params []string
	cmd := &cobra.Command{
		Use:   "copy NAME --to NEW",
		Short: "Create a new stack from another stack's template and inputs",
		Long: "Creates stack NEW from NAME's current template and inputs (secret inputs included). The copy\n" +
			"goes to namespace NEW unless --namespace says otherwise, and to the same kube context\n" +
			"unless the global --context names another one. -p overrides single inputs.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("--to NEW is required: the name of the new stack")
			}
			raw, err := template.ParseRaw(params)
			if err != nil {
				return &exitError{ExitInvalid, err}
			}
			e, _, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.remote != nil {
				from, err := a.lastSeq(cmd.Context(), e, to)
				if err != nil {
					return err
				}
				body := map[string]any{"to": to, "namespace": ns, "context": a.global.context, "project": a.global.project, "rawParams": raw}
				var op operation
				if err := a.remote.call(cmd.Context(), "POST", "/v1/stacks/"+url.PathEscape(args[0])+"/copy", body, &op); err != nil {
					return err
				}
				return a.remoteFollow(cmd.Context(), e, op.Stack, op.Operation, "keep", output, from)
			}
			req, err := e.CopyRequest(cmd.Context(), args[0], engine.CopyOptions{To: to, Namespace: ns, Context: a.global.context, Project: a.global.project, RawParams: raw})
			if err != nil {
				return err
			}
			return a.submitAndOperate(cmd.Context(), e, req, "keep", output)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "name of the new stack")
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "namespace of the copy (default: its name)")
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "override one input as key=value (repeatable)")
	outputFlag(cmd, &output)
	return cmd
}

func (a *app) historyCmd() *cobra.Command {
	var output string
	var show int
	cmd := a.withStack(&output, "history NAME", "List a stack's revisions: what each operation applied and how it ended", func(e *engine.Engine, st *engine.StackRecord, cmd *cobra.Command) error {
		revs, err := e.Store.ListRevisions(cmd.Context(), st.Name)
		if err != nil {
			return err
		}
		if show != 0 {
			if a.remote != nil {
				return errNotRemote("history --show", "the API shows a stack's current template (GET /v1/stacks/NAME/template), not each revision's")
			}
			return a.showRevision(st, revs, show, output)
		}
		views := view.Revisions(revs)
		if output == "json" {
			return a.printJSON(views)
		}
		fmt.Fprintf(a.stdout, "stack %s: revision %d, %s\n\n", st.Name, st.Revision, st.Status)
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REVISION\tOPERATION\tSTATUS\tSTARTED\tTOOK\tFILE\tNOTE")
		for _, v := range views {
			took := "-"
			if v.Seconds > 0 {
				took = fmt.Sprintf("%.1fs", v.Seconds)
			}
			note := v.Note
			switch {
			case strings.Contains(v.Reason, v.Note):
				note = v.Reason // "rolled back to revision 1 after …" says the note already
			case v.Reason != "":
				note = v.Note + "; " + v.Reason
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Number, v.Operation, v.Status, v.StartedAt.Local().Format(time.DateTime), took, v.File, note)
		}
		return tw.Flush()
	})
	cmd.Flags().IntVar(&show, "show", 0, "print revision N's template and inputs (secret inputs masked)")
	return cmd
}

// engineAndStack opens the engine and reads the stack a command names.
func (a *app) engineAndStack(ctx context.Context, name string) (*engine.Engine, *engine.StackRecord, error) {
	e, err := a.engine()
	if err != nil {
		return nil, nil, err
	}
	st, err := a.stack(ctx, e, name)
	return e, st, err
}

// stack reads a stack, saying how to find the right name when there is none.
func (a *app) stack(ctx context.Context, e *engine.Engine, name string) (*engine.StackRecord, error) {
	st, err := e.Store.GetStack(ctx, name)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("no stack named %q in %s (see `aos list`)", name, a.where())
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// opCmd is a command that runs one operation on an existing stack.
func (a *app) opCmd(use, short, op string) *cobra.Command {
	var output string
	var force bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if op == engine.OpDelete {
				a.forceDelete = force
				if a.remote == nil {
					if err := e.DeleteAllowed(cmd.Context(), args[0], force); err != nil {
						return err
					}
				}
			}
			return a.operate(cmd.Context(), e, engine.OpRequest{Stack: args[0], Operation: op, OnFailure: "keep"}, output)
		},
	}
	outputFlag(cmd, &output)
	if op == engine.OpDelete {
		cmd.Flags().BoolVar(&force, "force", false, "delete even though other stacks read this stack's outputs (${stacks.NAME.outputs.…})")
	}
	return cmd
}

func (a *app) continueRollbackCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "continue-rollback NAME",
		Short: "Run a failed rollback again, from where it stopped (UPDATE_ROLLBACK_FAILED only)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, st, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if st.Status != engine.StackRollbackFailed {
				return fmt.Errorf("stack %q is %s: only a failed rollback can be continued", st.Name, st.Status)
			}
			if a.remote != nil {
				return a.remoteOp(cmd.Context(), e, st.Name, "continue-rollback", engine.OpRollback, output)
			}
			return a.operate(cmd.Context(), e, engine.OpRequest{Stack: st.Name, Operation: engine.OpRollback, OnFailure: "keep"}, output)
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func (a *app) cancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel NAME",
		Short: "Stop the operation in progress: nothing new starts, and it fails once what is in flight settles (an update then rolls back)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var st *engine.StackRecord
			if a.remote != nil {
				if err = a.remoteStart(cmd.Context(), args[0], "cancel"); err == nil {
					st, err = e.Store.GetStack(cmd.Context(), args[0])
				}
			} else {
				st, err = e.Cancel(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			if st.Status.InProgress() {
				fmt.Fprintf(a.stdout, "stack %s: cancel requested; %s ends once what is in flight settles (`aos events -f %s`)\n", st.Name, strings.ToLower(string(st.Status)), st.Name)
			} else {
				fmt.Fprintf(a.stdout, "stack %s: %s (no run was in progress)\n", st.Name, st.Status)
			}
			return nil
		},
	}
}

func (a *app) resumeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resume NAME",
		Short: "Continue an interrupted operation from the stored state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := a.engine()
			if err != nil {
				return err
			}
			if a.remote != nil {
				st, err := a.stack(cmd.Context(), e, args[0])
				if err != nil {
					return err
				}
				return a.remoteOp(cmd.Context(), e, st.Name, "resume", st.Operation, "text")
			}
			st, err := e.TakeOver(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.operate(cmd.Context(), e, engine.OpRequest{Stack: st.Name, Operation: st.Operation, OnFailure: "keep"}, "text")
		},
	}
}

func (a *app) withStack(output *string, use, short string, show func(e *engine.Engine, st *engine.StackRecord, cmd *cobra.Command) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, st, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return show(e, st, cmd)
		},
	}
	outputFlag(cmd, output)
	return cmd
}

// where says where stacks live: the remote server, or the state file.
func (a *app) where() string {
	if a.global.server != "" {
		return a.global.server
	}
	return a.statePath()
}

func (a *app) statePath() string {
	if a.global.state != "" {
		return a.global.state
	}
	return embedded.DefaultStatePath()
}

func (a *app) statusCmd() *cobra.Command {
	var output string
	return a.withStack(&output, "status NAME", "Show a stack and each node's state", func(e *engine.Engine, st *engine.StackRecord, cmd *cobra.Command) error {
		nodes, err := e.Store.ListNodes(cmd.Context(), st.Name)
		if err != nil {
			return err
		}
		if output == "json" {
			return a.printJSON(map[string]any{"stack": view.StackOf(st), "nodes": view.Nodes(nodes)})
		}
		fmt.Fprintf(a.stdout, "stack %s (namespace %s): %s\n", st.Name, st.Namespace, st.Status)
		if st.Reason != "" {
			fmt.Fprintf(a.stdout, "reason: %s\n", st.Reason)
		}
		fmt.Fprintln(a.stdout)
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tSTATUS\tOBJECT\tREADY AFTER\tDETAIL")
		for _, v := range view.Nodes(nodes) {
			ready := "-"
			if v.Seconds > 0 {
				ready = fmt.Sprintf("%.1fs", v.Seconds)
			}
			detail := v.Reason
			if v.Status == engine.NodeFailed || v.Status == engine.NodeWaiting {
				detail = strings.TrimSpace(v.Reason + ": " + v.Message)
			}
			object := v.Kind + "/" + v.Name
			if v.Name == "" {
				object = v.Kind + " (not applied)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Status, object, ready, detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		a.printOutputs(st)
		return nil
	})
}

func (a *app) printOutputs(st *engine.StackRecord) {
	if len(st.Outputs) == 0 {
		return
	}
	fmt.Fprintln(a.stdout, "\noutputs:")
	keys := make([]string, 0, len(st.Outputs))
	for k := range st.Outputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(a.stdout, "  %s = %v\n", k, st.Outputs[k])
	}
}

func (a *app) outputsCmd() *cobra.Command {
	var output string
	return a.withStack(&output, "outputs NAME", "Print a stack's outputs", func(e *engine.Engine, st *engine.StackRecord, cmd *cobra.Command) error {
		if output == "json" {
			out := st.Outputs
			if out == nil {
				out = map[string]any{}
			}
			return a.printJSON(out)
		}
		a.printOutputs(st)
		return nil
	})
}

func (a *app) eventsCmd() *cobra.Command {
	var output string
	var after int64
	var follow bool
	cmd := a.withStack(&output, "events NAME", "Print a stack's event log", func(e *engine.Engine, st *engine.StackRecord, cmd *cobra.Command) error {
		evs, err := e.Store.ListEvents(cmd.Context(), st.Name, after, 0)
		if err != nil {
			return err
		}
		if follow {
			return a.followEvents(cmd.Context(), e, st.Name, after, output)
		}
		if output == "json" {
			if evs == nil {
				evs = []*engine.Event{}
			}
			return a.printJSON(evs)
		}
		for _, ev := range evs {
			writeEvent(a.stdout, ev)
		}
		return nil
	})
	cmd.Flags().Int64Var(&after, "after", 0, "only events after this sequence number")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until the stack's operation ends (JSON: one event per line)")
	return cmd
}

func (a *app) listCmd() *cobra.Command {
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the stacks in the state file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.engine()
			if err != nil {
				return err
			}
			stacks, err := e.Store.ListStacks(cmd.Context())
			if err != nil {
				return err
			}
			if !all {
				stacks = slices.DeleteFunc(stacks, func(st *engine.StackRecord) bool { return st.Status == engine.StackDeleteComplete })
			}
			views := view.Stacks(stacks)
			if output == "json" {
				return a.printJSON(views)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tNAMESPACE\tSTATUS\tUPDATED")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, v.Namespace, v.Status, v.UpdatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output)
	cmd.Flags().BoolVar(&all, "all", false, "also list deleted stacks (their events and revisions stay until `aos purge`)")
	return cmd
}

// followEvents prints events as they are appended, and returns once the stack is no longer
// in progress and every event is printed, or when interrupted.
func (a *app) followEvents(ctx context.Context, e *engine.Engine, stack string, after int64, output string) error {
	enc := json.NewEncoder(a.stdout)
	var last string // the status of the last stack event printed
	var settledAt time.Time
	for {
		evs, err := e.Store.ListEvents(ctx, stack, after, 0)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if output == "json" {
				_ = enc.Encode(ev)
			} else {
				writeEvent(a.stdout, ev)
			}
			after = ev.Seq
			if ev.Node == "" {
				last = ev.Status
			}
		}
		st, err := e.Store.GetStack(ctx, stack)
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return err
		}
		if len(evs) == 0 && (st == nil || !st.Status.InProgress()) {
			// An operation's end is written to the stack record first and to the event log
			// right after: wait for the event (briefly: an event can be lost), so that a
			// follower does not stop one event short.
			if settledAt.IsZero() {
				settledAt = time.Now()
			}
			if st == nil || last == string(st.Status) || time.Since(settledAt) > finalEventWait {
				return nil
			}
		} else {
			settledAt = time.Time{}
		}
		poll := 250 * time.Millisecond
		if !settledAt.IsZero() {
			poll = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// finalEventWait bounds how long a follower waits for the event of an operation's end once
// the stack record shows it.
const finalEventWait = 2 * time.Second

// refused prints the problems of a template the engine (or the server) found invalid, one
// per line, and exits 2 with their count; any other error is returned as it is.
func (a *app) refused(err error, file string) error {
	var inv *engine.InvalidTemplateError
	if errors.As(err, &inv) {
		for _, p := range inv.Problems {
			fmt.Fprintln(a.stdout, p.String())
		}
		return &exitError{ExitInvalid, fmt.Errorf("%s: %d problem(s)", file, len(inv.Problems))}
	}
	return err
}
