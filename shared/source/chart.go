package source

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/downloader"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/registry"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// installOrder is Helm's, so a chart's objects, and those of kustomize and manifests, go in
// the order `helm install` would send them.
var installOrder = releaseutil.InstallOrder

// renderChart renders a chart as `helm template` does (client-side, with its CRDs), with the
// release in the stack's namespace.
func renderChart(ctx context.Context, r Request) ([]*unstructured.Unstructured, error) {
	path, cleanup, err := locateChart(r)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("chart: loading %s: %w", path, err)
	}
	values, _ := r.Spec["values"].(map[string]any)
	if v, ok := r.Spec["values"]; ok && v != nil && values == nil {
		return nil, fmt.Errorf("chart.values must be a mapping")
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	in := action.NewInstall(cfg)
	in.DryRunStrategy = action.DryRunClient
	in.ReleaseName = r.Release
	if name, _ := r.Spec["release"].(string); name != "" {
		in.ReleaseName = name
	}
	in.Namespace = r.Namespace
	in.IncludeCRDs = true
	rl, err := in.RunWithContext(ctx, ch, values)
	if err != nil {
		return nil, fmt.Errorf("chart %s: rendering: %w", ch.Name(), err)
	}
	rel, ok := rl.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("chart %s: rendering gave a %T", ch.Name(), rl)
	}
	main, err := decodeAll(rel.Manifest, "chart "+ch.Name())
	if err != nil {
		return nil, err
	}
	pre, post, err := hooks(rel.Hooks, ch.Name())
	if err != nil {
		return nil, err
	}
	// rel.Manifest is already in install order, CRDs first.
	return slices.Concat(pre, main, post), nil
}

// hooks returns a chart's install hooks as objects, by weight: Helm runs them around the
// install; here they are applied in that order with the node's objects, and the node is
// READY when they are too (a hook Job completed). Test, delete and rollback hooks are left
// out: nothing runs them.
func hooks(hs []*release.Hook, chart string) (pre, post []*unstructured.Unstructured, err error) {
	slices.SortStableFunc(hs, func(a, b *release.Hook) int { return a.Weight - b.Weight })
	for _, h := range hs {
		isPre := slices.Contains(h.Events, release.HookPreInstall) || slices.Contains(h.Events, release.HookPreUpgrade)
		isPost := slices.Contains(h.Events, release.HookPostInstall) || slices.Contains(h.Events, release.HookPostUpgrade)
		if !isPre && !isPost {
			continue
		}
		objs, err := decodeAll(h.Manifest, "chart "+chart+" hook "+h.Path)
		if err != nil {
			return nil, nil, err
		}
		if isPre {
			pre = append(pre, objs...)
		} else {
			post = append(post, objs...)
		}
	}
	return pre, post, nil
}

// locateChart finds the chart on disk, downloading it from an OCI registry or a chart
// repository first.
func locateChart(r Request) (path string, cleanup func(), err error) {
	none := func() {}
	p, _ := r.Spec["path"].(string)
	repoURL, _ := r.Spec["repo"].(string)
	ref, _ := r.Spec["oci"].(string)
	name, _ := r.Spec["name"].(string)
	version, _ := r.Spec["version"].(string)
	plain, _ := r.Spec["plainHTTP"].(bool)
	switch {
	case p != "":
		path, err := r.path("path")
		return path, none, err
	case ref != "":
		if !strings.HasPrefix(ref, "oci://") {
			return "", none, fmt.Errorf("chart.oci must start with oci://, as in oci://registry.example.com/charts/redis; found %q", ref)
		}
	case repoURL != "":
		if name == "" {
			return "", none, fmt.Errorf("chart.repo needs chart.name, the chart's name in that repository")
		}
	default:
		return "", none, fmt.Errorf("chart needs one of path, repo (with name) or oci")
	}
	cache := r.CacheDir
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "aos-helm-cache")
	}
	settings := cli.New()
	settings.RepositoryCache = filepath.Join(cache, "repository")
	settings.ContentCache = filepath.Join(cache, "content")
	settings.RepositoryConfig = filepath.Join(cache, "repositories.yaml")
	settings.RegistryConfig = filepath.Join(cache, "registry.json")
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard), registry.ClientOptCredentialsFile(settings.RegistryConfig)}
	if plain {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	rc, err := registry.NewClient(opts...)
	if err != nil {
		return "", none, fmt.Errorf("chart: registry client: %w", err)
	}
	getters := getter.All(settings, getter.WithRegistryClient(rc), getter.WithPlainHTTP(plain))
	if repoURL != "" {
		if ref, err = repo.FindChartInRepoURL(repoURL, name, getters, repo.WithChartVersion(version)); err != nil {
			return "", none, fmt.Errorf("chart %s in %s: %w", name, repoURL, err)
		}
	}
	dest, err := os.MkdirTemp("", "aos-chart-")
	if err != nil {
		return "", none, err
	}
	cleanup = func() { os.RemoveAll(dest) }
	dl := downloader.ChartDownloader{
		Out: io.Discard, Getters: getters, RegistryClient: rc,
		Options:          []getter.Option{getter.WithPlainHTTP(plain), getter.WithRegistryClient(rc)},
		RepositoryConfig: settings.RepositoryConfig, RepositoryCache: settings.RepositoryCache, ContentCache: settings.ContentCache,
	}
	path, _, err = dl.DownloadTo(ref, version, dest)
	if err != nil {
		cleanup()
		return "", none, fmt.Errorf("chart %s: downloading: %w", ref, err)
	}
	return path, cleanup, nil
}
