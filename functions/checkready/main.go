// Command checkready is the AWS Lambda entry point of the checkready function.
package main

import (
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aos-project/aos/shared/logging"
	"github.com/aos-project/aos/shared/wiring"
)

func main() {
	ctx := logging.Lambda("checkready")
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		log.Fatalf("checkready: %v", err)
	}
	lambda.StartWithOptions(e.CheckReady, lambda.WithContext(ctx))
}
