package bolt

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// The file is open while this process has transactions on it, and for a moment after: opening
// it (open, flock, mmap, the meta and freelist pages faulted in) and closing it again cost
// about a quarter of a millisecond of CPU, and an operation makes several transactions per
// node a few milliseconds apart. Opened for each one, that was a fifth of `aos up`'s CPU
// (profiles of random-200 and of 1,000 ConfigMaps, docs/performance.md round seven). Every
// open also maps the file afresh, so the next listing of a large stack faults its pages in
// again: with 20 ms of linger and 250 ms of hold, one `aos up` of 10,000 ConfigMaps opened the
// file 246 times, and with 250 ms and 1 s, 39 times, for 9 % less CPU (round eight).
//
// Another aos process that wants the file must not wait for that moment to pass. While it
// waits it rings: it holds a shared lock on <file>.wait. A holder that hears the bell lets the
// file go at its next pause instead of lingering, and the waiter, trying every couple of
// milliseconds rather than bbolt's 50, gets in there. A process that does not ring (any other
// bbolt user) still finds the file let go at a pause once it has been open for maxHold.
const (
	linger  = 250 * time.Millisecond
	maxHold = time.Second
	// retry is how often a waiter tries the file's lock.
	retry = 2 * time.Millisecond
)

// acquire opens the file, or joins the transactions of this process that have it open.
func (s *Store) acquire() (*bbolt.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("state store %s is closed", s.path)
	}
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	if s.db == nil {
		db, err := s.open()
		if err != nil {
			return nil, err
		}
		db.MaxBatchDelay = batchDelay
		s.db, s.openedAt = db, time.Now()
	}
	s.users++
	return s.db, nil
}

// open opens the file, waiting up to s.timeout for another process to let it go, ringing
// meanwhile.
func (s *Store) open() (*bbolt.DB, error) {
	deadline := time.Now().Add(s.timeout)
	rung := false
	defer func() {
		if rung {
			s.ring(false)
		}
	}()
	for {
		// A timeout under bbolt's retry interval makes its lock a single try.
		db, err := bbolt.Open(s.path, 0o600, &bbolt.Options{Timeout: time.Nanosecond})
		switch {
		case err == nil:
			return db, nil
		case !errors.Is(err, bberrors.ErrTimeout):
			return nil, fmt.Errorf("opening state store %s: %w", s.path, err)
		case time.Now().After(deadline):
			return nil, fmt.Errorf("the state file %s stayed in use by another aos process for %s (a long write, or a stuck process holding it; use another --state to work beside it)", s.path, s.timeout)
		}
		if !rung {
			rung = s.ring(true)
		}
		time.Sleep(retry)
	}
}

// ring starts (on) or stops ringing: a shared lock on the bell file, which holders test. A
// bell that cannot be opened only costs the waiter the holder's linger; it reports false.
func (s *Store) ring(on bool) bool {
	if !s.openBell() {
		return false
	}
	how := syscall.LOCK_UN
	if on {
		how = syscall.LOCK_SH
	}
	return syscall.Flock(int(s.bell.Fd()), how) == nil
}

// openBell opens <file>.wait once, for the life of the store.
func (s *Store) openBell() bool {
	if s.bell == nil {
		f, err := os.OpenFile(s.path+".wait", os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return false
		}
		s.bell = f
	}
	return true
}

// heard reports whether another process is ringing: the bell cannot be locked exclusively.
func (s *Store) heard() bool {
	if !s.openBell() {
		return false
	}
	fd := int(s.bell.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(fd, syscall.LOCK_UN)
	return false
}

// release ends a transaction's use of the file. The last one closes it at once when the store
// is closed or the file has been open for maxHold, else after linger unless another
// transaction starts first.
func (s *Store) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users--
	if s.users > 0 || s.db == nil {
		return
	}
	if s.closed || time.Since(s.openedAt) >= maxHold || s.heard() {
		s.closeFile()
		return
	}
	s.idle = time.AfterFunc(linger, s.closeIdle)
}

// closeIdle closes the file unless a transaction has started since the timer was set.
func (s *Store) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == 0 {
		s.closeFile()
	}
}

func (s *Store) closeFile() {
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	if s.db != nil {
		_ = s.db.Close()
		s.db = nil
	}
}

// Close makes further use an error, and lets the file go now, or when the transactions still
// running end.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.users == 0 {
		s.closeFile()
	}
	if s.bell != nil {
		_ = s.bell.Close()
		s.bell = nil
	}
	return nil
}

// fileOpen reports whether this process has the file open (for tests).
func (s *Store) fileOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db != nil
}
