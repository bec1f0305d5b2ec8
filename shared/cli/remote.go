package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/template"
)

// remote is an AOS API server the CLI drives instead of the embedded engine: aos serve, or
// the AWS deployment's HTTP API (whose requests it signs with SigV4).
type remote struct {
	base  *url.URL
	token string
	// sign signs a request for API Gateway's IAM authorization; nil: bearer token.
	sign func(ctx context.Context, req *http.Request, body []byte) error
	hc   *http.Client
}

// apiRegion reads the region from an API Gateway host: ID.execute-api.REGION.amazonaws.com.
var apiRegion = regexp.MustCompile(`^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$`)

// newRemote connects to server: a bearer token from tokenFile's first line or
// $AOS_API_TOKEN, or, for an API Gateway URL (or with sigv4), SigV4 with the usual AWS
// credentials.
func newRemote(ctx context.Context, server, tokenFile string, sigv4 bool) (*remote, error) {
	u, err := url.Parse(strings.TrimSuffix(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &exitError{ExitInvalid, fmt.Errorf("--server %q: expected http(s)://host[:port]", server)}
	}
	r := &remote{base: u, hc: &http.Client{Timeout: 60 * time.Second}}
	region := ""
	if m := apiRegion.FindStringSubmatch(u.Hostname()); m != nil {
		region, sigv4 = m[1], true
	}
	if sigv4 {
		cfg, err := config.LoadDefaultConfig(ctx, func(o *config.LoadOptions) error {
			if region != "" {
				o.Region = region
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("AWS credentials for --server %s: %w", server, err)
		}
		signer := v4.NewSigner()
		r.sign = func(ctx context.Context, req *http.Request, body []byte) error {
			creds, err := cfg.Credentials.Retrieve(ctx)
			if err != nil {
				return fmt.Errorf("AWS credentials: %w", err)
			}
			sum := sha256.Sum256(body)
			return signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", cfg.Region, time.Now())
		}
		return r, nil
	}
	r.token = os.Getenv("AOS_API_TOKEN")
	if tokenFile != "" {
		data, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, &exitError{ExitInvalid, fmt.Errorf("--token-file: %w", err)}
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
				r.token = f[0]
				break
			}
		}
	}
	return r, nil
}

// apiError is an error answer of the API.
type apiError struct {
	Status int
	Body   struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Details template.Problems `json:"details"`
		} `json:"error"`
	}
}

func (e *apiError) Error() string { return e.Body.Error.Message }

var policyProject = regexp.MustCompile(`^project "([^"]*)" refuses`)

// asCLIError turns an API refusal into the error the embedded engine returns for it, so the
// command prints it and exits as it does without --server.
func asCLIError(e *apiError) error {
	b := e.Body.Error
	switch {
	case b.Code == "invalid_template":
		return &engine.InvalidTemplateError{Problems: b.Details}
	case b.Code == "forbidden" && len(b.Details) > 0:
		p := ""
		if m := policyProject.FindStringSubmatch(b.Message); m != nil {
			p = m[1]
		}
		return &engine.PolicyError{Project: p, Problems: b.Details}
	case b.Code == "bad_request":
		return &engine.InputError{Msg: b.Message}
	case e.Status == http.StatusNotFound:
		return fmt.Errorf("%s: %w", b.Message, engine.ErrNotFound)
	case e.Status == http.StatusUnauthorized:
		return fmt.Errorf("%s (--server needs a token: --token-file FILE or $AOS_API_TOKEN)", b.Message)
	}
	return errors.New(b.Message)
}

// call sends a request and decodes a 2xx answer into out (when not nil).
func (r *remote) call(ctx context.Context, method, path string, body, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base.String()+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case r.sign != nil:
		if err := r.sign(ctx, req, data); err != nil {
			return err
		}
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, r.base.Host+path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(got, &e.Body) != nil || e.Body.Error.Message == "" {
			e.Body.Error.Message = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return asCLIError(e)
	}
	if out != nil && len(got) > 0 {
		return json.Unmarshal(got, out)
	}
	return nil
}
