package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aos-project/aos/shared/engine"
)

// LambdaHandler serves API Gateway HTTP API (payload format 2.0) events with h: the api
// function runs the very router aos serve runs.
func LambdaHandler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		body := []byte(ev.Body)
		if ev.IsBase64Encoded {
			var err error
			if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
				return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("request body: %w", err)
			}
		}
		url := ev.RawPath
		if ev.RawQueryString != "" {
			url += "?" + ev.RawQueryString
		}
		if a := ev.RequestContext.Authorizer; a != nil && a.IAM != nil && a.IAM.UserARN != "" {
			// API Gateway verified the caller's SigV4 signature (AWS_IAM authorization): the
			// principal is the identity projects list. It comes from the event, never from a
			// header a caller could write.
			ctx = engine.WithActor(ctx, a.IAM.UserARN)
		}
		req, err := http.NewRequestWithContext(ctx, ev.RequestContext.HTTP.Method, url, bytes.NewReader(body))
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("request: %w", err)
		}
		for k, v := range ev.Headers {
			req.Header.Set(k, v) // payload 2.0 joins repeated headers with commas
		}
		if len(ev.Cookies) > 0 {
			req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
		}
		req.ContentLength = int64(len(body))
		req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
		w := &responseWriter{header: http.Header{}, status: http.StatusOK}
		h.ServeHTTP(w, req)
		resp := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}, Body: w.body.String()}
		for k, v := range w.header {
			resp.Headers[k] = strings.Join(v, ",")
		}
		return resp, nil
	}
}

type responseWriter struct {
	header http.Header
	body   bytes.Buffer
	status int
	wrote  bool
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.body.Write(b)
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
}
