package expr

import (
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Roots are the variables a template expression (`${inputs.env == "prod" ? 3 : 1}`) reads.
var Roots = []string{"inputs", "nodes", "stack", "index", "each"}

var (
	valueEnvOnce sync.Once
	valueEnv     *cel.Env
	valueEnvErr  error
)

func templateEnv() (*cel.Env, error) {
	valueEnvOnce.Do(func() {
		opts := append(libraries(),
			cel.Variable("inputs", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("nodes", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("stack", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("index", cel.IntType),
			cel.Variable("each", cel.MapType(cel.StringType, cel.DynType)),
		)
		valueEnv, valueEnvErr = cel.NewEnv(append(opts, literalVars()...)...)
	})
	return valueEnv, valueEnvErr
}

// Step is one step of an access path: a field or a list index.
type Step struct {
	Field   string
	Index   int64
	IsIndex bool
}

// Access is what an expression reads from one root: `nodes.db.spec.ports[0]` is root
// "nodes", name "db", path .spec.ports[0]. A path stops where a step is computed (an index
// from a variable): the expression may read anything under it.
type Access struct {
	Root, Name string
	Path       []Step
	// Partial: a computed step follows Path.
	Partial bool
	// Optional: the name was selected optionally (`nodes.?cache`, `nodes[?"db-svc"]`).
	Optional bool
}

// Value is a compiled template expression.
type Value struct {
	Source   string
	Accesses []Access
	sh       *shape
	// lits are the values of the shape's literal variables (see normalize).
	lits map[string]any
}

// shape is a compiled expression whose literals may be variables: expressions that differ
// only in their literals (`'-1'` and `'-2'`, `nodes["a"]` and `nodes["b"]`, as generated
// templates write them) share one parse, one check and one program.
type shape struct {
	src         string
	parsed, ast *cel.Ast
	// The program is planned on first use: validate checks every expression of a template
	// and evaluates few of them, and planning is half of compiling.
	once   sync.Once
	prg    cel.Program
	prgErr error
}

var (
	values = cache[*Value]{max: 4096}
	shapes = cache[*shape]{max: 4096}
)

func compileShape(src string) (*shape, error) {
	_, parsed, ast, err := compile(templateEnv, src)
	if err != nil {
		return nil, err
	}
	return &shape{src: src, parsed: parsed, ast: ast}, nil
}

// CompileValue compiles and type-checks a template expression (cached by source: copies of a
// node share one; and by shape, see shape).
func CompileValue(src string) (*Value, error) {
	return values.get(src, func(src string) (*Value, error) {
		v := &Value{Source: src}
		var err error
		if norm, lits, ok := normalize(src); ok {
			if v.sh, err = shapes.get(norm, compileShape); err == nil {
				v.lits = lits
			}
		}
		if v.sh == nil {
			// No literals to lift, or the shape did not compile: the expression as written,
			// whose errors point where the author wrote.
			if v.sh, err = shapes.get(src, compileShape); err != nil {
				return nil, err
			}
		}
		walk(v.sh.ast.NativeRep().Expr(), v.lits, &v.Accesses)
		return v, nil
	})
}

// Eval evaluates the expression with the roots' values (inputs, nodes and stack as maps,
// index as an int64) and returns a JSON-like value: string, int64, float64, bool, nil,
// []any or map[string]any.
func (v *Value) Eval(vars map[string]any) (any, error) {
	sh := v.sh
	sh.once.Do(func() {
		e, err := templateEnv()
		if err == nil {
			sh.prg, err = program(e, sh.ast)
		}
		sh.prgErr = err
	})
	if sh.prgErr != nil {
		return nil, sh.prgErr
	}
	in := make(map[string]any, len(vars)+len(v.lits))
	for k, x := range vars {
		in[k] = integral(x)
	}
	for k, x := range v.lits {
		in[k] = x
	}
	out, _, err := sh.prg.Eval(in)
	if err != nil {
		return nil, err
	}
	return native(out)
}

var jsonType = reflect.TypeOf((*any)(nil)).Elem()

// integral is v with every whole float64 turned into an int64. Values that went through JSON
// (a stored live object, a params file) hold every number as a float64, and CEL does not add
// an int to a double: port + 1 must work whether the port came from the API server or from
// the store.
func integral(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = integral(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = integral(e)
		}
		return out
	}
	return v
}

func native(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bytes:
		return string(x), nil
	case types.Uint:
		return int64(x), nil
	case types.Duration, types.Timestamp:
		return fmt.Sprint(x.Value()), nil
	}
	switch v.Type().(*types.Type).Kind() {
	case types.ListKind:
		l := v.(interface {
			Size() ref.Val
			Get(ref.Val) ref.Val
		})
		n := l.Size().(types.Int)
		out := make([]any, 0, n)
		for i := types.Int(0); i < n; i++ {
			e, err := native(l.Get(i))
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case types.MapKind:
		m := v.(traits.Mapper)
		out := map[string]any{}
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			key, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map key is %s, not a string", k.Type())
			}
			e, err := native(m.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(key)] = e
		}
		return out, nil
	}
	if t, ok := v.Type().(*types.Type); !ok || t.Kind() == types.OpaqueKind || t.Kind() == types.StructKind {
		// A Kubernetes library value (a quantity, a URL, an IP) lands as its text.
		if s, err := v.ConvertToNative(reflect.TypeOf("")); err == nil {
			return s, nil
		}
	}
	return v.ConvertToNative(jsonType)
}

// walk collects the accesses of e: the longest constant path from each root it reads.
func walk(e celast.Expr, lits map[string]any, into *[]Access) {
	if a, rest, ok := access(e, lits); ok {
		*into = append(*into, a)
		for _, r := range rest {
			walk(r, lits, into)
		}
		return
	}
	switch e.Kind() {
	case celast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			walk(c.Target(), lits, into)
		}
		for _, a := range c.Args() {
			walk(a, lits, into)
		}
	case celast.SelectKind:
		walk(e.AsSelect().Operand(), lits, into)
	case celast.ListKind:
		for _, x := range e.AsList().Elements() {
			walk(x, lits, into)
		}
	case celast.MapKind:
		for _, x := range e.AsMap().Entries() {
			walk(x.AsMapEntry().Key(), lits, into)
			walk(x.AsMapEntry().Value(), lits, into)
		}
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		for _, x := range []celast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()} {
			walk(x, lits, into)
		}
	}
}

// access reads e as a path from a root (`nodes.db.spec.ports[0]`, `inputs.?labels`), and
// returns the expressions left to walk (computed indexes).
func access(e celast.Expr, lits map[string]any) (Access, []celast.Expr, bool) {
	switch e.Kind() {
	case celast.IdentKind:
		for _, r := range Roots {
			if e.AsIdent() == r {
				return Access{Root: r}, nil, true
			}
		}
	case celast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() { // has(x.f): reads x
			a, rest, ok := access(s.Operand(), lits)
			return a, rest, ok
		}
		a, rest, ok := access(s.Operand(), lits)
		if ok {
			a = extend(a, Step{Field: s.FieldName()})
		}
		return a, rest, ok
	case celast.CallKind:
		c := e.AsCall()
		switch c.FunctionName() {
		case "_[_]", "_[?_]", "_?._":
			args := c.Args()
			if len(args) != 2 {
				return Access{}, nil, false
			}
			a, rest, ok := access(args[0], lits)
			if !ok {
				return a, rest, ok
			}
			key, isLit := literal(args[1], lits)
			if !isLit || a.Partial {
				return a.stop(), append(rest, args[1]), true
			}
			switch k := key.(type) {
			case types.String:
				if a.Name == "" && c.FunctionName() != "_[_]" {
					a.Optional = true
				}
				return extend(a, Step{Field: string(k)}), rest, true
			case types.Int:
				return extend(a, Step{Index: int64(k), IsIndex: true}), rest, true
			}
			return a.stop(), append(rest, args[1]), true
		}
	}
	return Access{}, nil, false
}

// literal is the constant e stands for: a literal, or a lifted literal's variable.
func literal(e celast.Expr, lits map[string]any) (ref.Val, bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		return e.AsLiteral(), true
	case celast.IdentKind:
		switch x := lits[e.AsIdent()].(type) {
		case string:
			return types.String(x), true
		case int64:
			return types.Int(x), true
		}
	}
	return nil, false
}

// extend adds a step; the first step under nodes, inputs, stack and each names the node,
// input or field.
func extend(a Access, s Step) Access {
	if a.Partial {
		return a
	}
	if a.Name == "" && a.Root != "index" {
		if s.IsIndex {
			return a.stop()
		}
		a.Name = s.Field
		return a
	}
	a.Path = append(append([]Step(nil), a.Path...), s)
	return a
}

func (a Access) stop() Access { a.Partial = true; return a }
