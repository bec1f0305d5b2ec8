package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/template"
)

// ValidateStack is the state machine's validate step: the stored template and inputs are
// checked again, so that a stack recorded by an older version, or tampered with, stops here.
func (e *Engine) ValidateStack(ctx context.Context, req OpRequest) (ValidateResponse, error) {
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return ValidateResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	switch req.Operation {
	case OpDelete, OpRebuild:
		return ValidateResponse{Valid: true, Name: st.Name, Problems: []template.Problem{}, Inputs: []InputInfo{}}, nil
	case OpCreate, OpUpdate, OpRollback, OpRecreate:
	default:
		return ValidateResponse{}, fmt.Errorf("unknown operation %q", req.Operation)
	}
	vals, _, err := e.inputs(st)
	if err != nil {
		return ValidateResponse{}, err
	}
	resp, err := Validate(ctx, TemplateRequest{File: st.File, Template: st.Template, Params: vals})
	if err != nil {
		return resp, err
	}
	if !resp.Valid {
		return resp, &InvalidTemplateError{Problems: resp.Problems}
	}
	return resp, nil
}

// PlanStack is the state machine's plan step. For a create, update or rollback it records
// every node of the revision PENDING (idempotently: a resumed run keeps the nodes it has) and
// answers like CheckReady; for a delete it starts deleting.
func (e *Engine) PlanStack(ctx context.Context, req OpRequest) (CheckResponse, error) {
	switch req.Operation {
	case OpDelete, OpRebuild:
		st, err := e.Store.GetStack(ctx, req.Stack)
		if err == nil && st.Status == StackDeleteInProgress {
			return e.CheckReady(ctx, CheckRequest{Stack: req.Stack, Execution: req.Execution, Spent: planSpent(req), Batched: req.Batched}) // resumed
		}
		return e.startDelete(ctx, req.Stack, req.Operation, req.Execution, planSpent(req), req.Batched)
	case OpRecreate:
		st, err := e.Store.GetStack(ctx, req.Stack)
		if err != nil {
			return CheckResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
		}
		if st.Status == StackDeleteComplete {
			again, err := e.resubmission(st)
			if err != nil {
				return CheckResponse{}, err
			}
			again.Note = "rebuild"
			if _, _, err := e.Submit(ctx, again); err != nil {
				return CheckResponse{}, fmt.Errorf("rebuilding stack %q: %w", st.Name, err)
			}
		}
		// A resumed rebuild finds the stack created already: planning is idempotent.
		req.Operation = OpCreate
	}
	st, err := e.Store.GetStack(ctx, req.Stack)
	if err != nil {
		return CheckResponse{}, fmt.Errorf("stack %q: %w", req.Stack, err)
	}
	if req.Operation == OpRollback && st.Status != StackRollbackInProgress {
		if err := e.startRollback(ctx, st); err != nil {
			return CheckResponse{}, err
		}
	}
	vals, red, err := e.inputs(st)
	if err != nil {
		return CheckResponse{}, err
	}
	r, _, probs := load(TemplateRequest{File: st.File, Template: st.Template, Params: vals})
	if len(probs) > 0 {
		return CheckResponse{}, &InvalidTemplateError{Problems: probs}
	}
	if req.Operation == OpCreate || req.Operation == OpUpdate {
		// Before anything is applied: a misspelt live path would otherwise fail its reader
		// only when the object it reads is READY. (A rollback returns to what ran.)
		if client, err := e.Cluster(ctx, st); err == nil {
			if probs := schemaProblems(ctx, client, r); len(probs) > 0 {
				return CheckResponse{}, &InvalidTemplateError{Problems: probs}
			}
		}
	}
	existing, err := e.Store.ListNodes(ctx, st.Name)
	if err != nil {
		return CheckResponse{}, err
	}
	planned := e.carry(ctx, st, r, existing, planNodes(st, r, existing), vals, red)
	recs := make([]*NodeRecord, len(planned))
	for i, w := range planned {
		w.rec.Version, recs[i] = w.expect, w.rec
	}
	// Side by side (one at a time, 1,000 nodes spent 3.8 s in commits before the first
	// apply); a conflict is a concurrent run of this very step writing the same record.
	if err := e.putNodes(ctx, recs, true); err != nil {
		return CheckResponse{}, fmt.Errorf("recording the plan: %w", err)
	}
	return e.CheckReady(ctx, CheckRequest{Stack: st.Name, Execution: req.Execution, Spent: planSpent(req), Batched: req.Batched})
}

// nodeWrite is one node record to write, conditional on the version read (0: a new record).
type nodeWrite struct {
	rec    *NodeRecord
	expect int64
}

// planNodes decides the node records that start revision st.Revision of a stack from the
// resolved template and the records the stack has: every node of the template PENDING (an
// applied one keeps its object, live values and fingerprint, so an unchanged node is left
// alone), every node the template dropped marked for removal. Records this revision planned
// already (a resumed run) are left as they are.
func planNodes(st *StackRecord, r *template.Resolved, existing []*NodeRecord) []nodeWrite {
	have := make(map[string]*NodeRecord, len(existing))
	for _, n := range existing {
		have[n.ID] = n
	}
	roots := liveRoots(r.Template)
	sensitive := r.Template.SensitiveFields()
	var out []nodeWrite
	wanted := make(map[string]bool, len(r.Instances))
	for _, in := range r.Instances {
		wanted[in.ID] = true
		old := have[in.ID]
		if old != nil && old.planned(st.Revision) {
			continue
		}
		n := in.Node
		nr := &NodeRecord{
			Stack: st.Name, ID: in.ID, Node: n.ID, Index: in.Index, Manifest: n.Manifest, TextRefs: n.TextRefs, Source: n.Source, Stacks: stacksRead(n.Uses), Lookup: n.Lookup,
			DependsOn: r.Graph.DependsOn(in.ID), Dependents: r.Graph.Dependents(in.ID), Timeout: n.Ready.Timeout, Conds: conditions(n.Ready),
			Adopt: n.Adopt, Replace: n.Replace, Retain: retains(n), Status: NodePending, Revision: st.Revision,
		}
		for _, o := range n.Outputs {
			nr.Outputs = append(nr.Outputs, *o)
		}
		nr.Sensitive = sensitive[n.ID]
		if n.ForEach != nil {
			nr.ForEach = n.ForEachSource
		}
		if n.When.Live() {
			nr.When = n.WhenSource
		}
		if keep := roots[in.ID]; !keep[""] {
			nr.Trimmed = true
			for k := range keep {
				nr.Keep = append(nr.Keep, k)
			}
			slices.Sort(nr.Keep)
		}
		if nr.DependsOn == nil {
			nr.DependsOn = []string{}
		}
		w := nodeWrite{rec: nr}
		if old != nil {
			w.expect = old.Version
			if old.Status != NodeDeleted {
				nr.Ref, nr.Live, nr.AppliedHash, nr.Adopted, nr.Drifted = old.Ref, old.Live, old.AppliedHash, old.Adopted, old.Drifted
				nr.Objects = old.Objects
			}
		}
		out = append(out, w)
	}
	for _, old := range existing {
		if wanted[old.ID] || old.Status == NodeDeleted || old.Remove {
			continue
		}
		gone := *old
		gone.Remove, gone.Status, gone.Reason, gone.Message, gone.Revision = true, NodePending, "", "", st.Revision
		out = append(out, nodeWrite{rec: &gone, expect: old.Version})
	}
	return out
}

// retains says a node's object stays when the stack is deleted: deletePolicy retain, or an
// adopting node that does not say deletePolicy: delete (what was there before AOS stays).
func retains(n *template.Node) bool {
	return n.DeletePolicy == "retain" || n.Adopt && !n.DeletePolicySet
}

func conditions(r template.Ready) []kube.Condition {
	var out []kube.Condition
	for _, c := range r.Conditions {
		out = append(out, kube.Condition{Path: c.Path, Op: c.Op, Value: c.Value})
	}
	if r.When != "" {
		out = append(out, kube.Condition{Expr: r.When})
	}
	if r.FailWhen != "" {
		out = append(out, kube.Condition{Expr: r.FailWhen, Fail: true})
	}
	return out
}
