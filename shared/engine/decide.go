package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aos-project/aos/shared/kube"
)

// verdict is what check-ready concludes from a stack's node records: which nodes may start,
// what is still in flight, and whether the operation has ended. The functions in this file
// decide it from the records alone; the engine reads and writes around them.
type verdict struct {
	// Startable are PENDING nodes whose dependencies are all READY (in a delete or a
	// removal: whose dependents are all DELETED).
	Startable []string
	// InFlight counts nodes applied and not yet ready (or being deleted); Pending those not
	// started.
	InFlight, Pending int
	// Failure: some node FAILED. Forward, nothing new starts then.
	Failure bool
	// Failed are nodes that fail by this verdict: Blocked, or removals that failed.
	Failed []string
	// Blocked is a PENDING node waiting on a dependency that can no longer become READY
	// (nothing in flight, nothing startable); Why says which. It is to be recorded FAILED.
	Blocked *NodeRecord
	Why     string
	// Removing are the nodes the new revision dropped, deleted (in reverse dependency order)
	// once every other node is READY; set only then.
	Removing []*NodeRecord
	// Retained: a delete kept some object (deletePolicy: retain), so the stack's namespace
	// stays too.
	Retained bool
	Done     bool
	deleting bool
}

// ended reports whether the operation is over, and if so whether it succeeded: forward, once
// every node is READY or one failed and nothing is in flight; in a delete, once every node is
// DELETED or one failed and nothing else can be deleted.
func (v verdict) ended() (ended, ok bool) {
	switch {
	case v.Done:
		return true, true
	case v.Failure && v.InFlight == 0 && (!v.deleting || len(v.Startable) == 0):
		return true, false
	}
	return false, false
}

// waitSeconds is how long the state machine waits before the next check: with a long poll
// (maxWait > 0) the check itself waits for the next change; without one it waits a second
// while something is in flight and nothing can start.
func (v verdict) waitSeconds(maxWait time.Duration) int {
	if v.InFlight > 0 && len(v.Startable) == 0 && maxWait == 0 {
		return 1
	}
	return 0
}

// decide is the verdict on a create, update or rollback.
func decide(nodes []*NodeRecord) verdict { return decideIn(nodes, index(nodes)) }

// index maps a stack's records by node id. A check builds it once and decides on it again as
// its nodes change: their statuses change, not which records they are.
func index(nodes []*NodeRecord) map[string]*NodeRecord {
	byID := make(map[string]*NodeRecord, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	return byID
}

// decideIn is decide with nodes indexed by id (index).
func decideIn(nodes []*NodeRecord, byID map[string]*NodeRecord) verdict {
	v := verdict{Startable: []string{}}
	ready := func(id string) bool { return byID[id] != nil && byID[id].passed() }
	var removals []*NodeRecord
	for _, n := range nodes {
		if n.Remove {
			if n.Status != NodeDeleted {
				removals = append(removals, n)
			}
			continue
		}
		switch n.Status {
		case NodeWaiting:
			v.InFlight++
		case NodeFailed:
			v.Failure = true
		case NodePending:
			v.Pending++
			if !slices.ContainsFunc(n.DependsOn, func(d string) bool { return !ready(d) }) {
				v.Startable = append(v.Startable, n.ID)
			}
		}
	}
	if !v.Failure && v.InFlight == 0 && v.Pending > 0 && len(v.Startable) == 0 {
		// Nothing runs and nothing can start: a node waits on one that will never be READY.
		// Fail it with the reason rather than loop.
		i := slices.IndexFunc(nodes, func(n *NodeRecord) bool { return n.Status == NodePending && !n.Remove })
		n := nodes[i]
		var unmet []string
		for _, d := range n.DependsOn {
			if !ready(d) {
				st := "missing"
				if byID[d] != nil {
					st = string(byID[d].Status)
				}
				unmet = append(unmet, fmt.Sprintf("%s (%s)", d, st))
			}
		}
		v.Blocked, v.Why = n, "waits for "+strings.Join(unmet, ", ")+", which cannot become READY"
		v.Failure, v.Failed = true, []string{n.ID}
	}
	if v.Failure {
		v.Startable = []string{}
	}
	if !v.Failure && v.InFlight == 0 && v.Pending == 0 && len(removals) > 0 {
		// Every node of the new revision is READY: now delete what it no longer has.
		v.Removing = removals
		tallyDeletion(removals, &v)
	}
	v.Done = !v.Failure && v.InFlight == 0 && v.Pending == 0
	return v
}

// decideDelete is the verdict on a delete.
func decideDelete(nodes []*NodeRecord) verdict {
	v := verdict{Startable: []string{}, deleting: true}
	tallyDeletion(nodes, &v)
	for _, n := range nodes {
		v.Retained = v.Retained || n.Status == NodeDeleted && n.Reason == "Retained"
	}
	v.Done = !v.Failure && v.InFlight == 0 && v.Pending == 0
	return v
}

// tallyDeletion counts, for nodes being deleted, those in flight, failed and pending, and
// hands out the pending ones whose dependents (among nodes) are all DELETED.
func tallyDeletion(nodes []*NodeRecord, v *verdict) {
	dependents := map[string][]*NodeRecord{}
	for _, n := range nodes {
		for _, d := range n.DependsOn {
			dependents[d] = append(dependents[d], n)
		}
	}
	for _, n := range nodes {
		switch n.Status {
		case NodeDeleting:
			v.InFlight++
		case NodeFailed:
			v.Failure = true
			v.Failed = append(v.Failed, n.ID)
		case NodePending:
			v.Pending++
			if !slices.ContainsFunc(dependents[n.ID], func(d *NodeRecord) bool { return d.Status != NodeDeleted }) {
				v.Startable = append(v.Startable, n.ID)
			}
		}
	}
}

// judge is the verdict on one applied node's live object at now: kube.Evaluate's, except that
// a node still waiting past its ready.timeout has failed.
func judge(n *NodeRecord, r kube.Readiness, now time.Time) kube.Readiness {
	if r.Phase == kube.PhaseWaiting && now.Sub(n.AppliedAt) > n.Timeout {
		return kube.Readiness{Phase: kube.PhaseFailed, Reason: "Timeout",
			Message: fmt.Sprintf("not ready after %s (ready.timeout); last seen: %s: %s", n.Timeout, r.Reason, r.Message)}
	}
	return r
}

// watchBudget is how long a check may watch the in-flight nodes for a change: maxWait, or
// less when a node's ready.timeout falls due sooner.
func watchBudget(inflight []*NodeRecord, now time.Time, maxWait time.Duration) time.Duration {
	wait := maxWait
	for _, n := range inflight {
		if left := n.Timeout - now.Sub(n.AppliedAt); left < wait {
			wait = max(left, 0)
		}
	}
	return wait
}
