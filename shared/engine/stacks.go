package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aos-project/aos/shared/refs"
	"github.com/aos-project/aos/shared/template"
)

// Stacks read each other's outputs with ${stacks.NAME.outputs.KEY}, as CloudFormation
// stacks import each other's exports: the reader waits while the other stack is in progress,
// reads only stacks of its own project, and a stack whose outputs others read is not deleted
// unless the delete is forced.

// stacksRead lists the stacks a set of uses reads, each once, in order.
func stacksRead(uses []template.Use) []string {
	var out []string
	for _, u := range uses {
		if u.Ref.Root == refs.RootStacks && !slices.Contains(out, u.Ref.Name) {
			out = append(out, u.Ref.Name)
		}
	}
	return out
}

// templateReads lists every stack a template's nodes and outputs read.
func templateReads(t *template.Template) []string {
	var uses []template.Use
	for _, n := range t.Nodes {
		uses = append(uses, n.Uses...)
	}
	for _, o := range t.Outputs {
		uses = append(uses, o.Uses...)
	}
	return stacksRead(uses)
}

// readableStack returns another stack whose outputs st may read, or says why not; wait is
// true when the other stack is in progress, so the reader should wait rather than fail.
func (e *Engine) readableStack(ctx context.Context, st *StackRecord, name string) (other *StackRecord, wait bool, err error) {
	if name == st.Name {
		return nil, false, fmt.Errorf("${stacks.%s…} is this stack: read its nodes with ${nodes.…}", name)
	}
	other, err = e.Store.GetStack(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil, false, fmt.Errorf("stack %q does not exist (create it first: its outputs are read by ${stacks.%s.outputs.…})", name, name)
	}
	if err != nil {
		return nil, false, fmt.Errorf("stack %q: %w", name, err)
	}
	if projectName(other.Project) != projectName(st.Project) {
		return nil, false, fmt.Errorf("stack %q belongs to project %q; a stack reads outputs only of stacks in its own project (%q)", name, projectName(other.Project), projectName(st.Project))
	}
	switch {
	case other.Status.InProgress():
		return other, true, fmt.Errorf("stack %q is %s: its outputs are read once it settles", name, other.Status)
	case !other.Status.updatable():
		return nil, false, fmt.Errorf("stack %q is %s: it has no outputs to read", name, other.Status)
	}
	return other, false, nil
}

// seeStacks makes the outputs of the stacks names readable in sc.
func (e *Engine) seeStacks(ctx context.Context, st *StackRecord, names []string, sc *scope) error {
	for _, name := range names {
		other, _, err := e.readableStack(ctx, st, name)
		if err != nil {
			return err
		}
		sc.stacks[name] = other.Outputs
	}
	return nil
}

// stackOutput is what ${stacks.NAME.outputs.KEY} reads.
func (s *scope) stackOutput(r *refs.Ref) (any, error) {
	outs, ok := s.stacks[r.Name]
	if !ok {
		return nil, fmt.Errorf("%s: stack %q was not read", r, r.Name)
	}
	v, ok := outs[r.Output]
	if !ok {
		names := make([]string, 0, len(outs))
		for k := range outs {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("%s: stack %q has no output %q (it has: %s)", r, r.Name, r.Output, cmp.Or(strings.Join(names, ", "), "none"))
	}
	if v == template.SensitiveText {
		return nil, fmt.Errorf("%s: output %q of stack %q is sensitive, so it is never stored: pass the value as a secret input", r, r.Output, r.Name)
	}
	return v, nil
}

// holdForStacks keeps back the startable nodes that read a stack still in progress: they
// start once it settles. Reads are cached for the call.
func (e *Engine) holdForStacks(ctx context.Context, st *StackRecord, byID map[string]*NodeRecord, resp *CheckResponse) {
	busy := map[string]bool{}
	kept := resp.Startable[:0]
	for _, id := range resp.Startable {
		n := byID[id]
		held := false
		for _, name := range n.Stacks {
			b, seen := busy[name]
			if !seen {
				_, b, _ = e.readableStack(ctx, st, name)
				busy[name] = b
			}
			held = held || b
		}
		if held {
			resp.Pending++
			continue
		}
		kept = append(kept, id)
	}
	if len(kept) < len(resp.Startable) && len(kept) == 0 && resp.InFlight == 0 {
		resp.WaitSeconds = max(resp.WaitSeconds, 2)
	}
	resp.Startable = kept
}

// Readers lists the stacks that read a stack's outputs and are not deleted.
func (e *Engine) Readers(ctx context.Context, stack string) ([]string, error) {
	all, err := e.Store.ListStacks(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range all {
		if s.Name != stack && s.Status != StackDeleteComplete && slices.Contains(s.Reads, stack) {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// DeleteAllowed refuses to delete a stack whose outputs other stacks read, unless forced.
func (e *Engine) DeleteAllowed(ctx context.Context, stack string, force bool) error {
	if force {
		return nil
	}
	readers, err := e.Readers(ctx, stack)
	if err != nil {
		return err
	}
	if len(readers) > 0 {
		return &StateError{fmt.Sprintf("stack %q's outputs are read by %s (${stacks.%s.outputs.…}): delete or change those first, or force the delete (aos down --force)", stack, strings.Join(readers, ", "), stack)}
	}
	return nil
}

// checkStackReads finds, before anything runs, the ${stacks.…} references that cannot be
// read: a stack that does not exist or is another project's, or one that has settled without
// that output. A stack in progress is waited for.
func (e *Engine) checkStackReads(ctx context.Context, t *template.Template, st *StackRecord) template.Problems {
	var probs template.Problems
	check := func(node string, uses []template.Use) {
		for _, u := range uses {
			if u.Ref.Root != refs.RootStacks {
				continue
			}
			other, wait, err := e.readableStack(ctx, st, u.Ref.Name)
			if err == nil && !wait {
				sc := &scope{stacks: map[string]map[string]any{u.Ref.Name: other.Outputs}}
				_, err = sc.stackOutput(u.Ref)
			}
			if err != nil && !wait {
				probs = append(probs, template.Problem{File: t.File, Line: u.Pos.Line, Col: u.Pos.Col, Node: node, Message: fmt.Sprintf("%s: %v", u.Field, err)})
			}
		}
	}
	for _, n := range t.Nodes {
		check(n.ID, n.Uses)
	}
	for _, o := range t.Outputs {
		check("", o.Uses)
	}
	return probs
}

// localPaths refuses, for a template that came without its folder (over the API), every
// source that reads a local path: the server reads no caller's files. Said at the node's line
// before anything runs, rather than when its apply fails.
func localPaths(t *template.Template, dir string) template.Problems {
	if dir != "" {
		return nil
	}
	var probs template.Problems
	for _, n := range t.Nodes {
		if _, local := n.Manifest["path"]; n.Source == "" || !local {
			continue
		}
		probs = append(probs, template.Problem{File: t.File, Line: n.ManifestPos.Line, Col: n.ManifestPos.Col, Node: n.ID,
			Message: fmt.Sprintf("%s reads a local path, and this template came without its folder (over the API): the server reads no caller's files; use a chart from an OCI registry (oci:) or a repository (repo:), or run `aos up` on the machine that has the files", n.Source)})
	}
	return probs
}
