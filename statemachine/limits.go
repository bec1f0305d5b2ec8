package statemachine

import (
	"encoding/json"
	"fmt"
	"math"
)

// The limits AWS enforces on a standard workflow
// (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html), which the
// embedded runner enforces the same way so that a definition that works here works there.
const (
	// MaxPayloadBytes bounds every state's input and output, and a task's result, as a UTF-8
	// JSON string: 256 KiB. Over it, the state fails with States.DataLimitExceeded.
	MaxPayloadBytes = 256 * 1024
	// MaxHistoryEvents bounds one execution's history: 25,000 events. Past it, the execution
	// fails.
	MaxHistoryEvents = 25000
	// maxWaitSeconds bounds a Wait state's Seconds (an integer, 0 to 99,999,999).
	maxWaitSeconds = 99999999
)

// waitSeconds reports whether f is a Wait state's seconds as AWS accepts them.
func waitSeconds(f float64) bool {
	return f >= 0 && f <= maxWaitSeconds && f == math.Trunc(f)
}

// measure encodes a payload, records its size, and fails with States.DataLimitExceeded past
// the quota (what is the state's input, a task's result, the state's output).
func (x *Execution) measure(s *state, what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	n := int64(len(b))
	for {
		cur := x.maxPayload.Load()
		if n <= cur || x.maxPayload.CompareAndSwap(cur, n) {
			break
		}
	}
	if n > MaxPayloadBytes {
		return nil, &Error{"States.DataLimitExceeded", fmt.Sprintf("state %q: the %s is %d bytes, over the %d-byte payload quota", s.name, what, n, MaxPayloadBytes)}
	}
	return b, nil
}

// count adds events to the execution's history as AWS records them, and fails the execution
// once they pass MaxHistoryEvents. A state is entered and exited (2); each attempt of a
// Lambda task is scheduled, started and succeeds or fails (3); a service task with .sync
// is also submitted (4); a Map or Parallel state starts and ends (2) and each Map iteration
// starts and ends (2); an execution starts and ends (2).
func (x *Execution) count(n int64) error {
	if got := x.events.Add(n); got > MaxHistoryEvents {
		return &Error{"States.Runtime", fmt.Sprintf("the execution's history reached %d events, over the %d-event quota", got, MaxHistoryEvents)}
	}
	return nil
}

// HistoryEvents counts the events AWS would have recorded for this execution so far.
func (x *Execution) HistoryEvents() int64 { return x.events.Load() }

// MaxPayload is the largest state input, output or task result seen, in bytes.
func (x *Execution) MaxPayload() int64 { return x.maxPayload.Load() }

// LambdaErrorDocument is the error document the Lambda runtime returns for a function's
// error ({"errorMessage", "errorType"}), what a bridge to another interpreter answers.
func LambdaErrorDocument(err error) []byte {
	doc, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": errorName(err)})
	return doc
}
