package secrets

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Processes that start at once on a machine without a key agree on one: 200 racing rounds,
// each of 8 loaders, every sealer opening what every other sealed.
func TestRacingLoadersAgreeOnOneKey(t *testing.T) {
	for round := range 200 {
		path := filepath.Join(t.TempDir(), "secret.key")
		sealers := make([]*Sealer, 8)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range sealers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s, err := LoadOrCreate(path)
				if err != nil {
					t.Error(err)
				}
				sealers[i] = s
			}()
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for i, s := range sealers {
			sealed, err := s.Seal("v", "here")
			if err != nil {
				t.Fatal(err)
			}
			for j, o := range sealers {
				if _, err := o.Open(sealed, "here"); err != nil {
					t.Fatalf("round %d: loader %d cannot open what loader %d sealed: %v", round, j, i, err)
				}
			}
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Fatalf("round %d: %d files beside the key", round, len(entries)-1)
		}
	}
}

// A sealed value opens where it was sealed for, and nowhere else; a value sealed before
// values were bound to their place still opens.
func TestSealedValuesStayWhereTheyBelong(t *testing.T) {
	s, err := NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("hunter2", "aos/stacks/a/inputs/pw")
	if err != nil || !strings.HasPrefix(sealed, "v2:") {
		t.Fatalf("sealed %q: %v", sealed, err)
	}
	if v, err := s.Open(sealed, "aos/stacks/a/inputs/pw"); err != nil || v != "hunter2" {
		t.Fatalf("open where sealed: %v %v", v, err)
	}
	for _, elsewhere := range []string{"aos/stacks/b/inputs/pw", "aos/stacks/a/inputs/token"} {
		if _, err := s.Open(sealed, elsewhere); err == nil || !strings.Contains(err.Error(), "for another stack or input") {
			t.Fatalf("opened at %s: %v", elsewhere, err)
		}
	}
	// The format before associated data: nonce and ciphertext, base64, with none.
	nonce := make([]byte, s.aead.NonceSize())
	legacy := base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(`"old"`), nil))
	if v, err := s.Open(legacy, "aos/stacks/a/inputs/pw"); err != nil || v != "old" {
		t.Fatalf("a value sealed before: %v %v", v, err)
	}
}

// A secret is redacted in every form it was derived into.
func TestRedactorFindsEveryForm(t *testing.T) {
	creds := map[string]any{"password": "hunter2hunter2", "pin": 4242.0, "user": `o"brien`}
	r := NewRedactor([]any{creds, "s3cr3t-token"})
	for _, tc := range []struct{ in, want string }{
		{`the password is hunter2hunter2`, `the password is (sensitive)`},
		{`apply failed: field "hunter2hunter2" is invalid`, `apply failed: field "(sensitive)" is invalid`},
		{`data: {"token":"s3cr3t-token"}`, `data: {"token":"(sensitive)"}`},
		{`{"creds":"{\"password\":\"hunter2hunter2\"}"}`, `{"creds":"{\"password\":\"(sensitive)\"}"}`},
		{`user o\"brien`, `user (sensitive)`},
		{`stringData base64: ` + base64.StdEncoding.EncodeToString([]byte("hunter2hunter2")), `stringData base64: (sensitive)`},
		{`pin 4242 but replicas 3`, `pin (sensitive) but replicas 3`},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	out := r.Value(map[string]any{"creds": map[string]any{"password": "hunter2hunter2", "pin": 4242.0}, "replicas": 3.0, "note": "ok"})
	want := map[string]any{"creds": map[string]any{"password": Redacted, "pin": Redacted}, "replicas": 3.0, "note": "ok"}
	if got, _ := json.Marshal(out); string(got) != mustJSON(want) {
		t.Fatalf("Value: %s, want %s", got, mustJSON(want))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A secret under four characters cannot be replaced inside other text without mangling it,
// but wherever it is a whole value (a live field, an output) it is, as are its base64 form
// and a short secret number.
func TestRedactorShortSecrets(t *testing.T) {
	r := NewRedactor([]any{"xyz", int64(7), []any{"ab"}})
	out := r.Value(map[string]any{"pw": "xyz", "data": base64.StdEncoding.EncodeToString([]byte("xyz")), "pin": 7.0, "list": []any{"ab", "abc"}, "note": "xyzzy", "replicas": int64(3)})
	want := map[string]any{"pw": Redacted, "data": Redacted, "pin": Redacted, "list": []any{Redacted, "abc"}, "note": "xyzzy", "replicas": 3}
	if got, _ := json.Marshal(out); string(got) != mustJSON(want) {
		t.Fatalf("Value: %s, want %s", got, mustJSON(want))
	}
}

func TestRedactorShortSecretsInText(t *testing.T) {
	r := NewRedactor([]any{"q~x", int64(7)})
	for in, want := range map[string]string{
		`metadata.labels: Invalid value: "q~x!!": a valid label`: `metadata.labels: Invalid value: "(sensitive)!!": a valid label`,
		`q~xq~x and q~x`:     `q~xq~x and (sensitive)`,
		`7 replicas, 17, 7s`: `7 replicas, 17, 7s`,
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}
