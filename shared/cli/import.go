package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/importer"
	"github.com/aos-project/aos/shared/source"
)

func (a *app) importCmd() *cobra.Command {
	var name, fromNS, out, stack, output string
	var adopt bool
	cmd := &cobra.Command{
		Use:   "import [PATH…] [--from-namespace NS [--adopt]]",
		Short: "Write a template for manifests you have (files, folders, a rendered chart) or a live namespace: one node per object, with the dependencies Kubernetes links",
		Long: `Write a template for objects you already have: manifest files or folders (helm template
output included), or every object of a live namespace (--from-namespace). Each object is a
node; dependencies come from what Kubernetes links (selectors, volumes, envFrom, Ingress
backends, RoleBindings, CRDs) and from service addresses in env, args and config data
("db:5432"), which become references. Secret values become secret inputs: they are never
written into the template.

--adopt creates the stack over the live objects without recreating them (as CloudFormation
imports resources): the template goes to --out, and a later "aos up" of it changes nothing.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if (len(args) == 0) == (fromNS == "") {
				return &exitError{ExitInvalid, fmt.Errorf("give manifest files or folders, or --from-namespace NS (not both)")}
			}
			if adopt && (fromNS == "" || out == "") {
				return &exitError{ExitInvalid, fmt.Errorf("--adopt takes over a live namespace's objects: it needs --from-namespace, and --out FILE for the template")}
			}
			var objs []*unstructured.Unstructured
			var e *engine.Engine
			if fromNS != "" {
				var err error
				if e, err = a.engine(); err != nil {
					return err
				}
				c, err := e.Cluster(ctx, &engine.StackRecord{Name: fromNS, Project: a.global.project, Context: a.global.context})
				if err != nil {
					return err
				}
				if objs, err = c.NamespaceObjects(ctx, fromNS); err != nil {
					return err
				}
				if name == "" {
					name = fromNS
				}
			}
			for _, p := range args {
				abs, err := filepath.Abs(p)
				if err != nil {
					return err
				}
				got, err := source.Render(ctx, source.Request{Kind: source.Manifests, Dir: filepath.Dir(abs), Spec: map[string]any{"path": abs}})
				if err != nil {
					return &exitError{ExitInvalid, err}
				}
				objs = append(objs, got...)
				if name == "" {
					name = filepath.Base(abs)
				}
			}
			res, err := importer.Import(objs, importer.Options{Name: name, Adopt: adopt})
			if err != nil {
				return &exitError{ExitInvalid, err}
			}
			text, err := res.Template.YAML()
			if err != nil {
				return err
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(a.stderr, "aos import: left out %s\n", s)
			}
			if out == "" {
				_, err = a.stdout.Write(text)
				return err
			}
			if err := os.WriteFile(out, text, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "aos import: wrote %s: %d node(s), %d edge(s), %d secret input(s)\n", out, len(res.Template.Nodes), len(res.Template.Edges()), len(res.Secrets))
			if !adopt {
				return nil
			}
			params := map[string]any{}
			for k, v := range res.Secrets {
				params[k] = v
			}
			if stack == "" {
				stack = fromNS
			}
			req := engine.TemplateRequest{File: out, Template: string(text), Params: params, Dir: templateDir(out)}
			return a.submitAndOperate(ctx, e, engine.CreateRequest{Context: a.global.context, Project: a.global.project,
				PlanRequest: engine.PlanRequest{TemplateRequest: req, Stack: stack, Namespace: fromNS}}, "keep", output)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the template's name (default: the namespace, or the first path's base name)")
	cmd.Flags().StringVar(&fromNS, "from-namespace", "", "import every object of this live namespace")
	cmd.Flags().BoolVar(&adopt, "adopt", false, "create the stack over the live objects (with --from-namespace and --out)")
	cmd.Flags().StringVar(&out, "out", "", "write the template to FILE instead of stdout")
	cmd.Flags().StringVar(&stack, "stack", "", "with --adopt: the stack's name (default: the namespace)")
	outputFlag(cmd, &output)
	return cmd
}
