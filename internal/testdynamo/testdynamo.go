// Package testdynamo gives tests a fresh table on the DynamoDB-API server that `make test`
// starts (dynalite): the store the Lambda functions use, with nothing faked.
package testdynamo

import (
	"context"
	"fmt"
	"os"
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
	ep := os.Getenv(EndpointEnv)
	if ep == "" {
		t.Fatal(EndpointEnv + " is not set: run the tests with `make test`, which starts dynalite, or `eval $(hack/dynalite.sh up)` before `go test`")
	}
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	table := fmt.Sprintf("aos-test-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	return dynamo.New(db, table)
}
