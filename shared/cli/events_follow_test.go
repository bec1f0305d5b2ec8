package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/store/bolt"
)

// An operation's end reaches the stack record before the event log (engine/finish.go): a
// follower that reads the log, then finds the stack settled, waits for the end's event
// instead of stopping one event short. And it does not wait for ever for an event that
// never comes.
func TestFollowEventsWaitsForTheLastEvent(t *testing.T) {
	ctx := context.Background()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e := &engine.Engine{Store: s}
	for _, tc := range []struct {
		stack string
		late  bool // the end's event is appended 300 ms after the record settles
	}{{"late", true}, {"lost", false}} {
		st := &engine.StackRecord{Name: tc.stack, Status: engine.StackCreateComplete, Revision: 1}
		if err := s.PutStack(ctx, st, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvent(ctx, &engine.Event{Stack: tc.stack, Time: time.Now(), Node: "a", Status: "READY"}); err != nil {
			t.Fatal(err)
		}
		if tc.late {
			time.AfterFunc(300*time.Millisecond, func() {
				_ = s.AppendEvent(ctx, &engine.Event{Stack: tc.stack, Time: time.Now(), Status: string(engine.StackCreateComplete)})
			})
		}
		var out bytes.Buffer
		a := &app{stdout: &out}
		start := time.Now()
		if err := a.followEvents(ctx, e, tc.stack, 0, "text"); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		got := strings.Contains(out.String(), string(engine.StackCreateComplete))
		switch {
		case tc.late && !got:
			t.Errorf("%s: the follower stopped before the operation's last event:\n%s", tc.stack, out.String())
		case !tc.late && (took < finalEventWait || took > finalEventWait+time.Second):
			t.Errorf("%s: with no last event the follower stopped after %v, want about %v", tc.stack, took, finalEventWait)
		}
	}
}
