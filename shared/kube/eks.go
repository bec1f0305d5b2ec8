package kube

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"k8s.io/client-go/rest"
)

// EKS token format, as aws-iam-authenticator and `aws eks get-token` produce it: a presigned
// STS GetCallerIdentity URL naming the cluster in the x-k8s-aws-id header, base64url-encoded
// without padding, behind a version prefix.
const (
	eksTokenPrefix  = "k8s-aws-v1."
	eksClusterIDHdr = "x-k8s-aws-id"
	// Tokens are valid for 15 minutes; renewing after 10 leaves room for clock skew.
	eksTokenRenew = 10 * time.Minute
)

// EKSToken returns a bearer token for an EKS cluster from AWS credentials in cfg.
func EKSToken(ctx context.Context, cfg aws.Config, cluster string) (string, error) {
	presigner := sts.NewPresignClient(sts.NewFromConfig(cfg))
	req, err := presigner.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, func(so *sts.Options) {
			so.APIOptions = append(so.APIOptions,
				smithyhttp.AddHeaderValue(eksClusterIDHdr, cluster),
				smithyhttp.AddHeaderValue("X-Amz-Expires", "60"))
		})
	})
	if err != nil {
		return "", fmt.Errorf("EKS token for cluster %q: presigning sts:GetCallerIdentity: %w", cluster, err)
	}
	return eksTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), nil
}

// EKSConfig returns a REST config for an EKS cluster by name: its endpoint and CA from
// eks:DescribeCluster, and a bearer token from IAM that is renewed before it expires.
func EKSConfig(ctx context.Context, cfg aws.Config, cluster string) (*rest.Config, error) {
	out, err := eks.NewFromConfig(cfg).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)})
	if err != nil {
		return nil, fmt.Errorf("describing EKS cluster %q: %w", cluster, err)
	}
	c := out.Cluster
	if c == nil || c.Endpoint == nil || c.CertificateAuthority == nil || c.CertificateAuthority.Data == nil {
		return nil, fmt.Errorf("EKS cluster %q has no endpoint or certificate yet (status %v)", cluster, c.Status)
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
	if err != nil {
		return nil, fmt.Errorf("EKS cluster %q: certificate authority: %w", cluster, err)
	}
	src := &eksTokenSource{cfg: cfg, cluster: cluster}
	rc := &rest.Config{Host: aws.ToString(c.Endpoint), TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &bearer{rt: rt, src: src} })
	return rc, nil
}

type eksTokenSource struct {
	cfg     aws.Config
	cluster string
	mu      sync.Mutex
	token   string
	expires time.Time
}

func (s *eksTokenSource) get(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && time.Now().Before(s.expires) {
		return s.token, nil
	}
	tok, err := EKSToken(ctx, s.cfg, s.cluster)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, time.Now().Add(eksTokenRenew)
	return tok, nil
}

type bearer struct {
	rt  http.RoundTripper
	src *eksTokenSource
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := b.src.get(r.Context())
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return b.rt.RoundTrip(r)
}
