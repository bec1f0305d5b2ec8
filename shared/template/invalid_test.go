package template

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestInvalidTemplates(t *testing.T) {
	if len(invalidCases) < 40 {
		t.Fatalf("only %d invalid cases; the contract is at least 40", len(invalidCases))
	}
	for _, c := range invalidCases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r, probs := Validate("t.yaml", []byte(c.src), c.params)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v to reject", took)
			}
			if r != nil || len(probs) == 0 {
				t.Fatalf("template was accepted")
			}
			got := make([]string, len(probs))
			for i, p := range probs {
				// A value given with -p is reported at that source, not in the template.
				if p.File != "t.yaml" && !strings.HasPrefix(p.File, "-p ") {
					t.Errorf("problem without file name: %+v", p)
				}
				got[i] = strings.TrimPrefix(p.String(), "t.yaml:")
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(c.want)
				t.Errorf("problems:\n got: %s\nwant: %s", g, w)
			}
		})
	}
}
