// Package testregistry serves Helm charts written in testdata on loopback, the way users
// publish them: an OCI registry (go-containerregistry's pkg/registry) and a chart repository
// (an index.yaml over HTTP). Servers stop when the test ends.
package testregistry

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/registry"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// pack packages the chart folder dir into dest, returning the chart and its .tgz.
func pack(t *testing.T, dir, dest string) (*chart.Chart, string) {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := chartutil.Save(ch, dest)
	if err != nil {
		t.Fatal(err)
	}
	return ch, tgz
}

// PushOCI pushes the chart folder dir, at its own version, to a new loopback OCI registry
// (plain HTTP) and returns its reference: oci://127.0.0.1:PORT/charts/NAME.
func PushOCI(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ch, tgz := pack(t, dir, t.TempDir())
	data, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Push(data, host+"/charts/"+ch.Name()+":"+ch.Metadata.Version); err != nil {
		t.Fatal(err)
	}
	return "oci://" + host + "/charts/" + ch.Name()
}

// ServeRepo serves the chart folder dir, packaged, from a new loopback chart repository and
// returns the repository's URL.
func ServeRepo(t *testing.T, dir string) string {
	t.Helper()
	root := t.TempDir()
	pack(t, dir, root)
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(root, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(root, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}
