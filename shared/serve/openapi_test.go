package serve

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type operation struct {
	RequestBody struct {
		Content map[string]struct {
			Example any `yaml:"example"`
		} `yaml:"content"`
	} `yaml:"requestBody"`
	Responses map[string]any `yaml:"responses"`
}

type openAPI struct {
	// Each path maps methods to operations, and "parameters" to a list.
	Paths map[string]map[string]yaml.Node `yaml:"paths"`
}

func (d openAPI) op(t *testing.T, path, method string) operation {
	t.Helper()
	n, ok := d.Paths[path][method]
	if !ok {
		t.Fatalf("docs/openapi.yaml has no %s %s", method, path)
	}
	var o operation
	if err := n.Decode(&o); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return o
}

func loadOpenAPI(t *testing.T) openAPI {
	t.Helper()
	data, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// jsonable turns YAML-decoded maps into ones encoding/json takes.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = jsonable(x)
		}
	case []any:
		for i, x := range t {
			t[i] = jsonable(x)
		}
	}
	return v
}

// docs/openapi.yaml lists exactly the routes the router serves, and its examples, sent in a
// lifecycle order to a running aos serve, get the answer the document promises.
func TestOpenAPIMatchesTheRouterAndItsExamplesWork(t *testing.T) {
	doc := loadOpenAPI(t)
	c, _ := start(t, token, false)
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range c.api.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("docs/openapi.yaml and the router differ:\ndocumented:\n%s\n\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}

	suffix := fmt.Sprint(time.Now().UnixNano() % 100000)
	shop, copyName, batch := "shop-"+suffix, "shop-"+suffix+"-copy", "nightly-"+suffix
	cleanupNamespaces(t, shop, copyName, batch+"-0", batch+"-1", batch+"-2")
	rename := func(s string) string {
		switch {
		case strings.HasPrefix(s, "/v1/stacks/shop-copy"):
			return strings.Replace(s, "shop-copy", copyName, 1)
		case strings.HasPrefix(s, "/v1/stacks/shop"):
			return strings.Replace(s, "shop", shop, 1)
		}
		return strings.Replace(s, "batches/nightly", "batches/"+batch, 1)
	}
	steps := []struct {
		method, path string
		wait         string // stack to wait for afterwards
		status       string // the documented answer expected, when not the 2xx
	}{
		{"GET", "/healthz", "", ""},
		{"POST", "/v1/validate", "", ""},
		{"POST", "/v1/plan", "", ""},
		{"POST", "/v1/stacks", "shop", ""},
		{"GET", "/v1/stacks", "", ""},
		{"GET", "/v1/stacks/shop", "", ""},
		{"GET", "/v1/stacks/shop/resources", "", ""},
		{"GET", "/v1/stacks/shop/outputs", "", ""},
		{"GET", "/v1/stacks/shop/events", "", ""},
		{"GET", "/v1/stacks/shop/nodes/config", "", ""},
		{"GET", "/v1/stacks/shop/history", "", ""},
		{"PUT", "/v1/stacks/shop", "shop", ""},
		{"GET", "/v1/stacks/shop/history/diff?from=1&to=2", "", ""},
		{"GET", "/v1/templates", "", ""},
		{"GET", "/v1/stacks/shop/template", "", ""},
		{"GET", "/v1/stacks/shop/drift", "", ""},
		{"GET", "/v1/templates/guestbook", "", ""},
		{"PUT", "/v1/stacks/shop/schedule", "", ""},
		{"DELETE", "/v1/stacks/shop/schedule", "", ""},
		{"POST", "/v1/stacks/shop/rollback", "shop", ""},
		// The stack is settled here: nothing to cancel, resume or continue. Their 202s are
		// tested where an operation can be held in progress (shared/stepfn, shared/local).
		{"POST", "/v1/stacks/shop/cancel", "", "409"},
		{"POST", "/v1/stacks/shop/resume", "", "409"},
		{"POST", "/v1/stacks/shop/continue-rollback", "", "409"},
		{"POST", "/v1/stacks/shop/copy", "shop-copy", ""},
		{"POST", "/v1/stacks/shop/rebuild", "shop", ""},
		{"POST", "/v1/batches", "", ""},
		{"GET", "/v1/batches/nightly", "", ""},
		{"DELETE", "/v1/stacks/shop", "shop", ""},
		{"DELETE", "/v1/stacks/shop-copy", "shop-copy", ""},
	}
	covered := map[string]bool{}
	for _, st := range steps {
		pattern := st.path
		for _, r := range c.api.Routes() {
			if r.Method == st.method && matches(r.Path, st.path) {
				pattern = r.Path
			}
		}
		covered[st.method+" "+pattern] = true
		op := doc.op(t, pattern, strings.ToLower(st.method))
		var body any
		if ex, ok := op.RequestBody.Content["application/json"]; ok && ex.Example != nil {
			data, _ := json.Marshal(jsonable(ex.Example))
			var v any
			_ = json.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(string(data), `"shop-copy"`, `"`+copyName+`"`), `"shop"`, `"`+shop+`"`)), &v)
			if m, ok := v.(map[string]any); ok && m["prefix"] == "nightly" {
				m["prefix"] = batch
			}
			body = v
		}
		code, _ := c.do(st.method, rename(st.path), body, nil)
		want := ""
		for status := range op.Responses {
			if strings.HasPrefix(status, "2") && st.status == "" || status == st.status {
				want = status
			}
		}
		if want == "" {
			t.Fatalf("%s %s: the document promises no %s", st.method, st.path, st.status)
		}
		if fmt.Sprint(code) != want {
			t.Fatalf("%s %s: %d, the document promises %s", st.method, st.path, code, want)
		}
		switch st.wait {
		case "shop":
			c.wait(shop)
		case "shop-copy":
			c.wait(copyName)
		}
		if st.method == "POST" && st.path == "/v1/batches" {
			for {
				var b struct{ Done bool }
				c.do("GET", "/v1/batches/"+batch, nil, &b)
				if b.Done {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	for _, r := range served {
		if !covered[r] {
			t.Errorf("no example step exercises %s", r)
		}
	}
}

// matches reports whether path fits a route pattern with {wildcards}.
func matches(pattern, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	p, q := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if !strings.HasPrefix(p[i], "{") && p[i] != q[i] {
			return false
		}
	}
	return true
}
