package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog/log"

	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/refs"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/template"
)

// An update that changes 10 nodes of 1,000 used to cost what a create does: every node was
// written PENDING, applied as Unchanged (a GET, a write and an event) and confirmed READY (a
// write and an event). A node whose render cannot change is now carried instead: it stays
// READY as it is, with no apply, no write and no event, and its dependents may start at once.

// definition is what a node record says about how to render and judge the node: the fields
// planNodes takes from the template. Two records with the same definition render alike from
// the same inputs and the same live values of their dependencies.
type definition struct {
	Node      string
	Index     int
	Manifest  map[string]any
	Source    string
	Lookup    bool
	Stacks    []string
	TextRefs  []string
	DependsOn []string
	Timeout   time.Duration
	Conds     []kube.Condition
	Outputs   []template.NodeOutput
	ForEach   string
	When      string
	Adopt     bool
	Replace   bool
	Retain    bool
	Sensitive []string
	Trimmed   bool
	Keep      []string
}

func definitionOf(n *NodeRecord) string {
	return fingerprint(definition{
		Node: n.Node, Index: n.Index, Manifest: n.Manifest, Source: n.Source, Lookup: n.Lookup, Stacks: n.Stacks,
		TextRefs: n.TextRefs, DependsOn: n.DependsOn, Timeout: n.Timeout, Conds: n.Conds, Outputs: n.Outputs,
		ForEach: n.ForEach, When: n.When, Adopt: n.Adopt, Replace: n.Replace, Retain: n.Retain,
		Sensitive: n.Sensitive, Trimmed: n.Trimmed, Keep: n.Keep,
	})
}

// carryCandidates are the records of the planned nodes an update may carry, before the cluster
// is asked: READY, not found drifted, defined as when last applied, reading no input that
// changed (changed: by name), and holding no chart, lookup or other stack's outputs, whose
// renders depend on what the template does not say (files, a chart repository, objects and
// stacks that change on their own).
func carryCandidates(planned []nodeWrite, have map[string]*NodeRecord, r *template.Resolved, changed map[string]bool) map[string]*NodeRecord {
	reads := make(map[string]*template.Node, len(r.Instances))
	for _, in := range r.Instances {
		reads[in.ID] = in.Node
	}
	out := map[string]*NodeRecord{}
	for _, w := range planned {
		nr, old := w.rec, have[w.rec.ID]
		if old == nil || nr.Remove || old.Status != NodeReady || old.Remove || old.Drifted || old.Ref == nil ||
			nr.Source != "" || nr.Lookup || len(nr.Stacks) > 0 || definitionOf(old) != definitionOf(nr) {
			continue
		}
		if n := reads[nr.ID]; n == nil || readsAny(n.Uses, changed) {
			continue
		}
		out[nr.ID] = old
	}
	return out
}

func readsAny(uses []template.Use, inputs map[string]bool) bool {
	for _, u := range uses {
		if u.Ref.Root == refs.RootInputs && inputs[u.Ref.Name] {
			return true
		}
	}
	return false
}

// carriedClosure keeps of the nodes that are fresh only those that read (reads: instance id →
// template node ids its references name) no node applied again: a node applied again may
// show new live values to its readers. A node that only comes after it (dependsOn) reads
// nothing of it, and is carried.
func carriedClosure(planned []nodeWrite, fresh map[string]bool, reads map[string]map[string]bool) map[string]bool {
	byID := make(map[string]*NodeRecord, len(planned))
	for _, w := range planned {
		byID[w.rec.ID] = w.rec
	}
	out := make(map[string]bool, len(fresh))
	for id, ok := range fresh {
		if ok {
			out[id] = true
		}
	}
	for again := true; again; {
		again = false
		for id := range out {
			for _, d := range byID[id].DependsOn {
				if dep := byID[d]; dep != nil && !out[d] && reads[id][dep.Node] {
					delete(out, id)
					again = true
					break
				}
			}
		}
	}
	return out
}

// nodesRead maps each instance to the template nodes its references read.
func nodesRead(r *template.Resolved) map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(r.Instances))
	for _, in := range r.Instances {
		m := map[string]bool{}
		for _, u := range in.Node.Uses {
			if u.Ref.Root == refs.RootNodes {
				m[u.Ref.Name] = true
			}
		}
		out[in.ID] = m
	}
	return out
}

// carry drops from an update's planned writes the nodes it carries, and says so in one event.
// Anything that stops it from looking (the cluster unreachable, a kind unknown) carries
// nothing: the nodes then go the long way, which is correct, only slower.
func (e *Engine) carry(ctx context.Context, st *StackRecord, r *template.Resolved, existing []*NodeRecord, planned []nodeWrite, vals map[string]any, red *secrets.Redactor) []nodeWrite {
	if st.Operation != OpUpdate || st.Previous == nil || st.Previous.Number != st.Revision-1 {
		// Only an update from a settled, good revision knows what its nodes were applied
		// with: the previous revision's inputs.
		return planned
	}
	was, _, err := e.inputs(&StackRecord{Name: st.Name, Inputs: st.Previous.Inputs, Sealed: st.Previous.Sealed})
	if err != nil {
		return planned
	}
	changed := map[string]bool{}
	for _, c := range inputChanges(was, vals, func(string) bool { return true }) {
		changed[c.Name] = true
	}
	have := make(map[string]*NodeRecord, len(existing))
	for _, n := range existing {
		have[n.ID] = n
	}
	cands := carryCandidates(planned, have, r, changed)
	if len(cands) == 0 {
		return planned
	}
	fresh, err := e.observeCandidates(ctx, st, existing, cands, red)
	if err != nil {
		log.Ctx(ctx).Debug().Err(err).Str("stack", st.Name).Msg("not carrying unchanged nodes: their objects could not be read")
		return planned
	}
	keep := carriedClosure(planned, fresh, nodesRead(r))
	if len(keep) == 0 {
		return planned
	}
	out := planned[:0:0]
	for _, w := range planned {
		if !keep[w.rec.ID] {
			out = append(out, w)
		}
	}
	e.event(ctx, st.Name, "", string(st.Status), "Unchanged", fmt.Sprintf("%d node(s) unchanged and READY: left as they are", len(keep)))
	return out
}

// observeCandidates reads the candidates' objects (a LIST per kind and namespace where most of
// the stack's objects there are candidates): a candidate is fresh when its object is there,
// ready by the node's rules, and shows the live values its dependents were rendered from.
func (e *Engine) observeCandidates(ctx context.Context, st *StackRecord, existing []*NodeRecord, cands map[string]*NodeRecord, red *secrets.Redactor) (map[string]bool, error) {
	client, err := e.Cluster(ctx, st)
	if err != nil {
		return nil, err
	}
	targets := make([]kube.Target, 0, len(cands))
	for id, n := range cands {
		targets = append(targets, kube.Target{ID: id, Ref: *n.Ref})
	}
	snap, err := client.Fetch(ctx, st.Name, targets, client.Groups(ctx, applied(existing)))
	if err != nil {
		return nil, err
	}
	fresh := make(map[string]bool, len(cands))
	for id, n := range cands {
		u := snap.Objects[id]
		if u == nil || kube.Evaluate(u, n.Conds).Phase != kube.PhaseReady {
			continue
		}
		// Its dependents were rendered from the live values it had: they must be the same.
		fresh[id] = fingerprint(captureLive(u, red, n)) == fingerprint(n.Live)
	}
	return fresh, nil
}
