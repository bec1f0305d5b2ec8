// Command api is the AWS Lambda entry point of the HTTP API (API Gateway HTTP API, payload
// format 2.0): the router aos serve runs (shared/api), starting Step Functions executions.
package main

import (
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aos-project/aos/shared/api"
	"github.com/aos-project/aos/shared/logging"
	"github.com/aos-project/aos/shared/wiring/lambdaapi"
)

func main() {
	ctx := logging.Lambda("api")
	srv, err := lambdaapi.Server(ctx)
	if err != nil {
		log.Fatalf("api: %v", err)
	}
	lambda.StartWithOptions(api.LambdaHandler(srv.Handler()), lambda.WithContext(ctx))
}
