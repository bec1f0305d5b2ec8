package engine

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// resumeFrom is the AppliedRV of a node req applied to obj: its version when the state
// machine's Map applied it (TellLater: the check after the Map reads it, and checks after
// that may resume it), else none.
func resumeFrom(req NodeRequest, obj *unstructured.Unstructured) string {
	if !req.TellLater || obj == nil {
		return ""
	}
	return obj.GetResourceVersion()
}

// A check used to read every in-flight object again: on a stack of 1,000 Deployments, 20
// levels of 50, that was 7,565 GETs, each decoded, for 1,000 nodes (about a quarter of the
// CPU profile's samples). Most of them read an object that had not changed since the check
// before read it. A check now answers Since, per kind and namespace the resourceVersion up to
// which it saw every change to the stack's objects; the state machine hands it to the next
// check, which reads only what it must (fresh, below) and learns the rest from a watch from
// Since: the API server sends the changes since at once, then as they happen.
//
// A node the next check resumes was WAITING when it was last judged, by the check before or
// by the apply the Map in between made, and nothing but its object's changes can have moved
// it since. The Map's apply-node judged its node on the object the server answered the apply
// with (apply_ready.go: a node READY there is recorded READY) and kept that object's version
// (AppliedRV, resumeFrom). Every later change has a version above both that and Since, so the
// watch from Since hands it on; and an apply that changed nothing needs no change to tell of
// it. Until round fourteen each node the Map applied was read again by the next check: 1,000
// GETs on the stack of 1,000 Deployments, 6 % of its CPU.
//
// Not resumed: a chart, a folder or a lookup (several objects, or none with the stack's
// label); a node whose ready.timeout has passed (a read judges it); one that has waited
// progressAfter with its progress not yet recorded (a read records it, for status views). A
// follower (EnvFollow) applies nodes while checks run, and no check can tell which it applied
// after reading the records: so only an apply the Map made keeps the object's version, and a
// node without one is read at every check. Changes older than a node's apply are dropped
// (AppliedRV): a watch from an earlier version replays them, and an updated object's old
// generation can read as ready.
//
// Whatever goes wrong (Since too old for the API server, a watch that ends, versions that do
// not compare) ends in reading everything, as before.

// resumable reports whether the check may learn n's state from a watch from since (the
// version of n's kind and namespace the check before answered; "" when it answered none)
// instead of reading it.
func resumable(n *NodeRecord, since string, following bool, now time.Time) bool {
	switch {
	case following, since == "", n.Status != NodeWaiting, n.Source != "", n.Lookup, n.Ref == nil:
		return false
	case now.Sub(n.AppliedAt) >= n.Timeout:
		return false
	case now.Sub(n.AppliedAt) >= progressAfter && !progressNoted(n):
		// A node that has waited long enough for someone to ask why is read once, so that
		// its progress is recorded (evaluate) even if its object never changes again.
		return false
	}
	_, err := resourceversion.CompareResourceVersion(n.AppliedRV, since)
	return err == nil
}

// progressNoted reports whether a check has recorded n's progress since its apply: the apply
// leaves its own reason (reasonApplied, reasonUnchanged), and evaluate replaces it once n has
// waited progressAfter.
func progressNoted(n *NodeRecord) bool {
	return n.Reason != reasonApplied && n.Reason != reasonUnchanged
}

// quick reports whether a watch may pass over changes to n's object that leave it rolling
// (kube.Target.Quick): n is judged by the built-in rules alone, and is young enough that no
// change of its reason is recorded (progressAfter; a check that finds it older reads it and
// records its progress) and no timeout can fall due while it waits (watchBudget ends the
// watch first).
func quick(n *NodeRecord, now time.Time) bool {
	return len(n.Conds) == 0 && n.Source == "" && !n.Lookup && now.Sub(n.AppliedAt) < min(progressAfter, n.Timeout)
}
