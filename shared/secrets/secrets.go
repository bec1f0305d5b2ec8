// Package secrets seals the values of secret inputs before they reach a store, and redacts
// them from anything else that is kept (live objects, messages).
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// KeyEnv holds a base64 32-byte key; it wins over the key file.
const KeyEnv = "AOS_SECRET_KEY"

// Sealer encrypts and decrypts values with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

// NewSealer uses a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// LoadOrCreate returns the sealer for this machine: the key in $AOS_SECRET_KEY, else the key
// file at path, created (0600) with a random key on first use.
func LoadOrCreate(path string) (*Sealer, error) {
	if env := os.Getenv(KeyEnv); env != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(env))
		if err != nil {
			return nil, fmt.Errorf("%s: not base64: %w", KeyEnv, err)
		}
		return NewSealer(key)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if data, err = create(path); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading secret key %s: %w", path, err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("secret key %s: not base64: %w", path, err)
	}
	return NewSealer(key)
}

// create writes a new random key to path, unless another process got there first: the key
// is written whole to a file of its own, then linked into place, which fails if path exists.
// Whoever loses the race reads the winner's key, so two processes never seal with different
// keys.
func create(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating secret key directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret-key-*")
	if err != nil {
		return nil, fmt.Errorf("writing secret key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	text := []byte(base64.StdEncoding.EncodeToString(key))
	if _, err := tmp.Write(text); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing secret key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("writing secret key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("writing secret key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, fmt.Errorf("writing secret key %s: %w", path, err)
	}
	return text, nil
}

// sealedV2 marks a value sealed with associated data: where it belongs.
const sealedV2 = "v2:"

// Seal encrypts a JSON-encodable value for the place where (a stack's input, say) it
// belongs: AES-GCM authenticates where as associated data, so the sealed text opens there
// and nowhere else, and cannot be moved to another stack or input.
func (s *Sealer) Seal(v any, where string) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealedV2 + base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(where))), nil
}

// Open decrypts what Seal produced for where. A value sealed before values were bound to
// their place (no "v2:") opens without it.
func (s *Sealer) Open(sealed, where string) (any, error) {
	text, bound := strings.CutPrefix(sealed, sealedV2)
	var aad []byte
	if bound {
		aad = []byte(where)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, errors.New("sealed value is corrupt")
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], aad)
	if err != nil {
		return nil, errors.New("sealed value cannot be opened here: it was sealed with another key (was AOS_SECRET_KEY or the key file changed?) or for another stack or input")
	}
	var v any
	if err := json.Unmarshal(plain, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// Redacted is what a secret value is replaced with.
const Redacted = "(sensitive)"

// Redactor replaces every occurrence of known secret values, in whatever form they were
// derived into text: a secret object's every leaf as well as the whole, a string escaped as
// JSON or Go quotes it (an API server's %q error, JSON inside a string), and its base64
// (a Secret's data). A number leaf equal to a secret number is replaced too.
type Redactor struct {
	values  []string // longest first, so that no replacement leaves part of a longer one
	numbers map[float64]bool
	// short holds secret strings (and number texts) under minRedacted characters: replaced
	// where they are a whole value (a string leaf). Short strings, not numbers, are also
	// replaced where they stand as a word in text (words): a digit is too common a word.
	short, words map[string]bool
}

// minRedacted is the shortest text redacted: replacing shorter strings would mangle
// unrelated text, so a secret that short is redacted only where it is a whole value.
const minRedacted = 4

// NewRedactor redacts the forms of values (see Redactor).
func NewRedactor(values []any) *Redactor {
	r := &Redactor{numbers: map[float64]bool{}, short: map[string]bool{}, words: map[string]bool{}}
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) >= minRedacted && !seen[s] {
			seen[s] = true
			r.values = append(r.values, s)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if len(x) < minRedacted {
				if x != "" {
					r.short[x], r.words[x] = true, true
					add(base64.StdEncoding.EncodeToString([]byte(x)))
				}
				return
			}
			add(x)
			if j, _ := json.Marshal(x); len(j) > 2 {
				add(string(j[1 : len(j)-1]))
			}
			add(strings.Trim(strconv.Quote(x), `"`))
			add(base64.StdEncoding.EncodeToString([]byte(x)))
		case float64:
			r.numbers[x] = true
			if t := strconv.FormatFloat(x, 'f', -1, 64); len(t) >= minRedacted {
				add(t)
			} else {
				r.short[t] = true
			}
		case int64:
			walk(float64(x))
		case int:
			walk(float64(x))
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
			b, _ := json.Marshal(x)
			walk(string(b))
		case []any:
			for _, e := range x {
				walk(e)
			}
			b, _ := json.Marshal(x)
			walk(string(b))
		case nil, bool:
		default:
			b, _ := json.Marshal(x)
			add(string(b))
		}
	}
	for _, v := range values {
		walk(v)
	}
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

// String redacts a string. A secret shorter than minRedacted is replaced where it stands as
// a word of its own (between non-alphanumeric characters: an API server quoting "q~x!!"),
// never inside a longer word.
func (r *Redactor) String(s string) string {
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, Redacted)
	}
	for v := range r.words {
		s = replaceWord(s, v)
	}
	return s
}

func replaceWord(s, w string) string {
	var b strings.Builder
	from := 0
	for {
		i := strings.Index(s[from:], w)
		if i < 0 {
			b.WriteString(s[from:])
			return b.String()
		}
		i += from
		end := i + len(w)
		b.WriteString(s[from:i])
		if (i == 0 || !alnum(s[i-1])) && (end == len(s) || !alnum(s[end])) {
			b.WriteString(Redacted)
		} else {
			b.WriteString(w)
		}
		from = end
	}
}

func alnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Value redacts every string and secret number inside a JSON-like value, in place where it
// can.
func (r *Redactor) Value(v any) any {
	if len(r.values) == 0 && len(r.numbers) == 0 && len(r.short) == 0 {
		return v
	}
	switch x := v.(type) {
	case string:
		if r.short[x] {
			return Redacted
		}
		return r.String(x)
	case float64:
		if r.numbers[x] {
			return Redacted
		}
	case int64:
		if r.numbers[float64(x)] {
			return Redacted
		}
	case map[string]any:
		for k, e := range x {
			x[k] = r.Value(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = r.Value(e)
		}
		return x
	}
	return v
}
