// Command trigger is the AWS Lambda entry point that turns SQS messages and EventBridge
// events carrying a batch request into batches (shared/trigger).
package main

import (
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aos-project/aos/shared/logging"
	"github.com/aos-project/aos/shared/trigger"
	"github.com/aos-project/aos/shared/wiring"
	"github.com/aos-project/aos/shared/wiring/lambdaapi"
)

func main() {
	ctx := logging.Lambda("trigger")
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	runner, _, err := lambdaapi.StepFunctions(ctx)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	h := &trigger.Handler{Engine: e, Batcher: runner}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
}
