package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aos-project/aos/shared/engine"
)

func (a *app) driftCmd() *cobra.Command {
	var output string
	var repair bool
	cmd := a.withStack(&output, "drift NAME", "Compare a stack's live objects with what it applied: IN_SYNC, MODIFIED (which fields) or DELETED",
		func(e *engine.Engine, st *engine.StackRecord, cmd *cobra.Command) error {
			var rep *engine.DriftReport
			var err error
			if a.remote != nil {
				rep = &engine.DriftReport{}
				err = a.remote.call(cmd.Context(), "GET", "/v1/stacks/"+url.PathEscape(st.Name)+"/drift", nil, rep)
			} else {
				rep, err = e.Drift(cmd.Context(), st.Name)
			}
			if err != nil {
				return err
			}
			if output == "json" {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				a.printDrift(rep)
			}
			if rep.Drifted == 0 {
				return nil
			}
			if repair && a.remote != nil {
				// An update with no template keeps the stack's own, and applies what is marked.
				from, err := a.lastSeq(cmd.Context(), e, st.Name)
				if err != nil {
					return err
				}
				var op operation
				if err := a.remote.call(cmd.Context(), "PUT", "/v1/stacks/"+url.PathEscape(st.Name), map[string]any{"onFailure": "rollback"}, &op); err != nil {
					return err
				}
				return a.remoteFollow(cmd.Context(), e, op.Stack, op.Operation, "rollback", output, from)
			}
			if repair {
				req, err := e.RepairRequest(cmd.Context(), st.Name)
				if err != nil {
					return err
				}
				return a.submitAndOperate(cmd.Context(), e, req, "rollback", output)
			}
			return &exitError{ExitError, fmt.Errorf("stack %s: %d node(s) drifted; `aos drift %s --repair` (or the next `aos up`) applies them again", st.Name, rep.Drifted, st.Name)}
		})
	cmd.Long = "Each applied node's manifest is sent as a server-side dry-run apply under AOS's field\n" +
		"manager: the fields the apply would change back are the drift (fields other managers own,\n" +
		"and what the server fills in, are not). Each drifted node gets an event and is marked, so\n" +
		"the next update applies it again though its template did not change.\n" +
		"Exits 0 when every node is in sync, 1 when some drifted (with --repair: when the repair failed)."
	cmd.Flags().BoolVar(&repair, "repair", false, "apply the drifted nodes again at once (an update of the current revision)")
	return cmd
}

func (a *app) printDrift(rep *engine.DriftReport) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tDRIFT\tOBJECT\tDETAIL")
	for _, n := range rep.Nodes {
		var detail []string
		for _, c := range n.Changes {
			detail = append(detail, fmt.Sprintf("%s: %s (stack: %s)", c.Path, compact(c.Old), compact(c.New)))
		}
		if n.Detail != "" {
			detail = append(detail, n.Detail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Node, n.Status, n.Object, strings.Join(detail, "; "))
	}
	_ = tw.Flush()
	fmt.Fprintf(a.stdout, "\nstack %s: %d of %d node(s) drifted\n", rep.Stack, rep.Drifted, len(rep.Nodes))
}

func compact(v any) string {
	if v == nil {
		return "(none)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
