package kube

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The token is checked for the format EKS accepts; presigning needs no network.
func TestEKSTokenFormat(t *testing.T) {
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	tok, err := EKSToken(context.Background(), cfg, "prod-cluster")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "k8s-aws-v1.") {
		t.Fatalf("token %q lacks the k8s-aws-v1. prefix", tok)
	}
	body := strings.TrimPrefix(tok, "k8s-aws-v1.")
	if strings.ContainsAny(body, "=+/") {
		t.Fatalf("token body is not unpadded base64url: %q", body)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "https" || u.Host != "sts.eu-west-1.amazonaws.com" || q.Get("Action") != "GetCallerIdentity" || q.Get("Version") != "2011-06-15" {
		t.Fatalf("presigned URL = %s", u)
	}
	if !strings.Contains(q.Get("X-Amz-SignedHeaders"), "x-k8s-aws-id") {
		t.Fatalf("cluster header not signed: %s", q.Get("X-Amz-SignedHeaders"))
	}
	if q.Get("X-Amz-Expires") != "60" || !strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDEXAMPLE/") || q.Get("X-Amz-Signature") == "" {
		t.Fatalf("presigned query = %v", q)
	}
}
