// Package expr holds AOS's CEL expressions (github.com/google/cel-go, the library Kubernetes,
// kro and Flux evaluate theirs with): compiled and type-checked once, evaluated under a cost
// limit as the Kubernetes API server bounds its validation rules.
//
// A readiness expression (`ready.when`, `ready.failWhen`) reads the node's live object as
// `self`, as a Kubernetes validation rule does: `self.status.?readyReplicas.orValue(0) >= 2`.
package expr

import (
	"errors"
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	"k8s.io/apiserver/pkg/cel/library"
)

// CostLimit bounds what one evaluation may do, in CEL's cost units (about one per value
// visited or operation run): what a Kubernetes validation rule may spend (apiserver's
// PerCallLimit). An expression that would spend more stops with an error rather than run
// away. (No estimate is made at validate time: over an object of unknown size, as `self`
// is, every loop's estimate is unbounded.)
const CostLimit = 1_000_000

// MaxLength is the longest expression accepted, in bytes.
const MaxLength = 4096

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

// selfEnv is the environment of readiness expressions: `self`, any JSON-like value, and the
// libraries.
func selfEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		env, envErr = cel.NewEnv(append(libraries(), cel.Variable("self", cel.DynType))...)
	})
	return env, envErr
}

// libraries are the functions every expression may call: CEL's standard library and
// optional values (`.?`, orValue), cel-go's extensions (strings, lists, sets, math, base64,
// regex) and the Kubernetes libraries a validation rule has (quantity, url, ip, cidr,
// format, semver; isSorted/sum/min/max/indexOf on lists; find/findAll).
func libraries() []cel.EnvOption {
	return []cel.EnvOption{
		cel.OptionalTypes(),
		ext.Strings(), ext.Lists(), ext.Sets(), ext.Math(), ext.Encoders(), ext.Regex(),
		library.Quantity(), library.URLs(), library.IP(), library.CIDR(), library.Format(),
		library.SemverLib(), library.Lists(), library.Regex(),
		cel.CrossTypeNumericComparisons(true),
	}
}

// Rule is a compiled boolean expression over `self`.
type Rule struct {
	Source string
	prg    cel.Program
}

// Error is a compile error, with CEL's own message (which points into the expression).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// CompileRule compiles and type-checks a readiness expression: it must be a boolean (or a
// value only known when evaluated, checked then), and its worst-case cost bounded.
func CompileRule(src string) (*Rule, error) {
	e, _, ast, err := compile(selfEnv, src)
	if err != nil {
		return nil, err
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, &Error{fmt.Sprintf("the expression is of type %s; it must be true or false", t)}
	}
	prg, err := program(e, ast)
	if err != nil {
		return nil, err
	}
	return &Rule{Source: src, prg: prg}, nil
}

var rules = cache[*Rule]{max: 1024}

// Cached is CompileRule, keeping what it compiled: a check-ready evaluates the same few rules
// over and over.
func Cached(src string) (*Rule, error) { return rules.get(src, CompileRule) }

// ErrNotBool: the expression's value was not a boolean.
var ErrNotBool = errors.New("the expression's value is not true or false")

// Eval evaluates the rule on self (a JSON-like value). A field that is not there yet is an
// error (`no such key`), which a readiness check takes as "not yet": write `self.?a.b` or
// `has(self.a)` to say otherwise.
func (r *Rule) Eval(self map[string]any) (bool, error) {
	out, _, err := r.prg.Eval(map[string]any{"self": integral(self)})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("%w (it is %v)", ErrNotBool, out.Value())
	}
	return b, nil
}
