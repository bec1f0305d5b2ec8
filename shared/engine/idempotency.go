package engine

import (
	"fmt"
	"time"
)

// KeyTTL is how long an idempotency key names its request: a retry within it gets the first
// operation; after it the key is free again.
const KeyTTL = 24 * time.Hour

// KeyReuseError: an idempotency key came back with a different request than the one it
// started (a 422).
type KeyReuseError struct{ Stack, Key string }

func (e *KeyReuseError) Error() string {
	return fmt.Sprintf("stack %q: the Idempotency-Key %q started a different request within the last %s: use a new key for a new request", e.Stack, e.Key, KeyTTL)
}

// repeated says whether a request with key (scoped by kind) and fingerprint hash repeats the
// one that started the stack's last operation: a RepeatedError if so, a KeyReuseError if the
// key came with another request, nil if the key is new or expired.
func (e *Engine) repeated(st *StackRecord, kind, key, hash string) error {
	if key == "" || st.RequestKey != kind+":"+key || e.now().Sub(st.RequestAt) > KeyTTL {
		return nil
	}
	if st.RequestHash != hash {
		return &KeyReuseError{Stack: st.Name, Key: key}
	}
	return &RepeatedError{Stack: st.Name, Operation: st.Operation, Revision: st.Revision}
}

// remember records the request that starts the stack's operation.
func (e *Engine) remember(st *StackRecord, kind, key, hash string) {
	st.RequestKey, st.RequestHash, st.RequestAt = "", "", time.Time{}
	if key != "" {
		st.RequestKey, st.RequestHash, st.RequestAt = kind+":"+key, hash, e.now().UTC()
	}
}

// requestHash fingerprints what a submission asks for, its key aside.
func requestHash(req CreateRequest) string {
	req.IdempotencyKey = ""
	return fingerprint(req)
}
