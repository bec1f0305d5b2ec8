package cli

import (
	"runtime/debug"
	"testing"
)

func TestGCTargetIsRaisedUnlessGOGCSaysOtherwise(t *testing.T) {
	was := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(was) })
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}
	}
	if got := tuneGC(env("50")); got != 0 || debug.SetGCPercent(100) != 100 {
		t.Fatalf("GOGC=50 set: tuneGC set %d", got)
	}
	if got := tuneGC(env("")); got != gcPercent || debug.SetGCPercent(100) != gcPercent {
		t.Fatalf("GOGC unset: tuneGC set %d, want %d", got, gcPercent)
	}
}
