// Package testdynamo gives tests a fresh table on the DynamoDB-API server that `make test`
// starts (DynamoDB Local): the store the Lambda functions use, with nothing faked.
package testdynamo

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/aos-project/aos/shared/store/dynamo"
)

// EndpointEnv names the DynamoDB-API endpoint tests use.
const EndpointEnv = "AOS_TEST_DYNAMODB_ENDPOINT"

// Store creates a table of its own for the test and returns the store on it. Without the
// endpoint the test fails and says how to get one.
func Store(t testing.TB) *dynamo.Store {
	t.Helper()
	return open(t, http.DefaultClient)
}

// Counted is Store, with the requests made of it counted by operation ("PutItem", ...): the
// requests a DynamoDB bill counts.
func Counted(t testing.TB) (*dynamo.Store, *Requests) {
	t.Helper()
	r := &Requests{n: map[string]int{}}
	return open(t, &http.Client{Transport: r}), r
}

// Requests counts the DynamoDB requests that go through it, by operation.
type Requests struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *Requests) RoundTrip(req *http.Request) (*http.Response, error) {
	// The operation is the X-Amz-Target header's suffix: "DynamoDB_20120810.PutItem".
	op := req.Header.Get("X-Amz-Target")
	op = op[strings.LastIndex(op, ".")+1:]
	r.mu.Lock()
	r.n[op]++
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// Counts returns the requests so far, by operation.
func (r *Requests) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.n)
}

func open(t testing.TB, hc *http.Client) *dynamo.Store {
	t.Helper()
	ep := os.Getenv(EndpointEnv)
	if ep == "" {
		t.Fatal(EndpointEnv + " is not set: run the tests with `make test`, which starts DynamoDB Local, or `eval $(hack/dynamodb.sh up)` before `go test`")
	}
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), HTTPClient: hc,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	table := fmt.Sprintf("aos-test-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	return dynamo.New(db, table)
}
