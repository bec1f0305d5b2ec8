package statemachine_test

import (
	"encoding/json"
	"testing"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/statemachine"
)

// apply-node follows its node only when the Map runs every node of the turn at once, which
// it knows from the turn's size and engine.MapConcurrency: the ASL must agree with both.
func TestApplyReadyTellsTheTurn(t *testing.T) {
	var def struct {
		States map[string]struct {
			MaxConcurrency int
			ItemSelector   map[string]string
		}
	}
	if err := json.Unmarshal(statemachine.StackDefinition, &def); err != nil {
		t.Fatal(err)
	}
	m := def.States["ApplyReady"]
	if m.MaxConcurrency != engine.MapConcurrency {
		t.Errorf("ApplyReady's MaxConcurrency is %d, engine.MapConcurrency %d", m.MaxConcurrency, engine.MapConcurrency)
	}
	if m.ItemSelector["turn.$"] != "$.check.turn" {
		t.Errorf("ApplyReady's items do not carry the turn's size: %v", m.ItemSelector)
	}
}
