package template

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzValidate feeds arbitrary documents through parsing, checking and resolving. Nothing may
// panic, and every problem must point inside the file. The seed corpus (testdata/fuzz and the
// cases below) runs as a normal test.
func FuzzValidate(f *testing.F) {
	files, _ := filepath.Glob("../../templates/*.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(featureTemplate))
	for _, c := range invalidCases {
		if len(c.src) < 64<<10 {
			f.Add([]byte(c.src))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := lineCount(data)
		start := time.Now()
		r, probs := Validate("f.yaml", data, Params{})
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("validating %d bytes took %v", len(data), took)
		}
		for _, p := range probs {
			if p.Line < 1 || p.Line > lines || p.Col < 1 || p.Message == "" {
				t.Fatalf("problem outside the file (%d lines): %+v", lines, p)
			}
		}
		if r != nil {
			if len(probs) > 0 {
				t.Fatalf("resolved despite problems: %v", probs)
			}
			if _, err := r.Graph.Order(); err != nil {
				t.Fatalf("accepted template has no order: %v", err)
			}
		}
	})
}
