package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// Pods lists the pods an object runs: the object itself when it is a Pod, else the pods its
// spec.selector matches in its namespace (a Job's, a Deployment's, a StatefulSet's). An
// object without a selector runs none.
func (c *Client) Pods(ctx context.Context, ref Ref) ([]unstructured.Unstructured, error) {
	if ref.Kind == "Pod" && (ref.APIVersion == "v1" || ref.APIVersion == "") {
		pod, err := c.Dynamic.Resource(podsGVR).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return []unstructured.Unstructured{*pod}, nil
	}
	obj, err := c.Get(ctx, ref)
	if err != nil || obj == nil {
		return nil, err
	}
	raw, found, _ := unstructured.NestedMap(obj.Object, "spec", "selector")
	if !found {
		return nil, nil
	}
	var sel metav1.LabelSelector
	if b, err := json.Marshal(raw); err != nil || json.Unmarshal(b, &sel) != nil {
		return nil, nil // a selector of another shape (a Service's map): not a pod owner
	}
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil || s.Empty() {
		return nil, nil
	}
	list, err := c.Dynamic.Resource(podsGVR).Namespace(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
	if err != nil {
		return nil, fmt.Errorf("pods of %s: %w", ref, err)
	}
	return list.Items, nil
}

// LogOptions choose what part of a container's log to read.
type LogOptions struct {
	Container string
	Follow    bool
	Tail      int64 // lines from the end; 0 is the whole log
}

// Logs opens a container's log, as the API server serves it from the node (pods/log).
func (c *Client) Logs(ctx context.Context, namespace, pod string, o LogOptions) (io.ReadCloser, error) {
	hc, err := rest.HTTPClientFor(c.Config)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Tail > 0 {
		q.Set("tailLines", strconv.FormatInt(o.Tail, 10))
	}
	u := strings.TrimSuffix(c.Config.Host, "/") + "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(pod) + "/log?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("log of pod %s/%s: %w", namespace, pod, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var st metav1.Status
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &st) == nil && st.Message != "" {
			msg = st.Message
		}
		return nil, fmt.Errorf("log of pod %s/%s (container %q): %s", namespace, pod, o.Container, msg)
	}
	return resp.Body, nil
}
