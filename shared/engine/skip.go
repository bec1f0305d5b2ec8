package engine

import (
	"context"
	"fmt"

	"github.com/aos-project/aos/shared/refs"
)

// liveWhen decides a when that reads other nodes, now that they are READY (or left out).
func liveWhen(src string, sc *scope) (bool, error) {
	e, err := refs.Parse(src)
	if err != nil {
		return false, fmt.Errorf("when: %w", err)
	}
	v, err := refs.Render(e, sc.lookup)
	if err != nil {
		return false, fmt.Errorf("when: %w", err)
	}
	b, ok := v.(bool)
	if !ok {
		hint := ""
		if _, isText := v.(string); isText {
			hint = ` (live values such as a ConfigMap's data are text: compare, as in ${nodes.flags.data.cache == "on"})`
		}
		return false, fmt.Errorf("when: %s is %s, not true or false%s", src, valueKind(v), hint)
	}
	return b, nil
}

func valueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case int64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// skip records a node its when leaves out. Nothing is applied. An object an earlier revision
// applied for it is deleted as the removals of an update are, once every other node is READY;
// until then the node counts as left out.
func (e *Engine) skip(ctx context.Context, n *NodeRecord) (NodeResponse, error) {
	msg := fmt.Sprintf("when %s is false: left out", n.When)
	if len(n.objects()) == 0 {
		return e.settle(ctx, n, NodeSkipped, ReasonWhenFalse, msg)
	}
	n.Remove = true
	return e.settle(ctx, n, NodePending, ReasonWhenFalse, msg+fmt.Sprintf("; %s, applied by an earlier revision, is deleted once the other nodes are READY", n.what()))
}
