// Command applynode is the AWS Lambda entry point of the applynode function.
package main

import (
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aos-project/aos/shared/logging"
	"github.com/aos-project/aos/shared/wiring"
)

func main() {
	ctx := logging.Lambda("applynode")
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		log.Fatalf("applynode: %v", err)
	}
	lambda.StartWithOptions(e.ApplyNode, lambda.WithContext(ctx))
}
