// Package console is AOS's web console: a page that shows stacks, their graph coming up node
// by node, a timeline with the critical path, outputs and events. Its assets are embedded and
// served by the API's own router, so it needs nothing from the internet, and it reads only
// the JSON API, with the same bearer token and the same authorization as any client.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

//go:embed static/index.html
var index []byte

// Handler serves the console: the page at /, its assets under /console/.
func Handler() http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Only this server's own script and styles run on the page: no inline script, no
		// third party.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		p := strings.TrimPrefix(r.URL.Path, "/console")
		if p == "/" || p == "" || p == "/index.html" {
			// Written out here: the file server would redirect index.html to its directory.
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(index)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = path.Clean(p)
		files.ServeHTTP(w, r2)
	})
}
