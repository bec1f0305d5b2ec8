// Package testengine builds an engine on a fresh embedded store for tests that need no
// cluster: what the engine decides and records, with nothing applied.
package testengine

import (
	"path/filepath"
	"testing"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/store/bolt"
)

// New returns an engine whose store is a bbolt file and whose sealing key a file, both in a
// temporary directory the test removes. Kube is nil: a test that reaches a cluster fails.
func New(t *testing.T) *engine.Engine {
	t.Helper()
	dir := t.TempDir()
	sealer, err := secrets.LoadOrCreate(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &engine.Engine{Store: st, Sealer: sealer}
}
