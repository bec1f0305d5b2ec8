package statemachine_test

import (
	"encoding/json"
	"testing"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/statemachine"
)

// Every node of a turn is applied at once: check-ready splits the turn into at most
// engine.MapConcurrency batches, the Map's items, which the Map must run all at once; and
// the items carry the turn's size, which apply-node follows its node by.
func TestApplyReadyTellsTheTurn(t *testing.T) {
	var def struct {
		States map[string]struct {
			MaxConcurrency int
			ItemsPath      string
			ItemSelector   map[string]any
			Parameters     map[string]any
		}
	}
	if err := json.Unmarshal(statemachine.StackDefinition, &def); err != nil {
		t.Fatal(err)
	}
	m := def.States["ApplyReady"]
	if m.MaxConcurrency != engine.MapConcurrency {
		t.Errorf("ApplyReady's MaxConcurrency is %d, engine.MapConcurrency %d", m.MaxConcurrency, engine.MapConcurrency)
	}
	if m.ItemsPath != "$.check.batches" || m.ItemSelector["nodes.$"] != "$$.Map.Item.Value" {
		t.Errorf("ApplyReady's items are %s as %v, not check-ready's batches as nodes", m.ItemsPath, m.ItemSelector)
	}
	if m.ItemSelector["turn.$"] != "$.check.turn" {
		t.Errorf("ApplyReady's items do not carry the turn's size: %v", m.ItemSelector)
	}
}

// Apply-node leaves a Map iteration's WAITING event to the check that follows the Map, which
// must then be handed the ids the Map applied (engine/tell.go), or the events are never
// appended.
func TestCheckReadyTellsTheMapsApplies(t *testing.T) {
	var def struct {
		States map[string]struct {
			Next         string
			ItemsPath    string
			ItemSelector map[string]any
			Parameters   map[string]any
		}
	}
	if err := json.Unmarshal(statemachine.StackDefinition, &def); err != nil {
		t.Fatal(err)
	}
	m, c := def.States["ApplyReady"], def.States["CheckReady"]
	if m.ItemSelector["tellLater"] != true {
		t.Errorf("ApplyReady's items do not leave the telling to check-ready: %v", m.ItemSelector)
	}
	if m.Next != "CheckReady" || c.Parameters["applied.$"] != m.ItemsPath {
		t.Errorf("ApplyReady goes on to %s, and CheckReady is handed %v, not the Map's items %s", m.Next, c.Parameters["applied.$"], m.ItemsPath)
	}
	for _, name := range []string{"Plan", "Rollback", "CheckReady"} {
		if p := def.States[name].Parameters; p["batched"] != true {
			t.Errorf("%s is not told the Map applies batches (its history events are counted a batch an iteration): %v", name, p)
		}
	}
	// A check leaves the READY events of the nodes it reports ready to the next check, reached
	// through the Map or a Wait, both of which keep $.check.
	if c.Parameters["readied.$"] != "$.check.ready" {
		t.Errorf("CheckReady is handed %v as readied, not the last check's ready ids $.check.ready", c.Parameters["readied.$"])
	}
	// And it resumes where the check before stopped watching (check_resume.go). Every state
	// whose result becomes $.check (a plan, a check) answers since, null when it has none, so
	// the path is always there.
	if c.Parameters["since.$"] != "$.check.since" {
		t.Errorf("CheckReady is handed %v as since, not the last check's $.check.since", c.Parameters["since.$"])
	}
}
