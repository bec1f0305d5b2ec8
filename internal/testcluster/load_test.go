package testcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A missing cluster must fail loudly and say how to get one, never skip.
func TestLoadWithoutClusterSaysHowToStartOne(t *testing.T) {
	t.Setenv(KubeconfigEnv, "")
	t.Setenv("KUBECONFIG", "")
	_, err := load()
	if err == nil || !strings.Contains(err.Error(), "make cluster-up") {
		t.Fatalf("load() with no kubeconfig: want an error naming `make cluster-up`, got %v", err)
	}
}

func TestLoadWithUnreachableClusterNamesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	// Port 1 on loopback: nothing listens there.
	kc := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
		"users: [{name: u, user: {token: x}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(KubeconfigEnv, path)
	_, err := load()
	if err == nil || !strings.Contains(err.Error(), "https://127.0.0.1:1") || !strings.Contains(err.Error(), "make test") {
		t.Fatalf("load() with an unreachable cluster: want an error naming the server and `make test`, got %v", err)
	}
}
