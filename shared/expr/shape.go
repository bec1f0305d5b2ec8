package expr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
)

// maxLifted bounds the literals of each kind one expression may have lifted into variables;
// an expression with more is compiled as written.
const maxLifted = 32

func stringVar(i int) string { return fmt.Sprintf("_aos_s%d", i) }
func intVar(i int) string    { return fmt.Sprintf("_aos_i%d", i) }

// literalVars declares the variables lifted literals become.
func literalVars() []cel.EnvOption {
	var out []cel.EnvOption
	for i := range maxLifted {
		out = append(out, cel.Variable(stringVar(i), cel.StringType), cel.Variable(intVar(i), cel.IntType))
	}
	return out
}

// normalize lifts an expression's plain string literals ('x', "x", no escapes) and decimal
// integer literals into variables: `inputs.image + '-7'` is `inputs.image + _aos_s0` with
// _aos_s0 = "-7". A string or integer literal means the same as a variable of its type and
// value, so the shape checks and runs as the expression would. ok is false when nothing was
// lifted, or when the expression holds a literal form this scanner does not read (raw, bytes,
// triple-quoted or escaped strings; uint, double or hex numbers next to a lifted one are left
// as they are).
func normalize(src string) (shape string, lits map[string]any, ok bool) {
	var b strings.Builder
	var ns, ni int
	lits = map[string]any{}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\'' || c == '"':
			if i > 0 && isWord(src[i-1]) || strings.HasPrefix(src[i:], strings.Repeat(string(c), 3)) {
				return "", nil, false // r'…', b'…', '''…'''
			}
			end := strings.IndexByte(src[i+1:], c)
			if end < 0 {
				return "", nil, false
			}
			body := src[i+1 : i+1+end]
			if strings.ContainsAny(body, "\\\n") || ns == maxLifted {
				return "", nil, false
			}
			name := stringVar(ns)
			ns++
			lits[name] = body
			b.WriteString(name)
			i += end + 2
		case c >= '0' && c <= '9' && (i == 0 || !isWord(src[i-1]) && src[i-1] != '.'):
			j := i
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			if j < len(src) && (isWord(src[j]) || src[j] == '.') {
				// 1.5, 1e3, 1u, 0x1F: not an int literal; copy it as written.
				b.WriteString(src[i:j])
				i = j
				continue
			}
			n, err := strconv.ParseInt(src[i:j], 10, 64)
			if err != nil || ni == maxLifted {
				return "", nil, false
			}
			name := intVar(ni)
			ni++
			lits[name] = n
			b.WriteString(name)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	if len(lits) == 0 {
		return "", nil, false
	}
	return b.String(), lits, true
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
