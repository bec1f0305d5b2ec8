// Command applynode is the AWS Lambda entry point of the applynode function: the state machine's
// Task resource ${ApplyNodeFunctionArn} invokes it with the payload the embedded runner passes
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
	ctx := logging.Lambda(engine.FnApplyNode)
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		log.Fatalf("applynode: %v", err)
	}
	lambda.StartWithOptions(e.Functions()[engine.FnApplyNode], lambda.WithContext(ctx))
}
