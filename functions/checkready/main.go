// Command checkready is the AWS Lambda entry point of the checkready function: the state machine's
// Task resource ${CheckReadyFunctionArn} invokes it with the payload the embedded runner passes
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
	ctx := logging.Lambda(engine.FnCheckReady)
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		log.Fatalf("checkready: %v", err)
	}
	lambda.StartWithOptions(e.Functions()[engine.FnCheckReady], lambda.WithContext(ctx))
}
