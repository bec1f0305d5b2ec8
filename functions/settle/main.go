// Command settle is the AWS Lambda entry point of the settle function: the state machine's
// Task resource ${SettleFunctionArn} invokes it with the payload the embedded runner passes
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
	ctx := logging.Lambda(engine.FnSettle)
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		log.Fatalf("settle: %v", err)
	}
	lambda.StartWithOptions(e.Functions()[engine.FnSettle], lambda.WithContext(ctx))
}
