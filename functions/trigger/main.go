// Command trigger is the AWS Lambda entry point that turns SQS messages and EventBridge
// events carrying a batch request into batches (shared/trigger).
package main

import (
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

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
	runner, cfg, err := lambdaapi.StepFunctions(ctx)
	if err != nil {
		log.Fatalf("trigger: %v", err)
	}
	h := &trigger.Handler{Engine: e, Batcher: runner, Secrets: &lambdaapi.SecretsManager{Client: secretsmanager.NewFromConfig(cfg)}}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
}
