package bolt

import (
	"path/filepath"
	"testing"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) engine.Store {
		s, err := Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
