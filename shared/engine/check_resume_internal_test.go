package engine

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aos-project/aos/shared/kube"
)

func TestResumableIsAWaitingObjectTheCheckBeforeJudged(t *testing.T) {
	now := time.Now()
	base := func() *NodeRecord {
		return &NodeRecord{ID: "a", Status: NodeWaiting, Ref: &kube.Ref{Name: "a"}, AppliedRV: "120",
			AppliedAt: now.Add(-time.Second), Timeout: time.Minute}
	}
	if !resumable(base(), "150", false, now) {
		t.Fatal("a WAITING Deployment the check before judged is not resumed")
	}
	// The Map's apply judged it on the object the server answered with, and kept its version.
	applied := base()
	applied.AppliedRV, applied.AppliedAt, applied.Reason = "140", now.Add(-10*time.Millisecond), reasonApplied
	if !resumable(applied, "130", false, now) {
		t.Fatal("a node the Map before applied, WAITING on its apply, is not resumed")
	}
	noted := base()
	noted.AppliedAt, noted.Reason = now.Add(-progressAfter), "InProgress"
	if !resumable(noted, "150", false, now) {
		t.Fatal("a node whose progress a check has noted is not resumed")
	}
	for why, tc := range map[string]struct {
		n         func(*NodeRecord)
		since     string
		following bool
	}{
		"no version from the check before":  {since: ""},
		"followers may have applied nodes":  {since: "150", following: true},
		"not WAITING":                       {since: "150", n: func(n *NodeRecord) { n.Status = NodeReady }},
		"a chart":                           {since: "150", n: func(n *NodeRecord) { n.Source = "chart" }},
		"a lookup":                          {since: "150", n: func(n *NodeRecord) { n.Lookup = true }},
		"no object":                         {since: "150", n: func(n *NodeRecord) { n.Ref = nil }},
		"its ready.timeout has passed":      {since: "150", n: func(n *NodeRecord) { n.AppliedAt = now.Add(-2 * time.Minute) }},
		"applied before versions were kept": {since: "150", n: func(n *NodeRecord) { n.AppliedRV = "" }},
		"a version that does not compare":   {since: "v150"},
		"waiting past progressAfter, its progress not yet noted": {since: "150", n: func(n *NodeRecord) {
			n.AppliedAt, n.Reason = now.Add(-progressAfter), "Applied"
		}},
	} {
		n := base()
		if tc.n != nil {
			tc.n(n)
		}
		if resumable(n, tc.since, tc.following, now) {
			t.Errorf("%s: resumed", why)
		}
	}
}

// Only the Map's applies keep a version to resume from: a follower applies beside checks that
// cannot tell it did, so its nodes are read at every check.
func TestOnlyTheMapsAppliesKeepAVersion(t *testing.T) {
	obj := &unstructured.Unstructured{}
	obj.SetResourceVersion("42")
	if got := resumeFrom(NodeRequest{TellLater: true}, obj); got != "42" {
		t.Fatalf("a Map's apply keeps %q", got)
	}
	if got := resumeFrom(NodeRequest{}, obj); got != "" {
		t.Fatalf("a follower's apply keeps %q", got)
	}
}

// A watch may pass over a node's rolling changes only where nothing but READY or FAILED would
// be recorded of them: no conditions of its own, and too young for its progress to be noted
// or its timeout to fall due.
func TestQuickIsAYoungNodeJudgedByTheBuiltInRules(t *testing.T) {
	now := time.Now()
	base := func() *NodeRecord {
		return &NodeRecord{ID: "a", Status: NodeWaiting, Ref: &kube.Ref{Name: "a"}, AppliedAt: now.Add(-time.Second), Timeout: time.Minute}
	}
	if !quick(base(), now) {
		t.Fatal("a Deployment applied a second ago is not quick")
	}
	for why, change := range map[string]func(*NodeRecord){
		"ready.conditions":            func(n *NodeRecord) { n.Conds = []kube.Condition{{Expr: "true"}} },
		"ready.failWhen":              func(n *NodeRecord) { n.Conds = []kube.Condition{{Expr: "true", Fail: true}} },
		"a chart":                     func(n *NodeRecord) { n.Source = "chart" },
		"a lookup":                    func(n *NodeRecord) { n.Lookup = true },
		"waiting past progressAfter":  func(n *NodeRecord) { n.AppliedAt = now.Add(-progressAfter) },
		"its ready.timeout is passed": func(n *NodeRecord) { n.Timeout = 500 * time.Millisecond },
	} {
		n := base()
		change(n)
		if quick(n, now) {
			t.Errorf("%s: quick", why)
		}
	}
}
