// Command validate is the AWS Lambda entry point of the validate function.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/logging"
)

func main() {
	lambda.StartWithOptions(engine.Validate, lambda.WithContext(logging.Lambda("validate")))
}
