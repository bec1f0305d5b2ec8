// Package cli holds the `aos` command line: the cobra commands and how they print. cmd/aos
// only calls Main.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/aos-project/aos/shared/diff"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/store/metered"
	"github.com/aos-project/aos/shared/template"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1 // bad usage, unreadable files, failures
	ExitInvalid = 2 // the template or its inputs are invalid
)

// Version is set at build time with -ldflags "-X github.com/aos-project/aos/shared/cli.Version=…".
var Version = "dev"

// exitError carries an exit code up through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	tuneGC(os.Getenv)
	// AOS_CPUPROFILE=FILE writes a CPU profile of the command, for make bench's cost work.
	if p := os.Getenv("AOS_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.root()
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	for _, c := range a.closers {
		if cerr := c(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err == nil {
		return ExitOK
	}
	var policy *engine.PolicyError
	var unknown *project.UnknownError
	if errors.As(err, &policy) || errors.As(err, &unknown) {
		fmt.Fprintln(stderr, "aos:", err)
		return ExitInvalid
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "aos:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "aos:", err)
	return ExitError
}

type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	global         globalFlags
	store          *metered.Store // the engine's store, counted
	closers        []func() error // what engine opened, closed by Main
	// forceDelete: `aos down --force`, a delete of a stack whose outputs others read.
	forceDelete bool
	remote      *remote // with --server: the API the commands drive
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:           "aos",
		Short:         "Deploy whole applications to Kubernetes, in dependency order, as one stack",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			// Logs are for operators of `aos serve` and the functions; the CLI stays quiet
			// unless asked.
			level := zerolog.WarnLevel
			if v, _ := cmd.Flags().GetBool("verbose"); v {
				level = zerolog.DebugLevel
			}
			_, _, tty := terminal(a.stderr)
			logger := zerolog.New(zerolog.ConsoleWriter{Out: a.stderr, NoColor: !tty}).Level(level).With().Timestamp().Logger()
			cmd.SetContext(logger.WithContext(cmd.Context()))
		},
	}
	root.PersistentFlags().BoolP("verbose", "v", false, "log what happens to stderr")
	a.global.register(root)
	// A flag the command does not take, or a value a flag refuses, is a usage error: exit 2,
	// as for invalid input.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{ExitInvalid, err} })
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(a.validateCmd(), a.graphCmd(), a.planCmd(), a.importCmd())
	root.AddCommand(a.stackCommands()...)
	usageExits(root)
	a.completeStackNames(root)
	return root
}

// completeStackNames completes the NAME argument of every command that takes one with the
// stacks in the state file (`aos completion bash|zsh|fish|powershell` prints the script).
func (a *app) completeStackNames(cmd *cobra.Command) {
	if strings.HasPrefix(strings.TrimPrefix(cmd.Use, cmd.Name()), " NAME") && cmd.ValidArgsFunction == nil {
		cmd.ValidArgsFunction = func(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			e, err := a.engine()
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			stacks, err := e.Store.ListStacks(c.Context())
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			var names []string
			for _, st := range stacks {
				if strings.HasPrefix(st.Name, prefix) {
					names = append(names, st.Name)
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		}
	}
	for _, sub := range cmd.Commands() {
		a.completeStackNames(sub)
	}
}

// usageExits makes a wrong number of arguments exit 2, for every command.
func usageExits(cmd *cobra.Command) {
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return &exitError{ExitInvalid, err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		usageExits(sub)
	}
}

// outputFormat is the value of -o: text or json, refused otherwise before the command runs.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "format" }
func (o *outputFormat) Set(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("expected text or json")
	}
	*o = outputFormat(s)
	return nil
}

// outputFlag is the -o flag every command that prints takes.
func outputFlag(cmd *cobra.Command, o *string) {
	*o = "text"
	cmd.Flags().VarP((*outputFormat)(o), "output", "o", "output format: text or json")
}

// inputFlags are the flags every command that reads a template takes.
type inputFlags struct {
	params     []string
	paramsFile string
	output     string
	reset      bool
	shapeOnly  bool // set by aos graph, not a flag
}

// registerReset adds --reset-inputs, for the commands that update a stack.
func (f *inputFlags) registerReset(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.reset, "reset-inputs", false, "on an existing stack, start from the inputs' defaults instead of the stack's current inputs")
}

func (f *inputFlags) register(cmd *cobra.Command, withOutput bool) {
	cmd.Flags().StringArrayVarP(&f.params, "param", "p", nil, "input value as key=value, typed by the input's schema (repeatable)")
	cmd.Flags().StringVar(&f.paramsFile, "params", "", "YAML or JSON file of input values")
	if withOutput {
		outputFlag(cmd, &f.output)
	}
}

// request reads the template and inputs named on the command line.
func (a *app) request(file string, f *inputFlags) (engine.TemplateRequest, error) {
	data, err := a.readLimited(file)
	if err != nil {
		return engine.TemplateRequest{}, err
	}
	raw, err := template.ParseRaw(f.params)
	if err != nil {
		return engine.TemplateRequest{}, &exitError{ExitInvalid, err}
	}
	if err := secretParams(raw, data, file); err != nil {
		return engine.TemplateRequest{}, &exitError{ExitInvalid, err}
	}
	req := engine.TemplateRequest{File: file, Template: string(data), RawParams: raw, Dir: templateDir(file)}
	if f.paramsFile != "" {
		pdata, err := a.readLimited(f.paramsFile)
		if err != nil {
			return req, err
		}
		vals, err := template.DecodeValues(f.paramsFile, pdata)
		if err != nil {
			return req, &exitError{ExitInvalid, fmt.Errorf("--params: %w", err)}
		}
		req.Params, req.ParamsFile, req.ParamsAt = vals, f.paramsFile, template.ValuePositions(pdata)
	}
	req.ShapeOnly = f.shapeOnly
	return req, nil
}

// ParamEnvPrefix: $AOS_PARAM_<name> sets input <name> when -p does not, so a secret need not
// appear in a command line (which `ps` shows to every user of the machine).
const ParamEnvPrefix = "AOS_PARAM_"

// secretParams reads the values given as -p name=@FILE from their files (one trailing newline
// dropped; @@ stands for a literal @), and adds $AOS_PARAM_<name> for each input the template
// declares and -p does not set.
func secretParams(raw map[string]string, tpl []byte, file string) error {
	for k, v := range raw {
		switch {
		case strings.HasPrefix(v, "@@"):
			raw[k] = v[1:]
		case strings.HasPrefix(v, "@"):
			data, err := readCapped(v[1:], 1<<20)
			if err != nil {
				return fmt.Errorf("-p %s=@FILE: %w", k, err)
			}
			raw[k] = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, ParamEnvPrefix) {
			env = append(env, kv)
		}
	}
	if len(env) == 0 {
		return nil
	}
	t, _ := template.Parse(file, tpl)
	if t == nil {
		return nil
	}
	for _, kv := range env {
		name, v, _ := strings.Cut(strings.TrimPrefix(kv, ParamEnvPrefix), "=")
		if !strings.HasPrefix(kv, ParamEnvPrefix) || t.Input(name) == nil {
			continue
		}
		if _, given := raw[name]; !given {
			raw[name] = v
		}
	}
	return nil
}

func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return data, err
}

// readLimited reads a file ("-" is stdin) but never more than the template limit plus one
// byte, so an oversized file is refused without being read whole.
func (a *app) readLimited(file string) ([]byte, error) {
	var r io.Reader
	if file == "-" {
		r = a.stdin
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("reading template: %w", err)
		}
		defer fh.Close()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, template.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return data, nil
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (a *app) validateCmd() *cobra.Command {
	var f inputFlags
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a template and its inputs without touching a cluster",
		Long: "Parses the template (YAML or JSON), checks every key, reference and dependency, checks the\n" +
			"inputs against their schemas, and prints every problem as FILE:LINE:COL: node \"x\": message.\n" +
			"Exits 0 when valid, 2 when not. FILE may be - for standard input.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := a.request(args[0], &f)
			if err != nil {
				return err
			}
			resp, err := engine.Validate(cmd.Context(), req)
			if err != nil {
				return err
			}
			if resp.Valid {
				// With a projects file, what the project refuses is a problem too.
				if err := a.policy(req, ""); err != nil {
					return err
				}
			}
			if f.output == "json" {
				if err := a.printJSON(resp); err != nil {
					return err
				}
			} else if resp.Valid {
				fmt.Fprintf(a.stdout, "%s: valid: template %q, %d node(s), %d edge(s), %d input(s)\n", args[0], resp.Name, resp.Nodes, resp.Edges, len(resp.Inputs))
			} else {
				for _, p := range resp.Problems {
					fmt.Fprintln(a.stdout, p.String())
				}
			}
			if !resp.Valid {
				return &exitError{ExitInvalid, fmt.Errorf("%s: %d problem(s)", args[0], len(resp.Problems))}
			}
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

// plan validates and plans, turning an invalid template into exit code 2 with its problems
// printed the same way validate prints them.
func (a *app) plan(cmd *cobra.Command, file string, f *inputFlags, stack, ns string, dryRun bool) (engine.PlanResponse, error) {
	req, err := a.request(file, f)
	if err != nil {
		return engine.PlanResponse{}, err
	}
	preq := engine.PlanRequest{TemplateRequest: req, Stack: stack, Namespace: ns, ResetInputs: f.reset}
	var plan engine.PlanResponse
	if a.global.server != "" {
		// The server plans against its own state and cluster, as POST /v1/plan.
		if _, err = a.engine(); err == nil {
			body := bodyOf(engine.CreateRequest{PlanRequest: preq, Context: a.global.context, Project: a.global.project}, "")
			err = a.remote.call(cmd.Context(), "POST", "/v1/plan?dryRun="+strconv.FormatBool(dryRun), body, &plan)
		}
	} else if _, serr := os.Stat(a.statePath()); serr == nil && (cmd.Name() == "plan" || cmd.Name() == "up") {
		// A stack may already exist: show what `aos up` would change. (No state file: every
		// stack is new, and plan creates no file.)
		e, eerr := a.engine()
		if eerr != nil {
			return plan, eerr
		}
		plan, err = e.Preview(cmd.Context(), engine.CreateRequest{PlanRequest: preq, Context: a.global.context, Project: a.global.project}, dryRun)
	} else if plan, err = engine.Plan(cmd.Context(), preq); err == nil {
		err = a.policy(req, plan.Namespace)
	}
	var inv *engine.InvalidTemplateError
	if errors.As(err, &inv) {
		if f.output == "json" {
			_ = a.printJSON(map[string]any{"valid": false, "problems": inv.Problems})
		} else {
			for _, p := range inv.Problems {
				fmt.Fprintln(a.stdout, p.String())
			}
		}
		return plan, &exitError{ExitInvalid, fmt.Errorf("%s: %d problem(s)", file, len(inv.Problems))}
	}
	if err != nil {
		return plan, err
	}
	return plan, nil
}

func (a *app) planCmd() *cobra.Command {
	var f inputFlags
	var stack, ns string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show what `aos up` would do, node by node, with a field-level diff for an existing stack",
		Long: "For a new stack: every node is created, in the order shown. For an existing stack: each\n" +
			"node is created, updated, deleted or left unchanged; nodes to create or update are sent\n" +
			"to the API server as a server-side dry-run apply, which shows what would change in each\n" +
			"live object and which objects the server would refuse (exit 1). Nothing is changed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := a.plan(cmd, args[0], &f, stack, ns, dryRun)
			if err != nil {
				return err
			}
			return a.printPlan(plan, f.output)
		},
	}
	f.register(cmd, true)
	f.registerReset(cmd)
	cmd.Flags().StringVar(&stack, "stack", "", "stack name (default: the template's name)")
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "namespace (default: the stack name)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", true, "for an existing stack, ask the API server what each change would do (--dry-run=false: compare with the store only)")
	return cmd
}

// printChanges prints field-level changes, one a line: + added, - removed, ~ changed.
func (a *app) printChanges(changes []diff.Change) {
	for _, c := range changes {
		switch c.Op() {
		case "+":
			fmt.Fprintf(a.stdout, "    + %s: %s\n", c.Path, brief(c.New))
		case "-":
			fmt.Fprintf(a.stdout, "    - %s: %s\n", c.Path, brief(c.Old))
		default:
			fmt.Fprintf(a.stdout, "    ~ %s: %s -> %s\n", c.Path, brief(c.Old), brief(c.New))
		}
	}
}

// printInputChanges prints the inputs an operation or a revision changes.
func (a *app) printInputChanges(changes []engine.InputChange) {
	for _, c := range changes {
		fmt.Fprintf(a.stdout, "    ~ %s: %s -> %s\n", c.Name, inputValue(c, c.Was, c.Old), inputValue(c, c.Is, c.New))
	}
}

func inputValue(c engine.InputChange, set bool, v any) string {
	switch {
	case !set:
		return "(not set)"
	case c.Sensitive:
		return "(sensitive)"
	}
	return brief(v)
}

// printPlan shows a plan; it fails when the API server would refuse an object.
func (a *app) printPlan(plan engine.PlanResponse, output string) error {
	refused := 0
	for _, n := range plan.Nodes {
		if n.Refused {
			refused++
		}
	}
	if output == "json" {
		if err := a.printJSON(plan); err != nil {
			return err
		}
	} else {
		count := map[engine.Action]int{}
		for _, n := range plan.Nodes {
			count[n.Action]++
		}
		replace := ""
		if n := count[engine.ActionReplace]; n > 0 {
			replace = fmt.Sprintf(", %d to replace", n)
		}
		if n := count[engine.ActionLookup]; n > 0 {
			replace += fmt.Sprintf(", %d to look up", n)
		}
		fmt.Fprintf(a.stdout, "stack %s in namespace %s: %d to create, %d to update%s, %d to delete, %d unchanged; longest chain %d, %d start at once\n\n",
			plan.Stack, plan.Namespace, count[engine.ActionCreate], count[engine.ActionUpdate], replace, count[engine.ActionDelete],
			count[engine.ActionUnchanged], len(plan.LongestChain), len(plan.Ready))
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tACTION\tKIND\tNAME\tAFTER")
		for _, n := range plan.Nodes {
			after := strings.Join(n.DependsOn, ",")
			if after == "" {
				after = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.ID, n.Action, n.Kind, n.Name, after)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range plan.Nodes {
			if len(n.Diff) == 0 && n.Detail == "" {
				continue
			}
			fmt.Fprintf(a.stdout, "\n%s %s (%s/%s)\n", n.Action, n.ID, n.Kind, n.Name)
			if n.Detail != "" {
				fmt.Fprintf(a.stdout, "    %s\n", n.Detail)
			}
			a.printChanges(n.Diff)
		}
		if len(plan.Skipped) > 0 {
			fmt.Fprintf(a.stdout, "\nleft out by `when`: %s\n", strings.Join(plan.Skipped, ", "))
		}
		for _, n := range plan.Nodes {
			if n.When != "" {
				fmt.Fprintf(a.stdout, "\n%s: when %s is decided once what it reads is READY; if false, the node is SKIPPED\n", n.ID, n.When)
			}
		}
		if len(plan.Inputs) > 0 {
			fmt.Fprintln(a.stdout, "\ninputs that change (the others keep their values; --reset-inputs starts from the defaults):")
			a.printInputChanges(plan.Inputs)
		}
	}
	if refused > 0 {
		return fmt.Errorf("the API server would refuse %d object(s); nothing was changed", refused)
	}
	return nil
}

// brief is a value as compact JSON, cut to one readable line.
func brief(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 100
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

func (a *app) graphCmd() *cobra.Command {
	var f inputFlags
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Print a template's dependency graph as Graphviz dot or Mermaid",
		Long: "Prints the nodes (after count and when) and their dependencies. Render dot with\n" +
			"`aos graph app.yaml | dot -Tsvg > app.svg`; paste Mermaid into Markdown.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "dot" && format != "mermaid" {
				return &exitError{ExitInvalid, fmt.Errorf("--format %q: expected dot or mermaid", format)}
			}
			f.shapeOnly = true // inputs nothing in the graph's shape reads may be left out
			plan, err := a.plan(cmd, args[0], &f, "", "", false)
			if err != nil {
				return err
			}
			if format == "dot" {
				writeDot(a.stdout, plan)
			} else {
				writeMermaid(a.stdout, plan)
			}
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().StringVar(&format, "format", "dot", "dot or mermaid")
	return cmd
}

func writeDot(w io.Writer, plan engine.PlanResponse) {
	fmt.Fprintf(w, "digraph %q {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n", plan.Stack)
	for _, n := range plan.Nodes {
		fmt.Fprintf(w, "  %q [label=%q];\n", n.ID, n.ID+"\n"+n.Kind)
	}
	for _, n := range plan.Nodes {
		for _, d := range n.DependsOn {
			fmt.Fprintf(w, "  %q -> %q;\n", d, n.ID)
		}
	}
	fmt.Fprintln(w, "}")
}

func writeMermaid(w io.Writer, plan engine.PlanResponse) {
	ids := make(map[string]string, len(plan.Nodes))
	fmt.Fprintln(w, "flowchart LR")
	for i, n := range plan.Nodes {
		ids[n.ID] = fmt.Sprintf("n%d", i)
		fmt.Fprintf(w, "  n%d[\"%s<br/>%s\"]\n", i, n.ID, n.Kind)
	}
	for _, n := range plan.Nodes {
		for _, d := range n.DependsOn {
			fmt.Fprintf(w, "  %s --> %s\n", ids[d], ids[n.ID])
		}
	}
}

// templateDir is the folder a template's chart, kustomize and manifests paths are read from:
// the file's own (the working directory for stdin).
func templateDir(file string) string {
	dir := "."
	if file != "-" {
		dir = filepath.Dir(file)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	return abs
}
