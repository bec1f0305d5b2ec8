// Command plan is the AWS Lambda entry point of the plan function.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/logging"
)

func main() {
	lambda.StartWithOptions(engine.Plan, lambda.WithContext(logging.Lambda("plan")))
}
