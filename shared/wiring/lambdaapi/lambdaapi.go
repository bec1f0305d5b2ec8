// Package lambdaapi builds what the api and trigger functions need beyond the engine: the Step
// Functions runner, and the HTTP API with EventBridge Scheduler schedules.
package lambdaapi

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/rs/zerolog"

	"github.com/aos-project/aos/shared/api"
	"github.com/aos-project/aos/shared/logging"
	"github.com/aos-project/aos/shared/schedule"
	"github.com/aos-project/aos/shared/stepfn"
	"github.com/aos-project/aos/shared/store/dynamo"
	"github.com/aos-project/aos/shared/wiring"
)

func need(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set (infra/template.yaml sets it)", name)
	}
	return v, nil
}

// StepFunctions is the runner the api and trigger functions start executions with.
func StepFunctions(ctx context.Context) (*stepfn.Runner, aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, cfg, fmt.Errorf("AWS configuration: %w", err)
	}
	stack, err := need(wiring.EnvStackMachine)
	if err != nil {
		return nil, cfg, err
	}
	batch, err := need(wiring.EnvBatchMachine)
	if err != nil {
		return nil, cfg, err
	}
	return &stepfn.Runner{Client: sfn.NewFromConfig(cfg), StackMachine: stack, BatchMachine: batch}, cfg, nil
}

// SecretsManager reads the secrets batch messages name (trigger.SecretReader).
type SecretsManager struct{ Client *secretsmanager.Client }

// SecretString is the secret's SecretString.
func (s *SecretsManager) SecretString(ctx context.Context, arn string) (string, error) {
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", arn, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %s holds binary data; store the value as a string", arn)
	}
	return *out.SecretString, nil
}

// Server is the api function's server: requests are authorized by API Gateway (IAM) before
// they arrive, so it has no token of its own.
func Server(ctx context.Context) (*api.Server, error) {
	e, err := wiring.LambdaEngine(ctx)
	if err != nil {
		return nil, err
	}
	runner, cfg, err := StepFunctions(ctx)
	if err != nil {
		return nil, err
	}
	// A table from before the stacks index gets its keys once, so the list shows every stack.
	if d, ok := e.Store.(*dynamo.Store); ok {
		if err := d.IndexStacks(ctx); err != nil {
			return nil, err
		}
	}
	// A lease names its execution: resume, cancel and delete ask Step Functions whether it
	// still runs rather than wait for the lease to expire.
	e.Executions = runner
	role, err := need(wiring.EnvSchedulerRole)
	if err != nil {
		return nil, err
	}
	group, err := need(wiring.EnvScheduleGroup)
	if err != nil {
		return nil, err
	}
	sched := &schedule.EventBridge{Client: scheduler.NewFromConfig(cfg), StateMachineARN: runner.StackMachine, RoleARN: role, Group: group}
	return &api.Server{Engine: e, Runner: runner, Scheduler: sched, Log: *zerolog.Ctx(logging.Lambda("api"))}, nil
}
