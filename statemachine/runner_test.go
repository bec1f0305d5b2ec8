package statemachine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func handler(fn func(in map[string]any) (any, error)) Handler {
	return func(_ context.Context, payload []byte) ([]byte, error) {
		var in map[string]any
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, err
		}
		out, err := fn(in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
}

func run(t *testing.T, def string, res map[string]Handler, input string) (any, *Execution, error) {
	t.Helper()
	m, err := Load([]byte(def), res)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	x := m.NewExecution("test")
	x.Sleep = func(context.Context, time.Duration) error { return nil }
	out, err := x.Run(context.Background(), []byte(input))
	if err != nil {
		return nil, x, err
	}
	var v any
	_ = json.Unmarshal(out, &v)
	return v, x, nil
}

func js(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func check(t *testing.T, got any, want string) {
	t.Helper()
	if w := js(t, want); !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Fatalf("output\n got %s\nwant %s", g, want)
	}
}

var adder = map[string]Handler{"arn:add": handler(func(in map[string]any) (any, error) {
	return in["val1"].(float64) + in["val2"].(float64), nil
})}

// The specification's "InputPath, ResultPath and OutputPath" example.
func TestPathsFromTheSpecification(t *testing.T) {
	def := `{"StartAt":"Add","States":{"Add":{"Type":"Task","Resource":"arn:add","InputPath":"$.numbers","ResultPath":"$.sum","End":true}}}`
	out, _, err := run(t, def, adder, `{"title":"Numbers to add","numbers":{"val1":3,"val2":4}}`)
	if err != nil {
		t.Fatal(err)
	}
	check(t, out, `{"title":"Numbers to add","numbers":{"val1":3,"val2":4},"sum":7}`)

	def = `{"StartAt":"Add","States":{"Add":{"Type":"Task","Resource":"arn:add","InputPath":"$.numbers","ResultPath":"$.sum","OutputPath":"$.sum","End":true}}}`
	out, _, _ = run(t, def, adder, `{"numbers":{"val1":3,"val2":4}}`)
	check(t, out, `7`)

	def = `{"StartAt":"Add","States":{"Add":{"Type":"Task","Resource":"arn:add","InputPath":"$.numbers","ResultPath":null,"End":true}}}`
	out, _, _ = run(t, def, adder, `{"numbers":{"val1":3,"val2":4}}`)
	check(t, out, `{"numbers":{"val1":3,"val2":4}}`)
}

// The specification's Parameters and ResultSelector examples (without slices).
func TestParametersAndResultSelector(t *testing.T) {
	echo := map[string]Handler{"arn:echo": handler(func(in map[string]any) (any, error) {
		return map[string]any{"resourceType": "elasticmapreduce", "resource": "createCluster", "output": map[string]any{"SdkHttpMetadata": map[string]any{"HttpHeaders": map[string]any{"Content-Length": "1112"}}, "ClusterId": "AKIAIOSFODNN7EXAMPLE"}, "in": in}, nil
	})}
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:echo",
		"Parameters":{"flagged":true,"parts":{"first.$":"$.vals[0]","name.$":"$$.Execution.Name"}},
		"ResultSelector":{"ClusterId.$":"$.output.ClusterId","ResourceType.$":"$.resourceType","Echo.$":"$.in"},
		"ResultPath":"$.EMROutput","End":true}}}`
	out, _, err := run(t, def, echo, `{"vals":[1,2,3]}`)
	if err != nil {
		t.Fatal(err)
	}
	check(t, out, `{"vals":[1,2,3],"EMROutput":{"ClusterId":"AKIAIOSFODNN7EXAMPLE","ResourceType":"elasticmapreduce","Echo":{"flagged":true,"parts":{"first":1,"name":"test"}}}}`)
}

// The specification's Choice example.
func TestChoiceRulesFromTheSpecification(t *testing.T) {
	def := `{"StartAt":"ChoiceStateX","States":{
		"ChoiceStateX":{"Type":"Choice","Choices":[
			{"Not":{"Variable":"$.type","StringEquals":"Private"},"Next":"Public"},
			{"Variable":"$.value","NumericEquals":0,"Next":"ValueIsZero"},
			{"And":[{"Variable":"$.value","NumericGreaterThanEquals":20},{"Variable":"$.value","NumericLessThan":30}],"Next":"ValueInTwenties"},
			{"Or":[{"Variable":"$.missing","IsPresent":true},{"Variable":"$.flag","BooleanEquals":true}],"Next":"Flagged"}
		],"Default":"DefaultState"},
		"Public":{"Type":"Pass","Result":"Public","End":true},
		"ValueIsZero":{"Type":"Pass","Result":"ValueIsZero","End":true},
		"ValueInTwenties":{"Type":"Pass","Result":"ValueInTwenties","End":true},
		"Flagged":{"Type":"Pass","Result":"Flagged","End":true},
		"DefaultState":{"Type":"Fail","Error":"DefaultStateError","Cause":"No Matches!"}}}`
	for in, want := range map[string]string{
		`{"type":"Public","value":5}`:                  `"Public"`,
		`{"type":"Private","value":0}`:                 `"ValueIsZero"`,
		`{"type":"Private","value":25}`:                `"ValueInTwenties"`,
		`{"type":"Private","value":30,"flag":true}`:    `"Flagged"`,
		`{"type":"Private","value":30,"missing":null}`: `"Flagged"`,
	} {
		out, _, err := run(t, def, nil, in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		check(t, out, want)
	}
	// On AWS a rule whose Variable selects nothing fails the state (strict_test.go), so the
	// default case carries every field a rule reads.
	_, _, err := run(t, def, nil, `{"type":"Private","value":31,"flag":false}`)
	var ae *Error
	if !errors.As(err, &ae) || ae.Name != "DefaultStateError" || ae.Cause != "No Matches!" {
		t.Fatalf("default: %v", err)
	}
}

// The specification's Map example: items from ItemsPath, the context object's item value,
// results placed back with ResultPath.
func TestMapFromTheSpecification(t *testing.T) {
	var running, peak atomic.Int64
	res := map[string]Handler{"arn:validate": handler(func(in map[string]any) (any, error) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		parcel := in["parcel"].(map[string]any)
		return map[string]any{"prod": parcel["prod"], "courier": in["courier"], "ok": true}, nil
	})}
	def := `{"StartAt":"Validate-All","States":{"Validate-All":{"Type":"Map","InputPath":"$.detail","ItemsPath":"$.shipped","MaxConcurrency":2,
		"ItemSelector":{"parcel.$":"$$.Map.Item.Value","courier.$":"$.delivery-partner"},
		"ItemProcessor":{"StartAt":"Validate","States":{"Validate":{"Type":"Task","Resource":"arn:validate","End":true}}},
		"ResultPath":"$.detail.shipped","End":true}}}`
	in := `{"ship-date":"2016-03-14T01:59:00Z","detail":{"delivery-partner":"UQS","shipped":[
		{"prod":"R31","dest-code":9511,"quantity":1344},{"prod":"S39","dest-code":9511,"quantity":40},
		{"prod":"R31","dest-code":9833,"quantity":12},{"prod":"R40","dest-code":9860,"quantity":887}]}}`
	out, x, err := run(t, def, res, in)
	if err != nil {
		t.Fatal(err)
	}
	check(t, out, `{"ship-date":"2016-03-14T01:59:00Z","detail":{"delivery-partner":"UQS","shipped":[
		{"prod":"R31","courier":"UQS","ok":true},{"prod":"S39","courier":"UQS","ok":true},
		{"prod":"R31","courier":"UQS","ok":true},{"prod":"R40","courier":"UQS","ok":true}]}}`)
	if peak.Load() > 2 {
		t.Fatalf("MaxConcurrency 2, but %d iterations ran at once", peak.Load())
	}
	// Billed transitions: the Map state, plus one per iteration's state.
	if x.Transitions() != 5 {
		t.Fatalf("transitions = %d, want 5", x.Transitions())
	}
}

type flakyError struct{}

func (flakyError) Error() string { return "try again" }

func TestRetryAndCatch(t *testing.T) {
	var calls atomic.Int64
	res := map[string]Handler{"arn:flaky": func(context.Context, []byte) ([]byte, error) {
		if calls.Add(1) <= 2 {
			return nil, &flakyError{}
		}
		return []byte(`"ok"`), nil
	}}
	retry := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:flaky","Retry":[{"ErrorEquals":["flakyError"],"IntervalSeconds":1,"MaxAttempts":%d,"BackoffRate":2}],
		"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Handled"}],"ResultPath":"$.r","End":true},
		"Handled":{"Type":"Pass","End":true}}}`
	out, x, err := run(t, fmt.Sprintf(retry, 2), res, `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	check(t, out, `{"a":1,"r":"ok"}`)
	retries := 0
	for _, e := range x.History() {
		if e.Type == "TaskRetried" {
			retries++
		}
	}
	if retries != 2 {
		t.Fatalf("%d retries recorded", retries)
	}
	calls.Store(0)
	out, _, err = run(t, fmt.Sprintf(retry, 1), res, `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	// A Lambda function's error: its type names it, its error document is the cause.
	check(t, out, `{"a":1,"error":{"Error":"flakyError","Cause":"{\"errorMessage\":\"try again\",\"errorType\":\"flakyError\"}"}}`)
}

func TestTaskTimeout(t *testing.T) {
	res := map[string]Handler{"arn:slow": func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:slow","TimeoutSeconds":1,"End":true}}}`
	_, _, err := run(t, def, res, `{}`)
	var ae *Error
	if !errors.As(err, &ae) || ae.Name != "States.Timeout" {
		t.Fatalf("timeout: %v", err)
	}
}

func TestPassWaitParallelSucceed(t *testing.T) {
	def := `{"StartAt":"P","States":{
		"P":{"Type":"Pass","Result":{"x-datum":0.381018,"y-datum":622.2269926397355},"ResultPath":"$.coords","Next":"W"},
		"W":{"Type":"Wait","SecondsPath":"$.wait","Next":"Par"},
		"Par":{"Type":"Parallel","Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"who.$":"$.georefOf"},"End":true}}},
			{"StartAt":"B","States":{"B":{"Type":"Pass","InputPath":"$.coords","End":true}}}
		],"ResultPath":"$.both","Next":"S"},
		"S":{"Type":"Succeed","OutputPath":"$.both"}}}`
	out, x, err := run(t, def, nil, `{"georefOf":"Home","wait":2}`)
	if err != nil {
		t.Fatal(err)
	}
	check(t, out, `[{"who":"Home"},{"x-datum":0.381018,"y-datum":622.2269926397355}]`)
	if x.Transitions() != 6 {
		t.Fatalf("transitions = %d, want 6 (P, W, Par, A, B, S)", x.Transitions())
	}
}

func TestLoadRefusesWhatItCannotRun(t *testing.T) {
	res := map[string]Handler{"arn:x": handler(func(map[string]any) (any, error) { return nil, nil })}
	for def, msg := range map[string]string{
		`{"StartAt":"A","States":{"A":{"Type":"Ghost","End":true}}}`:                                                      `state "A": state type "Ghost" is not supported`,
		`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:x","HeartbeatSeconds":5,"End":true}}}`:               `state "A": field "HeartbeatSeconds" is not supported on a Task state`,
		`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:nope","End":true}}}`:                                 `state "A": resource "arn:nope" has no handler`,
		`{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"v.$":"States.Format('{}', $.x)"},"End":true}}}`:       `intrinsic function States.Format is not supported`,
		`{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.items[*]","End":true}}}`:                              `unsupported path step [*]`,
		`{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.a","StringMatches":"x*","Next":"A"}]}}}`: `choice rule field "StringMatches" is not supported`,
		`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`:                                                       `transition to unknown state "B"`,
		`{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`:                                                                  `needs exactly one of Next and End`,
	} {
		_, err := Load([]byte(def), res)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Load(%s): want %q, got %v", def, msg, err)
		}
	}
}

// Every definition passes asl-validator (npm, installed by hack/dynamodb.sh), and the check
// can fail: a broken definition does not pass.
func TestDefinitionsPassASLValidator(t *testing.T) {
	bin, _ := filepath.Abs("../hack/node/node_modules/.bin/asl-validator")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("asl-validator is not installed at %s: run `make test` (hack/dynamodb.sh installs hack/node with npm ci)", bin)
	}
	defs, _ := filepath.Glob("*.asl.json")
	if len(defs) == 0 {
		t.Fatal("no definitions found")
	}
	for _, d := range defs {
		if out, err := exec.Command(bin, "--json-path", d).CombinedOutput(); err != nil {
			t.Errorf("%s: asl-validator: %v\n%s", d, err, out)
		}
	}
	broken := filepath.Join(t.TempDir(), "broken.asl.json")
	_ = os.WriteFile(broken, []byte(`{"StartAt":"A","States":{"A":{"Type":"Task","End":true}}}`), 0o644)
	if out, err := exec.Command(bin, "--json-path", broken).CombinedOutput(); err == nil {
		t.Fatalf("asl-validator accepted a Task without Resource:\n%s", out)
	}
}

// MaxConcurrencyPath takes the limit from the input (a batch's requested concurrency); a
// value that is not a non-negative integer fails the state by name.
func TestMapMaxConcurrencyPath(t *testing.T) {
	var running, peak atomic.Int64
	res := map[string]Handler{"arn:work": handler(func(in map[string]any) (any, error) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		return in, nil
	})}
	def := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.items","MaxConcurrencyPath":"$.limit",
		"ItemProcessor":{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"arn:work","End":true}}},
		"ResultPath":"$.results","End":true}}}`
	if _, _, err := run(t, def, res, `{"limit":3,"items":[{},{},{},{},{},{},{},{},{}]}`); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != 3 {
		t.Fatalf("MaxConcurrencyPath 3, but at most %d iterations ran at once", p)
	}
	_, _, err := run(t, def, res, `{"limit":"three","items":[{}]}`)
	var ae *Error
	if !errors.As(err, &ae) || ae.Name != "States.Runtime" || !strings.Contains(ae.Cause, `state "Each": MaxConcurrencyPath`) {
		t.Fatalf("a limit that is not a number: %v", err)
	}
}

// Fail's ErrorPath and CausePath select strings from the state's input; a path that selects
// nothing, or no string, is States.Runtime
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-fail.html).
func TestFailErrorPathAndCausePath(t *testing.T) {
	def := `{"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.e.Error", "CausePath": "$.why"}}}`
	_, _, err := run(t, def, nil, `{"e": {"Error": "StateError"}, "why": "only a failed update can be rolled back"}`)
	var se *Error
	if !errors.As(err, &se) || se.Name != "StateError" || se.Cause != "only a failed update can be rolled back" {
		t.Fatalf("fail with paths: %v", err)
	}
	for _, in := range []string{`{"e": {"Error": "X"}}`, `{"e": {"Error": "X"}, "why": 3}`} {
		_, _, err := run(t, def, nil, in)
		if !errors.As(err, &se) || se.Name != "States.Runtime" || !strings.Contains(se.Cause, "$.why does not select a string") {
			t.Fatalf("input %s: %v", in, err)
		}
	}
}
