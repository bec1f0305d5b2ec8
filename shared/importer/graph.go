package importer

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// graph finds what each object needs among the objects imported, by the links Kubernetes
// itself follows.
type graph struct {
	ids  []string
	objs []*unstructured.Unstructured
}

// find is the node of the object of kind and name, or "".
func (g *graph) find(kind, name string) string {
	for i, u := range g.objs {
		if u.GetKind() == kind && u.GetName() == name {
			return g.ids[i]
		}
	}
	return ""
}

func (g *graph) need(n *Node, kind, name string) {
	if id := g.find(kind, name); id != "" && !slices.Contains(n.DependsOn, id) {
		n.DependsOn = append(n.DependsOn, id)
	}
}

// podSpec is where a workload keeps its pod spec, and its pod template's labels.
func podSpec(m map[string]any, kind string) (spec map[string]any, labels map[string]any) {
	var tpl map[string]any
	switch kind {
	case "Pod":
		spec, _ = m["spec"].(map[string]any)
		md, _ := m["metadata"].(map[string]any)
		labels, _ = md["labels"].(map[string]any)
		return spec, labels
	case "CronJob":
		tpl, _, _ = unstructured.NestedMap(m, "spec", "jobTemplate", "spec", "template")
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController":
		tpl, _, _ = unstructured.NestedMap(m, "spec", "template")
	}
	if tpl == nil {
		return nil, nil
	}
	spec, _ = tpl["spec"].(map[string]any)
	md, _ := tpl["metadata"].(map[string]any)
	labels, _ = md["labels"].(map[string]any)
	return spec, labels
}

func str(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}

func list(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// link records object i's dependencies and turns the service addresses it holds into
// references.
func (g *graph) link(i int, u *unstructured.Unstructured, n *Node) {
	m := n.Manifest
	kind := u.GetKind()
	if spec, _ := podSpec(m, kind); spec != nil {
		g.podNeeds(n, spec)
		if kind == "StatefulSet" {
			g.need(n, "Service", str(m, "spec", "serviceName"))
		}
	}
	switch kind {
	case "Service":
		sel, _, _ := unstructured.NestedStringMap(m, "spec", "selector")
		for j, w := range g.objs {
			if _, labels := podSpec(w.Object, w.GetKind()); len(sel) > 0 && labels != nil && matches(sel, labels) {
				if !slices.Contains(n.DependsOn, g.ids[j]) {
					n.DependsOn = append(n.DependsOn, g.ids[j])
				}
			}
		}
	case "Ingress":
		if b := str(m, "spec", "defaultBackend", "service", "name"); b != "" {
			g.need(n, "Service", b)
		}
		rules, _, _ := unstructured.NestedSlice(m, "spec", "rules")
		for _, r := range list(rules) {
			paths, _, _ := unstructured.NestedSlice(r, "http", "paths")
			for _, p := range list(paths) {
				g.need(n, "Service", str(p, "backend", "service", "name"))
			}
		}
		tls, _, _ := unstructured.NestedSlice(m, "spec", "tls")
		for _, t := range list(tls) {
			g.need(n, "Secret", str(t, "secretName"))
		}
	case "HTTPRoute", "GRPCRoute", "TCPRoute":
		rules, _, _ := unstructured.NestedSlice(m, "spec", "rules")
		for _, r := range list(rules) {
			for _, b := range list(r["backendRefs"]) {
				if k := str(b, "kind"); k == "" || k == "Service" {
					g.need(n, "Service", str(b, "name"))
				}
			}
		}
		parents, _, _ := unstructured.NestedSlice(m, "spec", "parentRefs")
		for _, p := range list(parents) {
			g.need(n, "Gateway", str(p, "name"))
		}
	case "RoleBinding", "ClusterRoleBinding":
		for _, s := range list(m["subjects"]) {
			if str(s, "kind") == "ServiceAccount" {
				g.need(n, "ServiceAccount", str(s, "name"))
			}
		}
		g.need(n, str(m, "roleRef", "kind"), str(m, "roleRef", "name"))
	}
	// A custom resource needs its CRD.
	gvk := u.GroupVersionKind()
	for j, c := range g.objs {
		if c.GetKind() == "CustomResourceDefinition" && str(c.Object, "spec", "group") == gvk.Group && str(c.Object, "spec", "names", "kind") == kind {
			n.DependsOn = append(n.DependsOn, g.ids[j])
		}
	}
	g.addresses(i, n)
}

func (g *graph) podNeeds(n *Node, spec map[string]any) {
	g.need(n, "ServiceAccount", str(spec, "serviceAccountName"))
	for _, s := range list(spec["imagePullSecrets"]) {
		g.need(n, "Secret", str(s, "name"))
	}
	for _, v := range list(spec["volumes"]) {
		g.need(n, "ConfigMap", str(v, "configMap", "name"))
		g.need(n, "Secret", str(v, "secret", "secretName"))
		g.need(n, "PersistentVolumeClaim", str(v, "persistentVolumeClaim", "claimName"))
		srcs, _, _ := unstructured.NestedSlice(v, "projected", "sources")
		for _, s := range list(srcs) {
			g.need(n, "ConfigMap", str(s, "configMap", "name"))
			g.need(n, "Secret", str(s, "secret", "name"))
		}
	}
	for _, field := range []string{"containers", "initContainers"} {
		for _, c := range list(spec[field]) {
			for _, ef := range list(c["envFrom"]) {
				g.need(n, "ConfigMap", str(ef, "configMapRef", "name"))
				g.need(n, "Secret", str(ef, "secretRef", "name"))
			}
			for _, e := range list(c["env"]) {
				g.need(n, "ConfigMap", str(e, "valueFrom", "configMapKeyRef", "name"))
				g.need(n, "Secret", str(e, "valueFrom", "secretKeyRef", "name"))
			}
		}
	}
}

func matches(sel map[string]string, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// addresses turns the addresses of imported Services in the object's strings — "db:5432",
// "http://db/", "db.shop.svc.cluster.local" — into references to the Service's node, so the
// object depends on it and follows its name. A Service's own workloads (what it selects) are
// left as they are: reading the Service would make a cycle.
func (g *graph) addresses(i int, n *Node) {
	for j, s := range g.objs {
		if s.GetKind() != "Service" || j == i || g.serves(j, i) {
			continue
		}
		name := regexp.QuoteMeta(s.GetName())
		ref := "${nodes." + g.ids[j] + ".metadata.name}"
		fqdn := regexp.MustCompile(`\b` + name + `\.[a-z0-9-]+\.svc(\.cluster\.local)?\b`)
		short := regexp.MustCompile(`(^|[/@=\s"',])` + name + `(:[0-9]+|/)`)
		n.Manifest = rewrite(n.Manifest, func(v string) string {
			v = fqdn.ReplaceAllStringFunc(v, func(m string) string {
				suffix := ".svc"
				if strings.HasSuffix(m, ".cluster.local") {
					suffix = ".svc.cluster.local"
				}
				return ref + ".${stack.namespace}" + suffix
			})
			return short.ReplaceAllString(v, "${1}"+ref+"${2}")
		}).(map[string]any)
	}
}

// serves reports whether Service j selects object i.
func (g *graph) serves(j, i int) bool {
	sel, _, _ := unstructured.NestedStringMap(g.objs[j].Object, "spec", "selector")
	_, labels := podSpec(g.objs[i].Object, g.objs[i].GetKind())
	return len(sel) > 0 && labels != nil && matches(sel, labels)
}

// rewrite applies f to the strings of v that hold configuration (env values, args,
// command, data), never to names, labels, selectors or images.
func rewrite(v any, f func(string) string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !slices.Contains(identityKeys, k) {
				x[k] = rewrite(e, f)
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = rewrite(e, f)
		}
		return x
	case string:
		return f(x)
	}
	return v
}

var identityKeys = []string{"metadata", "selector", "matchLabels", "labels", "kind", "apiVersion", "image",
	"name", "serviceName", "serviceAccountName", "claimName", "secretName"}

// secretInputs makes each of a Secret's values a secret input, written as stringData from
// the input; the values themselves go only into Result.Secrets.
func secretInputs(res *Result, id string, n *Node) {
	data, _ := n.Manifest["data"].(map[string]any)
	sdata, _ := n.Manifest["stringData"].(map[string]any)
	if len(data)+len(sdata) == 0 {
		return
	}
	if res.Template.Inputs == nil {
		res.Template.Inputs = map[string]Input{}
	}
	out := map[string]any{}
	add := func(k, v string) {
		name := inputName(id + "_" + k)
		res.Template.Inputs[name] = Input{Type: "string", Secret: true, Description: fmt.Sprintf("Secret %s, key %s", n.name, k)}
		res.Secrets[name] = v
		out[k] = "${inputs." + name + "}"
	}
	for k, v := range data {
		s, _ := v.(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			b = []byte(s)
		}
		add(k, string(b))
	}
	for k, v := range sdata {
		s, _ := v.(string)
		add(k, s)
	}
	delete(n.Manifest, "data")
	n.Manifest["stringData"] = out
}

var notInput = regexp.MustCompile(`[^A-Za-z0-9_]+`)

func inputName(s string) string {
	s = notInput.ReplaceAllString(s, "_")
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}
