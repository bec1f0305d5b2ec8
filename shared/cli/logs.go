package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
)

// logStream is one container whose log is printed.
type logStream struct {
	node, pod, container, namespace string
}

func (s logStream) prefix() string { return fmt.Sprintf("[%s %s/%s] ", s.node, s.pod, s.container) }

func (a *app) logsCmd() *cobra.Command {
	var o kube.LogOptions
	cmd := &cobra.Command{
		Use:   "logs NAME [NODE]",
		Short: "Print the logs of the pods a stack's nodes run (a failed Job's, a Deployment's)",
		Long: "Prints the log of every container of every pod the node's object runs: the Pod itself,\n" +
			"or the pods its spec.selector matches (Job, Deployment, StatefulSet, DaemonSet). Without\n" +
			"NODE, every node that runs pods. With more than one container, each line starts with\n" +
			"[node pod/container].",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.global.server != "" {
				return errNotRemote("logs", "logs are read from the cluster's pods, which the API does not serve")
			}
			e, st, err := a.engineAndStack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			node := ""
			if len(args) == 2 {
				node = args[1]
			}
			return a.printLogs(cmd.Context(), e, st, node, o)
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return a.completeArgs(c.Context(), args, prefix)
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep printing as the containers log")
	cmd.Flags().Int64Var(&o.Tail, "tail", 0, "only the last N lines of each log")
	cmd.Flags().StringVarP(&o.Container, "container", "c", "", "only this container")
	return cmd
}

// completeArgs completes a stack name, then one of its node ids.
func (a *app) completeArgs(ctx context.Context, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	e, err := a.engine()
	if err != nil || len(args) > 1 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	if len(args) == 0 {
		stacks, _ := e.Store.ListStacks(ctx)
		for _, st := range stacks {
			names = append(names, st.Name)
		}
	} else {
		nodes, _ := e.Store.ListNodes(ctx, args[0])
		for _, n := range nodes {
			names = append(names, n.ID)
		}
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func (a *app) printLogs(ctx context.Context, e *engine.Engine, st *engine.StackRecord, node string, o kube.LogOptions) error {
	nodes, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return err
	}
	var chosen []*engine.NodeRecord
	for _, n := range nodes {
		if node == "" || n.ID == node {
			chosen = append(chosen, n)
		}
	}
	if node != "" && len(chosen) == 0 {
		ids := make([]string, len(nodes))
		for i, n := range nodes {
			ids[i] = n.ID
		}
		return &exitError{ExitInvalid, fmt.Errorf("stack %q has no node %q (it has %s)", st.Name, node, strings.Join(ids, ", "))}
	}
	c, err := e.Cluster(ctx, st)
	if err != nil {
		return err
	}
	var streams []logStream
	for _, n := range chosen {
		if n.Ref == nil {
			if node != "" {
				return fmt.Errorf("node %q has no object in the cluster (%s)", n.ID, n.Status)
			}
			continue
		}
		pods, err := c.Pods(ctx, *n.Ref)
		if err != nil {
			return fmt.Errorf("node %q: %w", n.ID, err)
		}
		for _, p := range pods {
			for _, ctr := range containers(p) {
				if o.Container == "" || o.Container == ctr {
					streams = append(streams, logStream{node: n.ID, pod: p.GetName(), container: ctr, namespace: p.GetNamespace()})
				}
			}
		}
	}
	if len(streams) == 0 {
		what := "no node of stack " + st.Name
		if node != "" {
			what = "node " + node
		}
		return fmt.Errorf("%s runs no pods (or none with container %q)", what, o.Container)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(streams))
	for i, s := range streams {
		prefix := ""
		if len(streams) > 1 {
			prefix = s.prefix()
		}
		run := func() {
			opts := o
			opts.Container = s.container
			errs[i] = a.copyLog(ctx, c, s, opts, prefix, &mu)
		}
		if o.Follow {
			wg.Add(1)
			go func() { defer wg.Done(); run() }()
		} else {
			run() // one log after another, in order
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// copyLog prints one container's log, line by line so that concurrent logs do not interleave
// within a line.
func (a *app) copyLog(ctx context.Context, c *kube.Client, s logStream, o kube.LogOptions, prefix string, mu *sync.Mutex) error {
	rc, err := c.Logs(ctx, s.namespace, s.pod, o)
	if err != nil {
		return fmt.Errorf("node %q: %w", s.node, err)
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			mu.Lock()
			fmt.Fprint(a.stdout, prefix+line)
			if !strings.HasSuffix(line, "\n") {
				fmt.Fprintln(a.stdout)
			}
			mu.Unlock()
		}
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("node %q: log of %s/%s: %w", s.node, s.pod, s.container, err)
		}
	}
}

// containers names a pod's init containers and containers, in the order they run.
func containers(p unstructured.Unstructured) []string {
	var out []string
	for _, field := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedSlice(p.Object, "spec", field)
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				if name, _ := m["name"].(string); name != "" {
					out = append(out, name)
				}
			}
		}
	}
	return out
}
