package template

import (
	"crypto/sha256"
	"sync"
	"time"
)

// A template is parsed once per process for validate and plan when both run in it (the
// embedded runner, aos serve): the last valid template is kept, by its file name and text,
// for a short while. A 10,000-node template takes most of a second to parse.
//
// A kept template is shared by every caller that validates the same text: nothing may change
// a Template, its nodes or their manifests after Parse (the engine's tests hold it to that).
var last struct {
	sync.Mutex
	key   [sha256.Size]byte
	t     *Template
	timer *time.Timer
}

// keepFor is how long the last template is kept: long enough for plan to follow validate,
// short enough that a long-running server does not hold a large template for long.
const keepFor = 30 * time.Second

func cacheKey(file string, data []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(file))
	h.Write([]byte{0})
	h.Write(data)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// checked is Parse and Check, from the kept template when it is the same text.
func checked(file string, data []byte) (*Template, Problems) {
	k := cacheKey(file, data)
	last.Lock()
	if last.t != nil && last.key == k {
		t := last.t
		last.Unlock()
		return t, nil
	}
	last.Unlock()
	t, probs := Parse(file, data)
	if t == nil {
		return nil, probs
	}
	if probs = append(probs, t.Check()...); len(probs) > 0 {
		return t, probs
	}
	last.Lock()
	defer last.Unlock()
	last.key, last.t = k, t
	if last.timer != nil {
		last.timer.Stop()
	}
	last.timer = time.AfterFunc(keepFor, func() {
		last.Lock()
		defer last.Unlock()
		if last.key == k {
			last.t = nil
		}
	})
	return t, nil
}
