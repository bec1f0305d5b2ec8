package expr

import (
	"fmt"
	"sort"
	"sync"

	"github.com/google/cel-go/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
)

// Typed checks a template's expressions against its inputs' JSON Schemas: `inputs` is an
// object with a field per input, of the type its schema gives, so `inputs.replicas + "x"`
// (replicas an integer) or `inputs.name.size() > inputs.tags` fail at validate time with
// CEL's own message. Evaluation does not change: it runs the program compiled with `inputs`
// dynamic, so what passes this check runs as it did.
type Typed struct {
	env *cel.Env
	mu  sync.Mutex
	// checked keeps each source's verdict: copies of a node share their expressions.
	checked map[string]error
}

// TypeInputs declares inputs from their JSON Schemas (name → schema). A schema this cannot
// type precisely (no type, several, a number, an object open to other properties) is
// dynamic there: checked when evaluated, as before.
func TypeInputs(schemas map[string]map[string]any) (*Typed, error) {
	fields := map[string]*apiservercel.DeclField{}
	for name, s := range schemas {
		fields[name] = apiservercel.NewDeclField(name, declOf(s, typePrefix+"."+name), true, nil, nil)
	}
	root := apiservercel.NewObjectType(typePrefix, fields)
	base, err := cel.NewEnv(libraries()...)
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	opts, err := apiservercel.NewDeclTypeProvider(root).EnvOptions(base.CELTypeProvider())
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	opts = append(opts,
		cel.Variable("inputs", root.CelType()),
		cel.Variable("nodes", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("stack", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("index", cel.IntType),
		cel.Variable("each", cel.MapType(cel.StringType, cel.DynType)),
	)
	env, err := base.Extend(append(opts, literalVars()...)...)
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	return &Typed{env: env, checked: map[string]error{}}, nil
}

// Check type-checks a compiled expression with the inputs typed; the error is CEL's, about
// the expression as written.
func (t *Typed) Check(v *Value) error {
	t.mu.Lock()
	err, ok := t.checked[v.sh.src]
	t.mu.Unlock()
	if ok {
		if err != nil && v.lits != nil {
			return t.exact(v)
		}
		return err
	}
	if _, iss := t.env.Check(v.sh.parsed); iss.Err() != nil {
		err = &Error{iss.Err().Error()}
	}
	t.mu.Lock()
	t.checked[v.sh.src] = err
	t.mu.Unlock()
	if err != nil && v.lits != nil {
		return t.exact(v)
	}
	return err
}

// exact checks the expression as written, for a message that quotes and points into it
// rather than into its shape.
func (t *Typed) exact(v *Value) error {
	if _, iss := t.env.Compile(v.Source); iss.Err() != nil {
		return &Error{iss.Err().Error()}
	}
	return nil
}

// typePrefix names the object types of inputs. Not "inputs": the checker would take
// `inputs.regions` for the name of a type rather than a field of the variable.
const typePrefix = "aos.Inputs"

// declOf is the CEL type of values a JSON Schema admits; path names object types.
func declOf(s map[string]any, path string) *apiservercel.DeclType {
	typ, _ := s["type"].(string)
	switch typ {
	case "string":
		return apiservercel.StringType
	case "integer":
		return apiservercel.IntType
	case "boolean":
		return apiservercel.BoolType
	case "array":
		if items, ok := s["items"].(map[string]any); ok {
			return apiservercel.NewListType(declOf(items, path+"[]"), -1)
		}
		return apiservercel.NewListType(apiservercel.DynType, -1)
	case "object":
		props, _ := s["properties"].(map[string]any)
		switch extra := s["additionalProperties"].(type) {
		case bool:
			if !extra && len(props) > 0 {
				return objectOf(props, path)
			}
		case map[string]any:
			if len(props) == 0 {
				return apiservercel.NewMapType(apiservercel.StringType, declOf(extra, path+"{}"), -1)
			}
		}
		return apiservercel.NewMapType(apiservercel.StringType, apiservercel.DynType, -1)
	}
	// A number may hold a whole value, which evaluation turns into an int (see integral):
	// declaring it double would refuse what runs.
	return apiservercel.DynType
}

func objectOf(props map[string]any, path string) *apiservercel.DeclType {
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	fields := make(map[string]*apiservercel.DeclField, len(props))
	for _, k := range names {
		ps, _ := props[k].(map[string]any)
		fields[k] = apiservercel.NewDeclField(k, declOf(ps, path+"."+k), false, nil, nil)
	}
	return apiservercel.NewObjectType(path, fields)
}
