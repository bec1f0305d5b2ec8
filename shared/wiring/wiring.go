// Package wiring builds the engine the Lambda functions run from their environment, so that
// their entry points stay a few lines long. It links only what every function needs: the
// api and trigger functions add lambdaapi, the CLI builds its engine with embedded.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"k8s.io/client-go/rest"

	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/project"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/store/dynamo"
)

// Environment of the Lambda functions.
const (
	EnvTable      = "AOS_TABLE"             // DynamoDB table (required)
	EnvEndpoint   = "AOS_DYNAMODB_ENDPOINT" // DynamoDB endpoint override (LocalStack)
	EnvEKSCluster = "AOS_EKS_CLUSTER"       // EKS cluster for stacks with no kube context
	EnvKubeconfig = "AOS_KUBECONFIG"        // a kubeconfig instead of EKS (LocalStack, tests)
	EnvMaxWait    = "AOS_CHECK_MAX_WAIT"    // how long check-ready may watch (default 20s)
	// EnvSecretKeyARN names the Secrets Manager secret holding the sealing key (base64, 32
	// bytes); read once per cold start. $AOS_SECRET_KEY itself wins (tests, LocalStack).
	EnvSecretKeyARN = "AOS_SECRET_KEY_ARN"
	// EnvKubeconfigARN names a Secrets Manager secret holding a kubeconfig: clusters reached
	// without EKS IAM (any cluster; LocalStack). Its contexts are the stacks' kube contexts.
	EnvKubeconfigARN = "AOS_KUBECONFIG_SECRET_ARN"
	// EnvProjects names a projects file (docs/projects.md); EnvProjectsARN a Secrets Manager
	// secret holding one, copied to a file at cold start. Neither: the default project only.
	EnvProjects    = "AOS_PROJECTS"
	EnvProjectsARN = "AOS_PROJECTS_SECRET_ARN"

	EnvStackMachine  = "AOS_STACK_STATE_MACHINE_ARN" // api, trigger: the stack state machine
	EnvBatchMachine  = "AOS_BATCH_STATE_MACHINE_ARN" // api, trigger: the batch state machine
	EnvSchedulerRole = "AOS_SCHEDULER_ROLE_ARN"      // api: the role EventBridge Scheduler assumes
	EnvScheduleGroup = "AOS_SCHEDULE_GROUP"          // api: the schedule group
)

// FunctionEnv lists, per function, the environment variables its code reads and needs set
// (infra/template.yaml is checked against it). AOS_SECRET_KEY is secrets.KeyEnv.
var FunctionEnv = map[string][]string{
	"validate":   {EnvTable, EnvSecretKeyARN},
	"plan":       {EnvTable, EnvSecretKeyARN},
	"applynode":  {EnvTable, EnvSecretKeyARN},
	"checkready": {EnvTable, EnvSecretKeyARN},
	"settle":     {EnvTable, EnvSecretKeyARN},
	"api":        {EnvTable, EnvSecretKeyARN, EnvStackMachine, EnvBatchMachine, EnvSchedulerRole, EnvScheduleGroup},
	"trigger":    {EnvTable, EnvSecretKeyARN, EnvStackMachine, EnvBatchMachine},
}

// fromSecretsManager copies secrets into the places the engine reads them: the sealing key
// into $AOS_SECRET_KEY, a kubeconfig into a 0600 file named by $AOS_KUBECONFIG.
func fromSecretsManager(ctx context.Context, cfg aws.Config) error {
	keyARN, kcARN, pjARN := os.Getenv(EnvSecretKeyARN), os.Getenv(EnvKubeconfigARN), os.Getenv(EnvProjectsARN)
	if (keyARN == "" || os.Getenv(secrets.KeyEnv) != "") && (kcARN == "" || os.Getenv(EnvKubeconfig) != "") && (pjARN == "" || os.Getenv(EnvProjects) != "") {
		return nil
	}
	sm := secretsmanager.NewFromConfig(cfg)
	get := func(arn string) (string, error) {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return "", fmt.Errorf("reading secret %s: %w", arn, err)
		}
		return aws.ToString(out.SecretString), nil
	}
	if keyARN != "" && os.Getenv(secrets.KeyEnv) == "" {
		v, err := get(keyARN)
		if err != nil {
			return err
		}
		os.Setenv(secrets.KeyEnv, v)
	}
	// A secret that stands for a file: written 0600 and named by its variable.
	for _, f := range []struct{ arn, env, file string }{{kcARN, EnvKubeconfig, "aos-kubeconfig"}, {pjARN, EnvProjects, "aos-projects.yaml"}} {
		if f.arn == "" || os.Getenv(f.env) != "" {
			continue
		}
		v, err := get(f.arn)
		if err != nil {
			return err
		}
		path := filepath.Join(os.TempDir(), f.file)
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		os.Setenv(f.env, path)
	}
	return nil
}

// Projects loads $AOS_PROJECTS; nil (the default project only) when it is not set.
func Projects() (engine.Projects, error) {
	file := os.Getenv(EnvProjects)
	if file == "" {
		return nil, nil
	}
	return project.Load(file)
}

// LambdaEngine builds the engine the apply-node and check-ready functions run: DynamoDB
// state, secrets sealed with $AOS_SECRET_KEY, and EKS clusters by name (a stack's kube
// context names its EKS cluster; $AOS_EKS_CLUSTER is the default).
func LambdaEngine(ctx context.Context) (*engine.Engine, error) {
	table := os.Getenv(EnvTable)
	if table == "" {
		return nil, fmt.Errorf("%s is not set: the function needs the name of its DynamoDB table", EnvTable)
	}
	db, err := dynamo.Client(ctx, os.Getenv(EnvEndpoint))
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if err := fromSecretsManager(ctx, awsCfg); err != nil {
		return nil, err
	}
	if os.Getenv(secrets.KeyEnv) == "" {
		return nil, fmt.Errorf("neither %s nor %s is set: the function needs the key that seals secret inputs", EnvSecretKeyARN, secrets.KeyEnv)
	}
	sealer, err := secrets.LoadOrCreate("")
	if err != nil {
		return nil, err
	}
	maxWait := 20 * time.Second
	if v := os.Getenv(EnvMaxWait); v != "" {
		if maxWait, err = time.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("%s=%q: %w", EnvMaxWait, v, err)
		}
	}
	follow, err := engine.FollowSetting(os.Getenv)
	if err != nil {
		return nil, err
	}
	projects, err := Projects()
	if err != nil {
		return nil, err
	}
	clients := &kube.Clients{}
	return &engine.Engine{
		Store: dynamo.New(db, table), Sealer: sealer, MaxWait: maxWait, FollowFor: follow, Projects: projects,
		// Every function of every execution runs as one holder: Step Functions itself keeps
		// one execution per operation, and the in-progress status refuses a second.
		Holder: "aws-step-functions",
		Kube: func(ctx context.Context, t kube.Access) (*kube.Client, error) {
			kc, name := os.Getenv(EnvKubeconfig), t.Context
			if name == "" && kc == "" {
				name = os.Getenv(EnvEKSCluster)
				if name == "" {
					return nil, errors.New("the stack names no EKS cluster and " + EnvEKSCluster + " is not set")
				}
			}
			t.Context = name
			return clients.Get(t, func() (*rest.Config, error) {
				if kc != "" {
					return kube.LoadConfig(kube.ConfigOptions{Kubeconfig: kc, Context: name})
				}
				return kube.EKSConfig(ctx, awsCfg, name)
			})
		},
	}, nil
}
