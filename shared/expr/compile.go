package expr

import (
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
)

// compile parses and type-checks src in the environment env builds, within MaxLength. It
// returns the parsed expression too, which another environment may check (Typed).
func compile(env func() (*cel.Env, error), src string) (e *cel.Env, parsed, checked *cel.Ast, err error) {
	if len(src) > MaxLength {
		return nil, nil, nil, &Error{fmt.Sprintf("the expression is %d bytes; the limit is %d", len(src), MaxLength)}
	}
	e, err = env()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("CEL environment: %w", err)
	}
	parsed, iss := e.Parse(src)
	if iss.Err() != nil {
		return nil, nil, nil, &Error{iss.Err().Error()}
	}
	checked, iss = e.Check(parsed)
	if iss.Err() != nil {
		return nil, nil, nil, &Error{iss.Err().Error()}
	}
	return e, parsed, checked, nil
}

// program plans a checked expression under the cost limit.
func program(e *cel.Env, ast *cel.Ast) (cel.Program, error) {
	prg, err := e.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, &Error{err.Error()}
	}
	return prg, nil
}

// cache keeps compiled expressions by source, starting afresh past max entries.
type cache[T any] struct {
	mu  sync.Mutex
	m   map[string]T
	max int
}

func (c *cache[T]) get(src string, compile func(string) (T, error)) (T, error) {
	c.mu.Lock()
	v, ok := c.m[src]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := compile(src)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > c.max {
		c.m = map[string]T{}
	}
	c.m[src] = v
	c.mu.Unlock()
	return v, nil
}
