// Package statemachine holds AOS's Amazon States Language definitions and the embedded
// runner that executes them unchanged, so the `aos` CLI runs the very definition AWS Step
// Functions runs. The runner implements the states and fields the definitions use and
// refuses anything else when a definition is loaded, naming the state.
package statemachine

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BatchDefinition is statemachine/batch.asl.json: one stack state machine execution per
// instance, at most the requested number at once.
//
//go:embed batch.asl.json
var BatchDefinition []byte

// StartStackSync is the Task resource that runs a child execution of the stack state machine
// and waits for it (Step Functions' optimized integration, output as JSON).
const StartStackSync = "arn:aws:states:::states:startExecution.sync:2"

// StackDefinition is statemachine/stack.asl.json.
//
//go:embed stack.asl.json
var StackDefinition []byte

// Handler is a Task's resource: JSON in, JSON out, as Lambda sees it.
type Handler func(ctx context.Context, payload []byte) ([]byte, error)

// Error is a failure with an ASL error name (what Retry and Catch match) and a cause.
type Error struct {
	Name  string
	Cause string
}

func (e *Error) Error() string { return e.Name + ": " + e.Cause }

// Event is one entry of an execution's history.
type Event struct {
	Time  time.Time `json:"time"`
	Type  string    `json:"type"` // StateEntered, StateExited, TaskFailed, TaskRetried, ExecutionSucceeded, ExecutionFailed
	State string    `json:"state,omitempty"`
	Info  string    `json:"info,omitempty"`
}

// Machine is a loaded definition.
type Machine struct {
	def       *machineDef
	resources map[string]Handler
	// ID is the machine's ARN as executions see it ($$.StateMachine.Id).
	ID string
}

type machineDef struct {
	StartAt string
	States  map[string]*state
}

type retrier struct {
	ErrorEquals     []string
	IntervalSeconds *float64
	MaxAttempts     *int
	BackoffRate     *float64
	MaxDelaySeconds *float64
}

type catcher struct {
	ErrorEquals []string
	ResultPath  *string
	Next        string
}

type rule struct {
	Variable string
	And      []*rule
	Or       []*rule
	Not      *rule
	Next     string
	op       string
	operand  any
}

type state struct {
	name           string
	Type           string
	Next           string
	End            bool
	InputPath      *string
	OutputPath     *string
	ResultPath     *string
	Parameters     any
	ResultSelector any
	Result         any
	hasResult      bool
	Resource       string
	TimeoutSeconds int
	Retry          []retrier
	Catch          []catcher
	Choices        []*rule
	Default        string
	Seconds        *float64
	SecondsPath    string
	ItemsPath      *string
	ItemSelector   any
	ItemProcessor  *machineDef
	MaxConcurrency int
	// MaxConcurrencyPath reads the limit from the input (a batch's requested concurrency).
	MaxConcurrencyPath string
	Branches           []*machineDef
	Error              string
	Cause              string
	// ErrorPath and CausePath read a Fail state's error and cause from its input.
	ErrorPath, CausePath string
}

// Fields each state type may use; anything else is refused at load.
var allowed = map[string][]string{
	"Task":     {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Resource", "TimeoutSeconds", "Retry", "Catch"},
	"Choice":   {"Type", "Comment", "Choices", "Default", "InputPath", "OutputPath"},
	"Wait":     {"Type", "Comment", "Next", "End", "Seconds", "SecondsPath", "InputPath", "OutputPath"},
	"Pass":     {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result"},
	"Succeed":  {"Type", "Comment", "InputPath", "OutputPath"},
	"Fail":     {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
	"Map":      {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "ResultSelector", "ItemsPath", "ItemSelector", "Parameters", "ItemProcessor", "Iterator", "MaxConcurrency", "MaxConcurrencyPath", "Retry", "Catch"},
	"Parallel": {"Type", "Comment", "Next", "End", "InputPath", "OutputPath", "ResultPath", "ResultSelector", "Parameters", "Branches", "Retry", "Catch"},
}

var comparators = []string{"BooleanEquals", "NumericEquals", "NumericGreaterThan", "NumericGreaterThanEquals", "NumericLessThan",
	"NumericLessThanEquals", "StringEquals", "StringGreaterThan", "StringLessThan", "IsPresent", "IsNull", "IsBoolean", "IsNumeric", "IsString"}

// Load parses a definition and binds its Task resources to handlers. Unsupported states,
// fields, comparators, paths and unknown resources are errors naming the state.
func Load(definition []byte, resources map[string]Handler) (*Machine, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(definition, &raw); err != nil {
		return nil, fmt.Errorf("state machine definition: %w", err)
	}
	def, err := loadMachine(raw, resources, "")
	if err != nil {
		return nil, err
	}
	return &Machine{def: def, resources: resources}, nil
}

func loadMachine(raw map[string]json.RawMessage, resources map[string]Handler, where string) (*machineDef, error) {
	for k := range raw {
		if !slices.Contains([]string{"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "ProcessorConfig"}, k) {
			return nil, fmt.Errorf("%sunsupported top-level field %q", where, k)
		}
	}
	if pc, ok := raw["ProcessorConfig"]; ok {
		var cfg struct{ Mode string }
		if err := json.Unmarshal(pc, &cfg); err != nil || cfg.Mode != "" && cfg.Mode != "INLINE" {
			return nil, fmt.Errorf("%sonly INLINE Map processing is supported", where)
		}
	}
	def := &machineDef{States: map[string]*state{}}
	if err := json.Unmarshal(raw["StartAt"], &def.StartAt); err != nil || def.StartAt == "" {
		return nil, fmt.Errorf("%sStartAt is missing", where)
	}
	var states map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw["States"], &states); err != nil {
		return nil, fmt.Errorf("%sStates: %w", where, err)
	}
	for name, fields := range states {
		s, err := loadState(name, fields, resources)
		if err != nil {
			return nil, fmt.Errorf("%sstate %q: %w", where, name, err)
		}
		def.States[name] = s
	}
	if def.States[def.StartAt] == nil {
		return nil, fmt.Errorf("%sStartAt names unknown state %q", where, def.StartAt)
	}
	for name, s := range def.States {
		targets := []string{s.Next, s.Default}
		for _, c := range s.Catch {
			targets = append(targets, c.Next)
		}
		for _, r := range s.Choices {
			targets = append(targets, r.Next)
		}
		for _, t := range targets {
			if t != "" && def.States[t] == nil {
				return nil, fmt.Errorf("%sstate %q: transition to unknown state %q", where, name, t)
			}
		}
	}
	return def, nil
}

func loadState(name string, f map[string]json.RawMessage, resources map[string]Handler) (*state, error) {
	s := &state{name: name}
	if err := json.Unmarshal(f["Type"], &s.Type); err != nil {
		return nil, errors.New("Type is missing")
	}
	ok, known := allowed[s.Type]
	if !known {
		return nil, fmt.Errorf("state type %q is not supported by the embedded runner", s.Type)
	}
	for k := range f {
		if !slices.Contains(ok, k) {
			return nil, fmt.Errorf("field %q is not supported on a %s state by the embedded runner", k, s.Type)
		}
	}
	dec := func(key string, into any) error {
		if v, ok := f[key]; ok {
			if err := json.Unmarshal(v, into); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
		}
		return nil
	}
	for key, into := range map[string]any{
		"Next": &s.Next, "End": &s.End, "InputPath": &s.InputPath, "OutputPath": &s.OutputPath, "ResultPath": &s.ResultPath,
		"Parameters": &s.Parameters, "ResultSelector": &s.ResultSelector, "Resource": &s.Resource, "TimeoutSeconds": &s.TimeoutSeconds,
		"Retry": &s.Retry, "Catch": &s.Catch, "Default": &s.Default, "Seconds": &s.Seconds, "SecondsPath": &s.SecondsPath,
		"ItemsPath": &s.ItemsPath, "ItemSelector": &s.ItemSelector, "MaxConcurrency": &s.MaxConcurrency, "MaxConcurrencyPath": &s.MaxConcurrencyPath, "Error": &s.Error, "Cause": &s.Cause,
		"ErrorPath": &s.ErrorPath, "CausePath": &s.CausePath,
	} {
		if err := dec(key, into); err != nil {
			return nil, err
		}
	}
	// A JSON null path ("ResultPath": null) differs from an absent one; "" marks null.
	for key, into := range map[string]**string{"InputPath": &s.InputPath, "OutputPath": &s.OutputPath, "ResultPath": &s.ResultPath} {
		if v, ok := f[key]; ok && string(v) == "null" {
			empty := ""
			*into = &empty
		}
	}
	if raw, ok := f["Catch"]; ok {
		var cs []map[string]json.RawMessage
		_ = json.Unmarshal(raw, &cs)
		for i, c := range cs {
			if v, ok := c["ResultPath"]; ok && string(v) == "null" && i < len(s.Catch) {
				empty := ""
				s.Catch[i].ResultPath = &empty
			}
		}
	}
	if _, ok := f["Result"]; ok {
		s.hasResult = true
		if err := dec("Result", &s.Result); err != nil {
			return nil, err
		}
	}
	for _, p := range []*string{s.InputPath, s.OutputPath, s.ResultPath, s.ItemsPath} {
		if p != nil && *p != "" {
			if _, err := parsePath(*p); err != nil {
				return nil, err
			}
		}
	}
	if s.SecondsPath != "" {
		if _, err := parsePath(s.SecondsPath); err != nil {
			return nil, err
		}
	}
	if s.Seconds != nil && !waitSeconds(*s.Seconds) {
		return nil, fmt.Errorf("Seconds must be an integer from 0 to %d, not %v", maxWaitSeconds, *s.Seconds)
	}
	for _, t := range []any{s.Parameters, s.ResultSelector, s.ItemSelector} {
		if err := checkTemplate(t); err != nil {
			return nil, err
		}
	}
	switch s.Type {
	case "Task":
		if resources[s.Resource] == nil {
			return nil, fmt.Errorf("resource %q has no handler", s.Resource)
		}
	case "Choice":
		var rules []map[string]json.RawMessage
		if err := json.Unmarshal(f["Choices"], &rules); err != nil || len(rules) == 0 {
			return nil, errors.New("Choices must be a non-empty list")
		}
		for _, r := range rules {
			cr, err := loadRule(r, true)
			if err != nil {
				return nil, err
			}
			s.Choices = append(s.Choices, cr)
		}
	case "Map":
		proc := f["ItemProcessor"]
		if proc == nil {
			proc = f["Iterator"]
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(proc, &raw); err != nil {
			return nil, errors.New("ItemProcessor is missing")
		}
		sub, err := loadMachine(raw, resources, "ItemProcessor: ")
		if err != nil {
			return nil, err
		}
		s.ItemProcessor = sub
		if s.ItemSelector == nil {
			s.ItemSelector = s.Parameters
			s.Parameters = nil
		}
	case "Parallel":
		var branches []map[string]json.RawMessage
		if err := json.Unmarshal(f["Branches"], &branches); err != nil || len(branches) == 0 {
			return nil, errors.New("Branches must be a non-empty list")
		}
		for i, b := range branches {
			sub, err := loadMachine(b, resources, fmt.Sprintf("branch %d: ", i))
			if err != nil {
				return nil, err
			}
			s.Branches = append(s.Branches, sub)
		}
	}
	terminal := s.Type == "Choice" || s.Type == "Succeed" || s.Type == "Fail"
	if !terminal && (s.Next == "") == !s.End {
		return nil, errors.New("needs exactly one of Next and End")
	}
	return s, nil
}

func loadRule(r map[string]json.RawMessage, top bool) (*rule, error) {
	out := &rule{}
	for k, v := range r {
		var err error
		switch {
		case k == "Variable":
			err = json.Unmarshal(v, &out.Variable)
			if err == nil {
				_, err = parsePath(out.Variable)
			}
		case k == "Next" && top:
			err = json.Unmarshal(v, &out.Next)
		case k == "And" || k == "Or":
			var subs []map[string]json.RawMessage
			if err = json.Unmarshal(v, &subs); err == nil {
				for _, sr := range subs {
					cr, e := loadRule(sr, false)
					if e != nil {
						return nil, e
					}
					if k == "And" {
						out.And = append(out.And, cr)
					} else {
						out.Or = append(out.Or, cr)
					}
				}
			}
		case k == "Not":
			var sub map[string]json.RawMessage
			if err = json.Unmarshal(v, &sub); err == nil {
				out.Not, err = loadRule(sub, false)
			}
		case slices.Contains(comparators, k):
			out.op = k
			err = json.Unmarshal(v, &out.operand)
		case k == "Comment":
		default:
			return nil, fmt.Errorf("choice rule field %q is not supported by the embedded runner", k)
		}
		if err != nil {
			return nil, fmt.Errorf("choice rule %s: %w", k, err)
		}
	}
	if top && out.Next == "" {
		return nil, errors.New("a choice rule needs Next")
	}
	return out, nil
}

// checkTemplate refuses payload templates the runner cannot evaluate (intrinsic functions).
func checkTemplate(t any) error {
	switch x := t.(type) {
	case map[string]any:
		for k, v := range x {
			if strings.HasSuffix(k, ".$") {
				s, ok := v.(string)
				if !ok {
					return fmt.Errorf("%s must be a path string", k)
				}
				if strings.HasPrefix(s, "States.") {
					return fmt.Errorf("intrinsic function %s is not supported by the embedded runner", strings.SplitN(s, "(", 2)[0])
				}
				if _, err := parsePath(s); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				continue
			}
			if err := checkTemplate(v); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range x {
			if err := checkTemplate(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Execution is one run of a machine.
type Execution struct {
	m           *Machine
	transitions atomic.Int64
	mu          sync.Mutex
	history     []Event
	name        string
	events      atomic.Int64 // history events as AWS counts them (limits.go)
	maxPayload  atomic.Int64
	// Sleep waits (Wait states, retry intervals); tests may shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewExecution prepares a run.
func (m *Machine) NewExecution(name string) *Execution {
	return &Execution{m: m, name: name, Sleep: sleep}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Transitions counts states entered, as AWS bills a Standard workflow.
func (x *Execution) Transitions() int64 { return x.transitions.Load() }

// History returns the execution's events so far.
func (x *Execution) History() []Event {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.history)
}

func (x *Execution) record(typ, st, info string) {
	x.mu.Lock()
	x.history = append(x.history, Event{Time: time.Now(), Type: typ, State: st, Info: info})
	x.mu.Unlock()
}

// Run executes the machine on input (JSON) and returns its output (JSON). A Fail state or an
// uncaught error is returned as *Error.
func (x *Execution) Run(ctx context.Context, input []byte) ([]byte, error) {
	var in any
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, fmt.Errorf("execution input: %w", err)
	}
	cctx := map[string]any{"Execution": map[string]any{"Name": x.name, "Input": in, "StartTime": time.Now().UTC().Format(time.RFC3339Nano)},
		"StateMachine": map[string]any{"Id": x.m.ID}}
	_ = x.count(2) // ExecutionStarted, and the event that ends it
	out, err := x.run(ctx, x.m.def, in, cctx)
	if err != nil {
		x.record("ExecutionFailed", "", err.Error())
		return nil, err
	}
	x.record("ExecutionSucceeded", "", "")
	return json.Marshal(out)
}

func (x *Execution) run(ctx context.Context, def *machineDef, input any, cctx map[string]any) (any, error) {
	cur := def.States[def.StartAt]
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x.transitions.Add(1)
		x.record("StateEntered", cur.name, "")
		if err := x.count(2); err != nil {
			return nil, err
		}
		if _, err := x.measure(cur, "input", input); err != nil {
			return nil, err
		}
		out, next, err := x.step(ctx, cur, input, cctx)
		if err != nil {
			return nil, err
		}
		if _, err := x.measure(cur, "output", out); err != nil {
			return nil, err
		}
		x.record("StateExited", cur.name, "")
		if next == "" {
			return out, nil
		}
		cur, input = def.States[next], out
	}
}

func pathOr(p *string, def string) (path, bool) {
	if p == nil {
		pp, _ := parsePath(def)
		return pp, true
	}
	if *p == "" {
		return path{}, false // explicit null
	}
	pp, _ := parsePath(*p)
	return pp, true
}

// step runs one state and returns its output and the next state's name ("" at the end).
func (x *Execution) step(ctx context.Context, s *state, input any, cctx map[string]any) (any, string, error) {
	eff := input
	if p, ok := pathOr(s.InputPath, "$"); ok {
		v, found := p.get(input, cctx)
		if !found {
			return nil, "", &Error{"States.Runtime", fmt.Sprintf("state %q: InputPath %s matched nothing", s.name, *s.InputPath)}
		}
		eff = v
	} else {
		eff = map[string]any{}
	}
	next := s.Next
	var result any
	var err error
	switch s.Type {
	case "Succeed":
		out, err := x.output(s, eff, cctx)
		return out, "", err
	case "Fail":
		// ErrorPath and CausePath must each select a string; anything else is a
		// States.Runtime error, as on AWS
		// (https://docs.aws.amazon.com/step-functions/latest/dg/state-fail.html).
		e := &Error{s.Error, s.Cause}
		for _, f := range []struct {
			path string
			into *string
		}{{s.ErrorPath, &e.Name}, {s.CausePath, &e.Cause}} {
			if f.path == "" {
				continue
			}
			p, err := parsePath(f.path)
			if err != nil {
				return nil, "", &Error{"States.Runtime", fmt.Sprintf("state %q: %s: %v", s.name, f.path, err)}
			}
			v, found := p.get(eff, cctx)
			str, isStr := v.(string)
			if !found || !isStr {
				return nil, "", &Error{"States.Runtime", fmt.Sprintf("state %q: %s does not select a string", s.name, f.path)}
			}
			*f.into = str
		}
		return nil, "", e
	case "Choice":
		for _, r := range s.Choices {
			ok, err := r.eval(eff, cctx)
			if err != nil {
				return nil, "", inState(s, err)
			}
			if ok {
				out, err := x.output(s, eff, cctx)
				return out, r.Next, err
			}
		}
		if s.Default == "" {
			return nil, "", &Error{"States.NoChoiceMatched", fmt.Sprintf("state %q: no choice matched", s.name)}
		}
		out, err := x.output(s, eff, cctx)
		return out, s.Default, err
	case "Wait":
		secs := 0.0
		if s.Seconds != nil {
			secs = *s.Seconds
		} else {
			p, _ := parsePath(s.SecondsPath)
			v, ok := p.get(eff, cctx)
			f, isNum := v.(float64)
			if !ok || !isNum || !waitSeconds(f) {
				return nil, "", &Error{"States.Runtime", fmt.Sprintf("state %q: SecondsPath %s must select an integer from 0 to %d, got %v", s.name, s.SecondsPath, maxWaitSeconds, v)}
			}
			secs = f
		}
		if err := x.Sleep(ctx, time.Duration(secs*float64(time.Second))); err != nil {
			return nil, "", err
		}
		out, err := x.output(s, eff, cctx)
		if s.End {
			return out, "", err
		}
		return out, s.Next, err
	case "Pass":
		result = eff
		if s.Parameters != nil {
			if result, err = evalTemplate(s.Parameters, eff, cctx); err != nil {
				return nil, "", inState(s, err)
			}
		}
		if s.hasResult {
			result = s.Result
		}
	default: // Task, Map, Parallel: retried and caught as a whole
		result, err = x.withRetry(ctx, s, eff, cctx)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				return nil, "", err
			}
			for _, c := range s.Catch {
				if matches(c.ErrorEquals, ae.Name) {
					x.record("CaughtError", s.name, ae.Error())
					out, perr := applyResultPath(c.ResultPath, input, map[string]any{"Error": ae.Name, "Cause": ae.Cause})
					if perr != nil {
						return nil, "", perr
					}
					return out, c.Next, nil
				}
			}
			return nil, "", err
		}
		if s.ResultSelector != nil {
			if result, err = evalTemplate(s.ResultSelector, result, cctx); err != nil {
				return nil, "", inState(s, err)
			}
		}
	}
	out, err := applyResultPath(s.ResultPath, input, result)
	if err != nil {
		return nil, "", &Error{"States.ResultPathMatchFailure", fmt.Sprintf("state %q: %v", s.name, err)}
	}
	if s.End {
		next = ""
	}
	final, err := x.output(s, out, cctx)
	return final, next, err
}

func (x *Execution) output(s *state, v any, cctx map[string]any) (any, error) {
	if p, ok := pathOr(s.OutputPath, "$"); ok {
		if out, found := p.get(v, cctx); found {
			return out, nil
		}
		return nil, &Error{"States.Runtime", fmt.Sprintf("state %q: OutputPath %s matched nothing", s.name, *s.OutputPath)}
	}
	return map[string]any{}, nil
}

func applyResultPath(rp *string, input, result any) (any, error) {
	p, ok := pathOr(rp, "$")
	if !ok {
		return input, nil // ResultPath: null keeps the input
	}
	return p.set(input, result)
}

func (x *Execution) withRetry(ctx context.Context, s *state, eff any, cctx map[string]any) (any, error) {
	attempts := map[int]int{}
	for {
		result, err := x.execute(ctx, s, eff, cctx)
		if err == nil {
			return result, nil
		}
		var ae *Error
		if !errors.As(err, &ae) {
			return nil, err
		}
		x.record("TaskFailed", s.name, ae.Error())
		retried := false
		for i, r := range s.Retry {
			if !matches(r.ErrorEquals, ae.Name) {
				continue
			}
			maxAttempts := 3
			if r.MaxAttempts != nil {
				maxAttempts = *r.MaxAttempts
			}
			if attempts[i] >= maxAttempts {
				break
			}
			interval, rate := 1.0, 2.0
			if r.IntervalSeconds != nil {
				interval = *r.IntervalSeconds
			}
			if r.BackoffRate != nil {
				rate = *r.BackoffRate
			}
			delay := interval * math.Pow(rate, float64(attempts[i]))
			if r.MaxDelaySeconds != nil && delay > *r.MaxDelaySeconds {
				delay = *r.MaxDelaySeconds
			}
			attempts[i]++
			x.record("TaskRetried", s.name, fmt.Sprintf("attempt %d after %.1fs", attempts[i]+1, delay))
			if err := x.Sleep(ctx, time.Duration(delay*float64(time.Second))); err != nil {
				return nil, err
			}
			retried = true
			break
		}
		if !retried {
			return nil, err
		}
	}
}

func (x *Execution) execute(ctx context.Context, s *state, eff any, cctx map[string]any) (any, error) {
	switch s.Type {
	case "Task":
		payload := eff
		if s.Parameters != nil {
			var err error
			if payload, err = evalTemplate(s.Parameters, eff, cctx); err != nil {
				return nil, inState(s, err)
			}
		}
		in, err := x.measure(s, "input", payload)
		if err != nil {
			return nil, err
		}
		tctx := ctx
		if s.TimeoutSeconds > 0 {
			var cancel context.CancelFunc
			tctx, cancel = context.WithTimeout(ctx, time.Duration(s.TimeoutSeconds)*time.Second)
			defer cancel()
		}
		service := strings.HasPrefix(s.Resource, "arn:aws:states:::")
		events := int64(3)
		if service && strings.HasSuffix(s.Resource, ".sync") || strings.HasSuffix(s.Resource, ".sync:2") {
			events = 4
		}
		if err := x.count(events); err != nil {
			return nil, err
		}
		out, err := x.m.resources[s.Resource](tctx, in)
		if err != nil {
			if errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, &Error{"States.Timeout", fmt.Sprintf("state %q: task ran longer than %ds", s.name, s.TimeoutSeconds)}
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var ae *Error
			if errors.As(err, &ae) || service {
				return nil, &Error{errorName(err), causeOf(err)}
			}
			return nil, lambdaError(err)
		}
		if len(out) > MaxPayloadBytes {
			return nil, &Error{"States.DataLimitExceeded", fmt.Sprintf("state %q: the task's result is %d bytes, over the %d-byte payload quota", s.name, len(out), MaxPayloadBytes)}
		}
		var v any
		if len(out) > 0 {
			if err := json.Unmarshal(out, &v); err != nil {
				return nil, &Error{"States.Runtime", fmt.Sprintf("state %q: task output is not JSON: %v", s.name, err)}
			}
		}
		return v, nil
	case "Map":
		items := eff
		if s.ItemsPath != nil {
			p, _ := parsePath(*s.ItemsPath)
			v, ok := p.get(eff, cctx)
			if !ok {
				return nil, &Error{"States.Runtime", fmt.Sprintf("state %q: ItemsPath %s matched nothing", s.name, *s.ItemsPath)}
			}
			items = v
		}
		list, ok := items.([]any)
		if !ok {
			return nil, &Error{"States.Runtime", fmt.Sprintf("state %q: items are not an array", s.name)}
		}
		limit := s.MaxConcurrency
		if s.MaxConcurrencyPath != "" {
			p, err := parsePath(s.MaxConcurrencyPath)
			if err != nil {
				return nil, &Error{"States.Runtime", fmt.Sprintf("state %q: MaxConcurrencyPath: %v", s.name, err)}
			}
			v, ok := p.get(eff, cctx)
			n, isNum := v.(float64)
			if !ok || !isNum || n < 0 || n != float64(int(n)) {
				return nil, &Error{"States.Runtime", fmt.Sprintf("state %q: MaxConcurrencyPath %s must select a non-negative integer, got %v", s.name, s.MaxConcurrencyPath, v)}
			}
			limit = int(n)
		}
		if err := x.count(2); err != nil { // MapStateStarted, MapStateSucceeded
			return nil, err
		}
		return x.fanOut(ctx, len(list), limit, func(ctx context.Context, i int) (any, error) {
			ictx := cloneMap(cctx)
			ictx["Map"] = map[string]any{"Item": map[string]any{"Index": float64(i), "Value": list[i]}}
			item := list[i]
			if s.ItemSelector != nil {
				var err error
				if item, err = evalTemplate(s.ItemSelector, eff, ictx); err != nil {
					return nil, inState(s, err)
				}
			}
			if err := x.count(2); err != nil { // MapIterationStarted, MapIterationSucceeded
				return nil, err
			}
			return x.run(ctx, s.ItemProcessor, item, ictx)
		})
	case "Parallel":
		payload := eff
		if s.Parameters != nil {
			var err error
			if payload, err = evalTemplate(s.Parameters, eff, cctx); err != nil {
				return nil, inState(s, err)
			}
		}
		if err := x.count(2); err != nil { // ParallelStateStarted, ParallelStateSucceeded
			return nil, err
		}
		return x.fanOut(ctx, len(s.Branches), 0, func(ctx context.Context, i int) (any, error) {
			return x.run(ctx, s.Branches[i], payload, cctx)
		})
	}
	return nil, fmt.Errorf("state type %s cannot execute", s.Type)
}

// fanOut runs n iterations with at most limit at once (0: no limit); the first failure
// cancels the rest, as Step Functions does.
func (x *Execution) fanOut(ctx context.Context, n, limit int, fn func(context.Context, int) (any, error)) (any, error) {
	if limit <= 0 || limit > n {
		limit = max(n, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]any, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := fn(ctx, i)
			if err != nil {
				once.Do(func() { first = err; cancel() })
				return
			}
			out[i] = v
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// lambdaError is a Lambda function's error as Step Functions reports it: the error's type as
// the name, and as the cause the function's error document in JSON
// (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html, "Lambda").
func lambdaError(err error) *Error {
	return &Error{errorName(err), string(LambdaErrorDocument(err))}
}

// causeOf is an error's cause: an *Error's own, else its message.
func causeOf(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Cause
	}
	return err.Error()
}

// errorName is the error type name Lambda reports for a Go error (and Step Functions
// matches in Retry and Catch): the type's name without package or pointer.
func errorName(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Name
	}
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return "Error"
	}
	return t.Name()
}

// matches reports whether a Retry's or Catch's ErrorEquals takes an error, as AWS documents
// (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html):
// States.ALL matches every error but the terminal ones; States.TaskFailed every error but
// States.Timeout and the terminal ones. States.Runtime is never caught or retried ("will
// always cause the execution to fail"); States.DataLimitExceeded only where it is named.
func matches(names []string, name string) bool {
	if name == "States.Runtime" {
		return false
	}
	terminal := name == "States.DataLimitExceeded"
	for _, n := range names {
		switch {
		case n == name:
			return true
		case terminal:
		case n == "States.ALL", n == "States.TaskFailed" && name != "States.Timeout":
			return true
		}
	}
	return false
}

// evalTemplate evaluates a payload template: "key.$" fields take the value at a path. A path
// that selects nothing fails the state with States.Runtime, as on AWS (it is never null).
func evalTemplate(t any, input any, cctx map[string]any) (any, error) {
	switch x := t.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := x[k]
			if strings.HasSuffix(k, ".$") {
				p, _ := parsePath(v.(string))
				got, found := p.get(input, cctx)
				if !found {
					return nil, &Error{"States.Runtime", fmt.Sprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input", v, k)}
				}
				out[strings.TrimSuffix(k, ".$")] = got
				continue
			}
			r, err := evalTemplate(v, input, cctx)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			r, err := evalTemplate(v, input, cctx)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return t, nil
}

// inState names the state in a runtime error's cause.
func inState(s *state, err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return &Error{ae.Name, fmt.Sprintf("state %q: %s", s.name, ae.Cause)}
	}
	return err
}

// eval decides a Choice rule. A Variable that selects nothing is a States.Runtime error,
// except for IsPresent, which exists to ask
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html).
func (r *rule) eval(input any, cctx map[string]any) (bool, error) {
	switch {
	case r.And != nil:
		for _, s := range r.And {
			if ok, err := s.eval(input, cctx); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	case r.Or != nil:
		for _, s := range r.Or {
			if ok, err := s.eval(input, cctx); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	case r.Not != nil:
		ok, err := r.Not.eval(input, cctx)
		return !ok, err
	}
	p, _ := parsePath(r.Variable)
	v, present := p.get(input, cctx)
	if !present && r.op != "IsPresent" {
		return false, &Error{"States.Runtime", fmt.Sprintf("Invalid path '%s': the Choice rule's Variable selects nothing", r.Variable)}
	}
	return r.compare(v, present), nil
}

func (r *rule) compare(v any, present bool) bool {
	switch r.op {
	case "IsPresent":
		return present == (r.operand == true)
	case "IsNull":
		return present && (v == nil) == (r.operand == true)
	case "IsBoolean":
		_, ok := v.(bool)
		return present && ok == (r.operand == true)
	case "IsNumeric":
		_, ok := v.(float64)
		return present && ok == (r.operand == true)
	case "IsString":
		_, ok := v.(string)
		return present && ok == (r.operand == true)
	}
	switch r.op {
	case "BooleanEquals":
		b, ok := v.(bool)
		return ok && b == r.operand
	case "StringEquals", "StringGreaterThan", "StringLessThan":
		a, ok1 := v.(string)
		b, ok2 := r.operand.(string)
		if !ok1 || !ok2 {
			return false
		}
		switch r.op {
		case "StringEquals":
			return a == b
		case "StringGreaterThan":
			return a > b
		}
		return a < b
	}
	a, ok1 := v.(float64)
	b, ok2 := r.operand.(float64)
	if !ok1 || !ok2 {
		return false
	}
	switch r.op {
	case "NumericEquals":
		return a == b
	case "NumericGreaterThan":
		return a > b
	case "NumericGreaterThanEquals":
		return a >= b
	case "NumericLessThan":
		return a < b
	}
	return a <= b
}
