// Command plan is the AWS Lambda entry point of the plan function: the state machine's
// Task resource ${PlanFunctionArn} invokes it with the payload the embedded runner passes
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
	ctx := logging.Lambda(engine.FnPlan)
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		log.Fatalf("plan: %v", err)
	}
	lambda.StartWithOptions(e.Functions()[engine.FnPlan], lambda.WithContext(ctx))
}
