package bolt

import (
	"path/filepath"
	"strings"
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

func TestSecondOpenSaysTheFileIsInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's lock is per file descriptor (flock), so a second Open in this process waits
	// just as another process would.
	_, err = Open(path)
	if err == nil || !strings.Contains(err.Error(), "in use by another aos process") {
		t.Fatalf("second open: %v", err)
	}
}
