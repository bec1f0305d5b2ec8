package engine

import (
	"strings"
	"testing"
)

// A node its when left out reads as absent: an optional read gets its default, a plain one
// fails saying the node was SKIPPED and how to read it instead.
func TestLeftOutNodesReadAsAbsent(t *testing.T) {
	sc := newScope(&StackRecord{Name: "s", Namespace: "s"}, map[string]any{}, -1)
	sc.see(&NodeRecord{ID: "cache", Status: NodeSkipped, Reason: ReasonWhenFalse})
	sc.see(&NodeRecord{ID: "flags", Status: NodeReady, Live: map[string]any{"data": map[string]any{"cache": "on", "n": "3"}}})
	for src, want := range map[string]string{
		`${nodes.?cache.data.size.orValue("none")}`:             "none",
		`${nodes.?cache.hasValue() ? "with" : "without"} cache`: "without cache",
		`${nodes.flags.data.cache}`:                             "on",
	} {
		got, err := render(src, sc, nil)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %q", src, got, err, want)
		}
	}
	for src, want := range map[string]string{
		`${nodes.cache.data.size}`:       `node "cache" is SKIPPED (its when was false, so it was left out)`,
		`${nodes.cache.data.size + "x"}`: `no such key: cache: ${nodes.cache}: node "cache" is SKIPPED (its when was false, so it was left out) (read it as nodes.?ID`,
	} {
		if _, err := render(src, sc, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", src, err, want)
		}
	}
	for src, want := range map[string]any{
		`${nodes.flags.data.cache == "on"}`:   true,
		`${int(nodes.flags.data.n) > 5}`:      false,
		`${nodes.?cache.hasValue()}`:          false,
		`${nodes.flags.data.cache}`:           `when: ${nodes.flags.data.cache} is text, not true or false (live values such as a ConfigMap's data are text: compare, as in ${nodes.flags.data.cache == "on"})`,
		`${nodes.cache.metadata.name == "x"}`: `node "cache" is SKIPPED`,
	} {
		got, err := liveWhen(src, sc)
		if b, ok := want.(bool); ok && (err != nil || got != b) {
			t.Errorf("when %s = %v, %v; want %v", src, got, err, b)
		}
		if msg, ok := want.(string); ok && (err == nil || !strings.Contains(err.Error(), msg)) {
			t.Errorf("when %s: %v; want %q", src, err, msg)
		}
	}
}
