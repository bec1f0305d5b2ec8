// Package testbrowser runs the console's tests in a real headless Chromium (Debian's package,
// installed by hack/chromium.sh), driven with chromedp, and fails a test on any error the
// page logs or throws.
package testbrowser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Env names the Chromium binary (make test sets it from hack/chromium.sh).
const Env = "AOS_TEST_CHROMIUM"

// expectedRefusal is how Chromium's network log reports an API answer the page handles: a
// refused value (400), a token or project that may not (401, 403), a busy stack (409).
// Missing assets (404) and server errors still fail the test.
var expectedRefusal = regexp.MustCompile(`^Failed to load resource: the server responded with a status of (400|401|403|409) `)

// Browser is one headless Chromium tab.
type Browser struct {
	Ctx    context.Context
	t      *testing.T
	mu     sync.Mutex
	errors []string
}

// New starts Chromium for the test, with a timeout over everything it does; errors logged or
// thrown by the page fail the test when it ends.
func New(t *testing.T, timeout time.Duration) *Browser {
	t.Helper()
	bin := os.Getenv(Env)
	if bin == "" {
		t.Fatalf("no browser: $%s is not set; run the tests with `make test`, which installs Debian's chromium (hack/chromium.sh), or run `eval $(hack/chromium.sh)` first", Env)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("$%s=%s: %v; run hack/chromium.sh", Env, bin, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, timeout)
	b := &Browser{Ctx: ctx, t: t}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && !expectedRefusal.MatchString(m.Text) {
				b.record(fmt.Sprintf("%s %s:%d %s", m.Type, m.URL, m.Line+1, m.Text))
			}
		}
	}()
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errors {
			t.Errorf("the page logged an error: %s", e)
		}
	})
	return b
}

func (b *Browser) record(s string) {
	b.mu.Lock()
	b.errors = append(b.errors, s)
	b.mu.Unlock()
}

// Run runs actions, failing the test on an error.
func (b *Browser) Run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.Shot("failed")
		b.t.Fatal(err)
	}
}

// Shot saves a screenshot as .cache/screenshots/TEST-name.png (git-ignored) and says where.
func (b *Browser) Shot(name string) {
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join(root(), ".cache", "screenshots")
	_ = os.MkdirAll(dir, 0o755)
	file := filepath.Join(dir, fmt.Sprintf("%s-%s.png", strings.ReplaceAll(b.t.Name(), "/", "_"), name))
	if err := os.WriteFile(file, png, 0o644); err == nil {
		b.t.Logf("screenshot: %s", file)
	}
}

// root is the repository's top directory (where go.mod is), from the test's directory.
func root() string {
	dir, _ := os.Getwd()
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return dir
}
