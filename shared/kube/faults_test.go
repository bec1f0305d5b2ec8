package kube_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/kube"
)

// faultProxy stands on loopback in front of the real API server. The first n429 requests get
// 429 with Retry-After: 1, the next n503 get 503 without it, the rest are forwarded.
func faultProxy(t *testing.T, n429, n503 int64) (*rest.Config, *atomic.Int64) {
	t.Helper()
	real := testcluster.Config(t)
	target, err := url.Parse(real.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(real)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := count.Add(1)
		status := func(code int, reason, details string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"` + reason + `","code":` + strconv.Itoa(code) + details + `}`))
		}
		switch {
		case n <= n429:
			// As the API server's priority and fairness answers: the delay in the header and
			// in the Status (apierrors.NewTooManyRequests).
			w.Header().Set("Retry-After", "1")
			status(http.StatusTooManyRequests, "TooManyRequests", `,"details":{"retryAfterSeconds":1}`)
		case n <= n429+n503:
			status(http.StatusServiceUnavailable, "ServiceUnavailable", "")
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL, QPS: 100, Burst: 200}, &count
}

func TestTransientErrorsAreRetried(t *testing.T) {
	t.Parallel()
	cfg, count := faultProxy(t, 3, 3)
	c, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := testcluster.Namespace(t, testcluster.Client(t), "kube-faults")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var pushbacks atomic.Int64
	ctx = kube.WithPushback(ctx, func() { pushbacks.Add(1) })
	a, err := c.Apply(ctx, obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: survivor}, data: {a: b}}`), owner(ns, "survivor"))
	if err != nil {
		t.Fatalf("apply through 3x429 and 3x503: %v", err)
	}
	took := time.Since(start)
	t.Logf("applied after %d requests in %v", count.Load(), took.Round(time.Millisecond))
	if count.Load() <= 6 || a.Ref.UID == "" {
		t.Fatalf("the faults were not exercised: %d requests", count.Load())
	}
	// Whoever sets its own concurrency hears of each push back.
	if pushbacks.Load() != 6 {
		t.Errorf("%d push backs reported, want 6 (3 × 429, 3 × 503)", pushbacks.Load())
	}
	// Retry-After: 1 was honoured for each of the three 429s.
	if took < 3*time.Second {
		t.Fatalf("took %v: Retry-After was not respected", took)
	}
}
