package cli

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/view"
)

// showRevision prints one revision: what ran, its inputs (secret ones masked) and template.
func (a *app) showRevision(st *engine.StackRecord, revs []*engine.Revision, n int, output string) error {
	i := slices.IndexFunc(revs, func(r *engine.Revision) bool { return r.Number == n })
	if i < 0 {
		return fmt.Errorf("stack %q has no revision %d (see `aos history %s`)", st.Name, n, st.Name)
	}
	r := revs[i]
	v := view.RevisionOf(r)
	if output == "json" {
		return a.printJSON(map[string]any{"revision": v, "template": r.Template})
	}
	fmt.Fprintf(a.stdout, "revision %d of stack %s: %s, %s", r.Number, st.Name, r.Operation, r.Status)
	if v.Note != "" {
		fmt.Fprintf(a.stdout, " (%s)", v.Note)
	}
	fmt.Fprintf(a.stdout, "\n\ninputs:\n")
	names := make([]string, 0, len(r.Inputs)+len(r.Sealed))
	for k := range r.Inputs {
		names = append(names, k)
	}
	for k := range r.Sealed {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		val := "(sensitive)"
		if _, secret := r.Sealed[k]; !secret {
			val = brief(r.Inputs[k])
		}
		fmt.Fprintf(a.stdout, "  %s = %s\n", k, val)
	}
	fmt.Fprintf(a.stdout, "\ntemplate (%s):\n%s", r.File, r.Template)
	if !strings.HasSuffix(r.Template, "\n") {
		fmt.Fprintln(a.stdout)
	}
	return nil
}

func (a *app) diffCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "diff NAME REV1 REV2",
		Short: "What changed between two revisions of a stack: inputs (secret ones masked) and template",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err1 := strconv.Atoi(args[1])
			to, err2 := strconv.Atoi(args[2])
			if err1 != nil || err2 != nil {
				return &exitError{ExitInvalid, fmt.Errorf("revisions are numbers (see `aos history %s`): %q %q", args[0], args[1], args[2])}
			}
			e, _, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var d *engine.RevisionDiff
			if a.remote != nil {
				d = &engine.RevisionDiff{}
				err = a.remote.call(cmd.Context(), "GET", fmt.Sprintf("/v1/stacks/%s/history/diff?from=%d&to=%d", url.PathEscape(args[0]), from, to), nil, d)
			} else {
				d, err = e.DiffRevisions(cmd.Context(), args[0], from, to)
			}
			if err != nil {
				return err
			}
			if output == "json" {
				return a.printJSON(d)
			}
			fmt.Fprintf(a.stdout, "stack %s, revision %d -> %d\n", args[0], from, to)
			if len(d.Inputs) == 0 && len(d.Template) == 0 {
				fmt.Fprintln(a.stdout, "\nno difference")
				return nil
			}
			if len(d.Inputs) > 0 {
				fmt.Fprintln(a.stdout, "\ninputs:")
				a.printInputChanges(d.Inputs)
			}
			if len(d.Template) > 0 {
				fmt.Fprintln(a.stdout, "\ntemplate:")
				a.printChanges(d.Template)
			}
			return nil
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func (a *app) purgeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "purge NAME",
		Short: "Forget a deleted stack: its record and nodes go from the state file (`aos list --all` no longer shows it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.remote != nil || a.global.server != "" {
				return errNotRemote("purge", "the server keeps its deleted stacks")
			}
			e, st, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if st.Status != engine.StackDeleteComplete {
				return fmt.Errorf("stack %q is %s: only a deleted stack can be purged (`aos down %s` first)", st.Name, st.Status, st.Name)
			}
			if err := e.Store.DeleteStack(cmd.Context(), st.Name); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "stack %s purged\n", st.Name)
			return nil
		},
	}
}
