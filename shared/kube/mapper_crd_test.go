package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// The race this covers cannot be forced on a real API server: a CRD reads Established while
// the group version's discovery document does not list the kind yet. This server answers
// like kube-apiserver in that window, for the first few discovery reads.
func lagServer(t *testing.T, missingReads int32, established bool) (*httptest.Server, *atomic.Int32) {
	var reads atomic.Int32
	cond := `"False"`
	if established {
		cond = `"True"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/apis/lag.aos.dev/v1":
			if reads.Add(1) <= missingReads {
				_, _ = w.Write([]byte(`{"kind":"APIResourceList","groupVersion":"lag.aos.dev/v1","resources":[]}`))
				return
			}
			_, _ = w.Write([]byte(`{"kind":"APIResourceList","groupVersion":"lag.aos.dev/v1","resources":[{"name":"backups","namespaced":true,"kind":"Backup"}]}`))
		case "/apis/apiextensions.k8s.io/v1/customresourcedefinitions":
			if !strings.Contains(r.Header.Get("Accept"), "as=PartialObjectMetadataList") {
				t.Errorf("the CRDs were listed whole: Accept %q", r.Header.Get("Accept"))
			}
			_, _ = w.Write([]byte(`{"kind":"PartialObjectMetadataList","items":[{"metadata":{"name":"widgets.other.dev"}},{"metadata":{"name":"backups.lag.aos.dev"}}]}`))
		case "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/backups.lag.aos.dev":
			_, _ = w.Write([]byte(`{"spec":{"group":"lag.aos.dev","names":{"kind":"Backup"},"versions":[{"name":"v1","served":true}]},
				"status":{"conditions":[{"type":"NamesAccepted","status":"True"},{"type":"Established","status":` + cond + `}]}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &reads
}

func TestMappingWaitsForDiscoveryBehindEstablished(t *testing.T) {
	srv, reads := lagServer(t, 4, true)
	m, err := newMapper(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{mapper: m}
	gvk := schema.GroupVersionKind{Group: "lag.aos.dev", Version: "v1", Kind: "Backup"}
	mapping, err := c.Mapping(context.Background(), gvk)
	if err != nil || mapping.Resource.Resource != "backups" {
		t.Fatalf("Backup behind an Established CRD: %+v %v", mapping, err)
	}
	if reads.Load() != 5 {
		t.Errorf("discovery read %d times, want 5", reads.Load())
	}
}

func TestMappingDoesNotWaitWithoutEstablishedCRD(t *testing.T) {
	for _, tc := range []struct {
		name string
		gvk  schema.GroupVersionKind
	}{
		{"CRD not established", schema.GroupVersionKind{Group: "lag.aos.dev", Version: "v1", Kind: "Backup"}},
		{"version not served", schema.GroupVersionKind{Group: "lag.aos.dev", Version: "v2", Kind: "Backup"}},
		{"no CRD for the kind", schema.GroupVersionKind{Group: "lag.aos.dev", Version: "v1", Kind: "Ghost"}},
	} {
		srv, _ := lagServer(t, 1000, tc.name != "CRD not established")
		m, err := newMapper(&rest.Config{Host: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = (&Client{mapper: m}).Mapping(context.Background(), tc.gvk)
		if !IsUnknownKind(err) || time.Since(start) > 2*time.Second {
			t.Errorf("%s: %v after %s, want an unknown kind at once", tc.name, err, time.Since(start))
		}
	}
}

func TestMappingGivesUpWhenDiscoveryNeverCatchesUp(t *testing.T) {
	defer func(d time.Duration) { discoveryLag = d }(discoveryLag)
	discoveryLag = 500 * time.Millisecond
	srv, _ := lagServer(t, 1000, true)
	m, err := newMapper(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Client{mapper: m}).Mapping(context.Background(), schema.GroupVersionKind{Group: "lag.aos.dev", Version: "v1", Kind: "Backup"})
	if !IsUnknownKind(err) {
		t.Fatalf("got %v, want an unknown kind", err)
	}
}
