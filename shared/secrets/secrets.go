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
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating secret key directory: %w", err)
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
			return nil, fmt.Errorf("writing secret key %s: %w", path, err)
		}
		return NewSealer(key)
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

// Seal encrypts a JSON-encodable value.
func (s *Sealer) Seal(v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, nil)), nil
}

// Open decrypts what Seal produced.
func (s *Sealer) Open(sealed string) (any, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, errors.New("sealed value is corrupt")
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], nil)
	if err != nil {
		return nil, errors.New("sealed value cannot be opened with this key (was AOS_SECRET_KEY or the key file changed?)")
	}
	var v any
	if err := json.Unmarshal(plain, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// Redacted is what a secret value is replaced with.
const Redacted = "(secret)"

// Redactor replaces every occurrence of known secret strings.
type Redactor struct{ values []string }

// NewRedactor redacts the string forms of values; values shorter than 4 characters are
// skipped, as replacing them would mangle unrelated text.
func NewRedactor(values []any) *Redactor {
	r := &Redactor{}
	for _, v := range values {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		if len(s) >= 4 {
			r.values = append(r.values, s)
		}
	}
	return r
}

// String redacts a string.
func (r *Redactor) String(s string) string {
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, Redacted)
	}
	return s
}

// Value redacts every string inside a JSON-like value, in place where it can.
func (r *Redactor) Value(v any) any {
	if len(r.values) == 0 {
		return v
	}
	switch x := v.(type) {
	case string:
		return r.String(x)
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
