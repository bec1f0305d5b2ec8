package expr

import (
	"fmt"
	"reflect"
	"testing"
)

func TestValues(t *testing.T) {
	vars := map[string]any{
		"inputs": map[string]any{"env": "prod", "token": "abc", "labels": map[string]any{"team": "shop"}, "regions": []any{"eu", "us"}, "n": int64(2)},
		"nodes":  map[string]any{"db-svc": map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(5432)}}}}},
		"stack":  map[string]any{"name": "shop", "namespace": "shop", "index": int64(0)},
		"index":  int64(1),
	}
	for _, c := range []struct {
		src  string
		want any
	}{
		{`inputs.env == "prod" ? 3 : 1`, int64(3)},
		{`nodes["db-svc"].spec.ports[0].port + 1`, int64(5433)},
		{`base64.encode(bytes(inputs.token))`, "YWJj"},
		{`inputs.labels.?team.orValue("core")`, "shop"},
		{`inputs.labels.?owner.orValue("core")`, "core"},
		{`inputs.regions.join(",")`, "eu,us"},
		{`inputs.regions.map(r, r.upperAscii())`, []any{"EU", "US"}},
		{`{"a": inputs.n * 2, "b": [index, 2.5]}`, map[string]any{"a": int64(4), "b": []any{int64(1), 2.5}}},
		{`stack.name + "-" + string(index)`, "shop-1"},
		{`null`, nil},
		// The Kubernetes libraries: quantity, url, lists, regex, ip, format, semver.
		{`quantity("1Gi").isGreaterThan(quantity("512Mi"))`, true},
		{`quantity("1Gi").add(quantity("512Mi"))`, "1536Mi"},
		{`quantity("1500m").asApproximateFloat()`, 1.5},
		{`url("https://db.shop.svc:5432/x").getHost()`, "db.shop.svc:5432"},
		{`url("https://db.shop.svc:5432/x").getPort()`, "5432"},
		{`[1, 2, 3].isSorted() && [1, 2, 3].sum() == 6 && [3, 1].min() == 1`, true},
		{`"10.0.0.7:5432".find("[0-9.]+")`, "10.0.0.7"},
		{`ip("10.0.0.7").family()`, int64(4)},
		{`cidr("10.0.0.0/8").containsIP("10.0.0.7")`, true},
		{`format.dns1123Label().validate("Shop") == optional.none()`, false},
		{`semver("1.2.3").isLessThan(semver("1.10.0"))`, true},
	} {
		v, err := CompileValue(c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		got, err := v.Eval(vars)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, %v; want %#v", c.src, got, err, c.want)
		}
	}
}

func TestAccesses(t *testing.T) {
	for src, want := range map[string]string{
		`nodes["db-svc"].spec.ports[0].port + 1`:                        `[{nodes db-svc [{spec 0 false} {ports 0 false} { 0 true} {port 0 false}] false false}]`,
		`inputs.env == "prod" ? inputs.?labels.team.orValue("x") : "y"`: `[{inputs env [] false false} {inputs labels [{team 0 false}] false true}]`,
		`nodes.db.spec.ports[index].port`:                               `[{nodes db [{spec 0 false} {ports 0 false}] true false} {index  [] false false}]`,
		`has(nodes.cache.status.ready) && stack.name != ""`:             `[{nodes cache [{status 0 false}] false false} {stack name [] false false}]`,
		`inputs.regions.exists(r, r == "eu")`:                           `[{inputs regions [] false false}]`,
	} {
		v, err := CompileValue(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := fmt.Sprint(v.Accesses); got != want {
			t.Errorf("%s:\n got %s\nwant %s", src, got, want)
		}
	}
}

func TestOptionalAccesses(t *testing.T) {
	for src, want := range map[string]bool{
		`nodes.?cache.spec.x.orValue(1)`:        true,
		`nodes[?"redis-svc"].spec.x.orValue(1)`: true,
		`nodes.cache.?spec.x.orValue(1)`:        false,
		`nodes["cache"].spec`:                   false,
		`inputs.?labels.orValue({})`:            true,
	} {
		v, err := CompileValue(src)
		if err != nil || len(v.Accesses) != 1 || v.Accesses[0].Optional != want {
			t.Errorf("%s: %+v %v; want optional %v", src, v, err, want)
		}
	}
}
