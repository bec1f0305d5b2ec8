// Command validate is the AWS Lambda entry point of the validate function: the state machine's
// Task resource ${ValidateFunctionArn} invokes it with the payload the embedded runner passes
// to the same handler (engine.Functions).
package main

import (
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/logging"
	"github.com/aos-project/aos/shared/wiring"
)

func main() {
	ctx := logging.Lambda(engine.FnValidate)
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		log.Fatalf("validate: %v", err)
	}
	lambda.StartWithOptions(e.Functions()[engine.FnValidate], lambda.WithContext(ctx))
}
