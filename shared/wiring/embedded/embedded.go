// Package embedded builds the engine the aos CLI and aos serve run in one process: state in a
// bbolt file, clusters from kubeconfig contexts.
package embedded

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/store/bolt"
)

// Options say where the CLI keeps state and which cluster it talks to.
type Options struct {
	StatePath  string // bbolt file; DefaultStatePath() when empty
	Kubeconfig string
	Context    string // kube context for stacks that name none
}

// DefaultStatePath is $AOS_STATE, else $XDG_STATE_HOME/aos/state.db, else
// ~/.local/state/aos/state.db.
func DefaultStatePath() string {
	if p := os.Getenv("AOS_STATE"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "aos", "state.db")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "aos", "state.db")
	}
	return filepath.Join(home, ".local", "state", "aos", "state.db")
}

// Engine builds the embedded engine: the bbolt store, a sealing key file beside it (created
// 0600 on first use, or $AOS_SECRET_KEY), and clusters from kubeconfig contexts. close
// releases the store.
func Engine(o Options) (e *engine.Engine, close func() error, err error) {
	path := o.StatePath
	if path == "" {
		path = DefaultStatePath()
	}
	st, err := bolt.Open(path)
	if err != nil {
		return nil, nil, err
	}
	sealer, err := secrets.LoadOrCreate(filepath.Join(filepath.Dir(path), "secret.key"))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	follow, err := engine.FollowSetting(os.Getenv)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	clients := &kube.Clients{}
	return &engine.Engine{
		Store: st, Sealer: sealer, MaxWait: 20 * time.Second, FollowFor: follow,
		Kube: func(ctx context.Context, t kube.Access) (*kube.Client, error) {
			if t.Context == "" {
				t.Context = o.Context
			}
			return clients.Get(t, func() (*rest.Config, error) {
				return kube.LoadConfig(kube.ConfigOptions{Kubeconfig: o.Kubeconfig, Context: t.Context})
			})
		},
	}, st.Close, nil
}
