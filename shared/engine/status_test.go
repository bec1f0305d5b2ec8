package engine

import (
	"strings"
	"testing"
)

func TestStackStatusTable(t *testing.T) {
	cases := []struct {
		s                    StackStatus
		inProgress, terminal bool
		ok, failed           StackStatus
	}{
		{StackCreateInProgress, true, false, StackCreateComplete, StackCreateFailed},
		{StackUpdateInProgress, true, false, StackUpdateComplete, StackUpdateFailed},
		{StackRollbackInProgress, true, false, StackRollbackComplete, StackRollbackFailed},
		{StackDeleteInProgress, true, false, StackDeleteComplete, StackDeleteFailed},
		{StackCreateComplete, false, true, StackCreateComplete, StackCreateComplete},
		{StackUpdateFailed, false, true, StackUpdateFailed, StackUpdateFailed},
		{StackRollbackComplete, false, true, StackRollbackComplete, StackRollbackComplete},
		{StackDeleteComplete, false, true, StackDeleteComplete, StackDeleteComplete},
		{"", false, false, "", ""},
		{"SOMETHING_IN_PROGRESS", false, false, "SOMETHING_IN_PROGRESS", "SOMETHING_IN_PROGRESS"},
	}
	for _, c := range cases {
		if c.s.InProgress() != c.inProgress || c.s.Terminal() != c.terminal || c.s.Outcome(true) != c.ok || c.s.Outcome(false) != c.failed {
			t.Errorf("%q: in progress %v, terminal %v, outcome %s / %s", c.s, c.s.InProgress(), c.s.Terminal(), c.s.Outcome(true), c.s.Outcome(false))
		}
	}
	for op, p := range operations {
		for _, s := range []StackStatus{p.InProgress, p.Complete, p.Failed} {
			if got, ok := phasesOf(s); !ok || got != p {
				t.Errorf("%s: %s belongs to %+v", op, s, got)
			}
		}
	}
}

func TestSubmission(t *testing.T) {
	stack := func(s StackStatus) *StackRecord { return &StackRecord{Name: "web", Namespace: "web", Status: s} }
	cases := []struct {
		cur       *StackRecord
		namespace string
		want      submitKind
		err       string
	}{
		{nil, "", submitNew, ""},
		{stack(StackDeleteComplete), "elsewhere", submitAfterDelete, ""},
		{stack(StackCreateFailed), "", submitRetryCreate, ""},
		{stack(StackCreateFailed), "elsewhere", 0, `stack "web" lives in namespace "web"; delete it`},
		{stack(StackCreateComplete), "web", submitUpdate, ""},
		{stack(StackUpdateFailed), "", submitUpdate, ""},
		{stack(StackRollbackComplete), "", submitUpdate, ""},
		{stack(StackRollbackFailed), "", submitUpdate, ""},
		{stack(StackUpdateComplete), "elsewhere", 0, "an update cannot move it (copy it instead)"},
		{stack(StackUpdateInProgress), "", 0, `stack "web" is busy: update_in_progress`},
		{stack(StackDeleteInProgress), "", 0, `stack "web" is busy: delete_in_progress`},
		{stack(StackDeleteFailed), "", 0, `stack "web" is DELETE_FAILED: delete it first`},
	}
	for _, c := range cases {
		got, err := submission(c.cur, c.namespace)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%v in %q: %v, %v; want %v", c.cur, c.namespace, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v in %q: error %v; want %q", c.cur, c.namespace, err, c.err)
		}
	}
}
