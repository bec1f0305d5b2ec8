package cli

import "runtime/debug"

// gcPercent is the garbage collector's target for aos: the heap may grow to three times what
// is live between collections, where Go's default is two.
//
// An operation's garbage is mostly copies of the stack's node records: check-ready lists all
// of them at each turn (38 % of the bytes allocated in `aos up` of 1,000 Deployments). The
// live heap is small beside it (about 40 MB there), so collections came often: 43 in a
// 36-second run. In three alternating pairs on a fresh control plane that stack took 4.83,
// 5.03 and 5.31 s of CPU at 100 against 4.47, 4.80 and 4.54 s at 200 (with a memory limit of
// 300 MiB that a heap that size never nears), for 15 MiB more peak memory (107 → 122 MiB);
// 10,000 ConfigMaps peaked at 350 MiB against 312. Round fourteen of docs/performance.md has
// the runs. No memory limit is set: a stack whose live heap passed one would collect without
// pause. GOGC, when set, is left as it says.
const gcPercent = 200

// tuneGC sets gcPercent unless GOGC is set, and reports the percent it set (0: none).
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return 0
	}
	debug.SetGCPercent(gcPercent)
	return gcPercent
}
