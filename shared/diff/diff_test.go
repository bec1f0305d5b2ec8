package diff

import (
	"fmt"
	"testing"
)

func TestObjects(t *testing.T) {
	live := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "resourceVersion": "7", "generation": int64(2), "uid": "u",
			"managedFields": []any{map[string]any{"manager": "aos"}}, "labels": map[string]any{"app": "web", "tier": "front"}},
		"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "c", "image": "nginx:1.27"}},
		}}},
		"status": map[string]any{"readyReplicas": int64(2)},
	}
	next := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "resourceVersion": "8", "generation": int64(3), "uid": "u",
			"labels": map[string]any{"app": "web", "owner": "me"}},
		"spec": map[string]any{"replicas": float64(2), "template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "c", "image": "nginx:1.28"}, map[string]any{"name": "side"}},
		}}},
		"status": map[string]any{"readyReplicas": int64(0)},
	}
	got := fmt.Sprint(Objects(live, next))
	want := "[{metadata.labels.owner <nil> me} {metadata.labels.tier front <nil>} " +
		"{spec.template.spec.containers[0].image nginx:1.27 nginx:1.28} {spec.template.spec.containers[1] <nil> map[name:side]}]"
	if got != want {
		t.Fatalf("Objects =\n%s\nwant\n%s", got, want)
	}
	if d := Objects(live, live); len(d) != 0 {
		t.Fatalf("an object differs from itself: %v", d)
	}
	if _, ok := live["status"]; !ok {
		t.Fatal("Objects changed its input")
	}
	ops := ""
	for _, c := range Objects(live, next) {
		ops += c.Op()
	}
	if ops != "+-~+" {
		t.Fatalf("ops %q", ops)
	}
}
