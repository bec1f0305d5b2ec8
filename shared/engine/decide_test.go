package engine

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aos-project/aos/shared/kube"
)

// These tests run with no store and no cluster: the decisions are functions of the records.

// recs builds node records from "id:STATUS<-dep,dep" specs; a leading "-" marks a node the
// new revision dropped (Remove).
func recs(specs ...string) []*NodeRecord {
	var out []*NodeRecord
	for _, s := range specs {
		n := &NodeRecord{DependsOn: []string{}}
		if rest, ok := strings.CutPrefix(s, "-"); ok {
			n.Remove, s = true, rest
		}
		head, deps, _ := strings.Cut(s, "<-")
		id, status, _ := strings.Cut(head, ":")
		n.ID, n.Status = id, NodeStatus(status)
		if deps != "" {
			n.DependsOn = strings.Split(deps, ",")
		}
		if n.Status == NodeDeleted && strings.HasSuffix(id, "-kept") {
			n.Reason = "Retained"
		}
		if strings.HasSuffix(id, "-off") {
			n.Reason = ReasonWhenFalse // its live when was false
		}
		out = append(out, n)
	}
	return out
}

type want struct {
	startable         []string
	inFlight, pending int
	failure, done     bool
	ended, ok         bool
	failed            []string
	blocked           string
	removing          int
}

func check(t *testing.T, name string, v verdict, w want) {
	t.Helper()
	ended, ok := v.ended()
	got := want{startable: v.Startable, inFlight: v.InFlight, pending: v.Pending, failure: v.Failure, done: v.Done,
		ended: ended, ok: ok, failed: v.Failed, removing: len(v.Removing)}
	if v.Blocked != nil {
		got.blocked = v.Blocked.ID
	}
	if w.startable == nil {
		w.startable = []string{}
	}
	if !reflect.DeepEqual(got, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", name, got, w)
	}
}

func TestDecideForward(t *testing.T) {
	cases := []struct {
		name  string
		nodes []*NodeRecord
		want  want
	}{
		{"chain: only the head starts", recs("a:PENDING", "b:PENDING<-a", "c:PENDING<-b"),
			want{startable: []string{"a"}, pending: 3}},
		{"chain: the next waits for READY, not for applied", recs("a:WAITING", "b:PENDING<-a", "c:PENDING<-b"),
			want{inFlight: 1, pending: 2}},
		{"chain: READY starts the next", recs("a:READY", "b:PENDING<-a", "c:PENDING<-b"),
			want{startable: []string{"b"}, pending: 2}},
		{"chain: all READY is done", recs("a:READY", "b:READY<-a", "c:READY<-b"),
			want{done: true, ended: true, ok: true}},
		{"fan-out: every child at once", recs("root:READY", "x:PENDING<-root", "y:PENDING<-root", "z:PENDING<-root"),
			want{startable: []string{"x", "y", "z"}, pending: 3}},
		{"fan-out: independent roots at once", recs("x:PENDING", "y:PENDING", "z:PENDING<-x"),
			want{startable: []string{"x", "y"}, pending: 3}},
		{"diamond: the join waits for both sides", recs("a:READY", "b:READY<-a", "c:WAITING<-a", "d:PENDING<-b,c"),
			want{inFlight: 1, pending: 1}},
		{"diamond: the join starts when both are READY", recs("a:READY", "b:READY<-a", "c:READY<-a", "d:PENDING<-b,c"),
			want{startable: []string{"d"}, pending: 1}},
		{"failure with nodes in flight: nothing new starts, the run waits for them", recs("a:FAILED", "b:WAITING", "c:PENDING"),
			want{inFlight: 1, pending: 1, failure: true}},
		{"failure once nothing is in flight: the operation has failed", recs("a:FAILED", "b:READY", "c:PENDING<-a"),
			want{pending: 1, failure: true, ended: true}},
		{"blocked: a dependency that cannot become READY fails its dependent", recs("a:READY", "b:PENDING<-a,gone"),
			want{pending: 1, failure: true, ended: true, failed: []string{"b"}, blocked: "b"}},
		{"resumed after a crash: READY stays, in flight is watched, the rest starts", recs("a:READY", "b:WAITING<-a", "c:PENDING<-a", "d:PENDING<-b"),
			want{startable: []string{"c"}, inFlight: 1, pending: 2}},
		{"removal waits until the new revision is READY", recs("a:WAITING", "-old:PENDING"),
			want{inFlight: 1}},
		{"removal in reverse order once it is", recs("a:READY", "-old:PENDING", "-older:PENDING<-old"),
			want{startable: []string{"older"}, pending: 2, removing: 2}},
		{"removal in flight", recs("a:READY", "-old:DELETING"),
			want{inFlight: 1, removing: 1}},
		{"removal done", recs("a:READY", "-old:DELETED"),
			want{done: true, ended: true, ok: true}},
		{"removal failed", recs("a:READY", "-old:FAILED"),
			want{failure: true, ended: true, failed: []string{"old"}, removing: 1}},
		{"a node its when left out starts its dependents as READY does", recs("a:READY", "b-off:SKIPPED<-a", "c:PENDING<-b-off"),
			want{startable: []string{"c"}, pending: 1}},
		{"left out, ending the run", recs("a:READY", "b-off:SKIPPED<-a"),
			want{done: true, ended: true, ok: true}},
		{"left out with an object of an earlier revision: dependents start, the object goes last", recs("a:READY", "-b-off:PENDING<-a", "c:PENDING<-b-off"),
			want{startable: []string{"c"}, pending: 1}},
		{"… and goes once the rest is READY", recs("a:READY", "-b-off:PENDING<-a", "c:READY<-b-off"),
			want{startable: []string{"b-off"}, pending: 1, removing: 1}},
		{"a FAILED dependency is not passed", recs("a:FAILED", "b:PENDING<-a"),
			want{pending: 1, failure: true, ended: true}},
	}
	for _, c := range cases {
		check(t, c.name, decide(c.nodes), c.want)
	}
}

func TestDecideBlockedSaysWhy(t *testing.T) {
	v := decide(recs("a:FAILED", "b:PENDING<-a,x"))
	if v.Blocked != nil {
		t.Fatalf("a FAILED node is the failure; nothing is blocked: %+v", v)
	}
	v = decide(recs("a:DELETED", "b:PENDING<-a,x"))
	if v.Blocked == nil || v.Why != "waits for a (DELETED), x (missing), which cannot become READY" {
		t.Fatalf("blocked = %+v %q", v.Blocked, v.Why)
	}
}

func TestDecideDelete(t *testing.T) {
	cases := []struct {
		name  string
		nodes []*NodeRecord
		want  want
	}{
		{"chain: the last node first", recs("a:PENDING", "b:PENDING<-a", "c:PENDING<-b"),
			want{startable: []string{"c"}, pending: 3}},
		{"chain: a node goes once its dependents are DELETED", recs("a:PENDING", "b:DELETING<-a", "c:DELETED<-b"),
			want{inFlight: 1, pending: 1}},
		{"fan-out: every leaf at once, the root last", recs("root:PENDING", "x:PENDING<-root", "y:PENDING<-root"),
			want{startable: []string{"x", "y"}, pending: 3}},
		{"delete with a retained node: kept, and counted as deleted", recs("db-kept:DELETED", "app:DELETED<-db-kept"),
			want{done: true, ended: true, ok: true}},
		{"a failure does not stop other branches", recs("a:FAILED", "b:PENDING"),
			want{startable: []string{"b"}, pending: 1, failure: true, failed: []string{"a"}}},
		{"a failure ends the delete once nothing else can go", recs("root:PENDING", "a:FAILED<-root", "b:DELETED<-root"),
			want{pending: 1, failure: true, ended: true, failed: []string{"a"}}},
	}
	for _, c := range cases {
		check(t, c.name, decideDelete(c.nodes), c.want)
	}
	if v := decideDelete(recs("db-kept:DELETED", "app:DELETED<-db-kept")); !v.Retained {
		t.Error("a retained node keeps the namespace")
	}
	if v := decideDelete(recs("db:DELETED", "app:DELETED<-db")); v.Retained {
		t.Error("nothing retained, yet the namespace would stay")
	}
}

func TestWaitSeconds(t *testing.T) {
	v := decide(recs("a:WAITING", "b:PENDING<-a"))
	if v.waitSeconds(0) != 1 || v.waitSeconds(time.Second) != 0 {
		t.Errorf("in flight, nothing startable: wait %d without a long poll, %d with", v.waitSeconds(0), v.waitSeconds(time.Second))
	}
	if v := decide(recs("a:WAITING", "b:PENDING")); v.waitSeconds(0) != 0 {
		t.Error("something is startable: no wait")
	}
}

func TestJudgeTimesOutAWaitingNode(t *testing.T) {
	applied := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	n := &NodeRecord{AppliedAt: applied, Timeout: time.Minute}
	waiting := kube.Readiness{Phase: kube.PhaseWaiting, Reason: "Progressing", Message: "1 of 2 replicas"}
	if r := judge(n, waiting, applied.Add(59*time.Second)); r != waiting {
		t.Errorf("before the timeout: %+v", r)
	}
	r := judge(n, waiting, applied.Add(61*time.Second))
	if r.Phase != kube.PhaseFailed || r.Reason != "Timeout" || !strings.Contains(r.Message, "not ready after 1m0s (ready.timeout); last seen: Progressing: 1 of 2 replicas") {
		t.Errorf("after the timeout: %+v", r)
	}
	ready := kube.Readiness{Phase: kube.PhaseReady}
	if r := judge(n, ready, applied.Add(time.Hour)); r != ready {
		t.Errorf("READY late is READY: %+v", r)
	}
}

func TestWatchBudget(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	nodes := []*NodeRecord{{AppliedAt: now.Add(-50 * time.Second), Timeout: time.Minute}, {AppliedAt: now, Timeout: time.Hour}}
	if got := watchBudget(nodes, now, 20*time.Second); got != 10*time.Second {
		t.Errorf("a timeout due in 10s: watch %s", got)
	}
	if got := watchBudget(nodes[1:], now, 20*time.Second); got != 20*time.Second {
		t.Errorf("no timeout due: watch %s", got)
	}
	late := []*NodeRecord{{AppliedAt: now.Add(-2 * time.Minute), Timeout: time.Minute}}
	if got := watchBudget(late, now, 20*time.Second); got != 0 {
		t.Errorf("a timeout past due: watch %s", got)
	}
}
