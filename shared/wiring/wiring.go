// Package wiring builds an engine from its environment, so that entry points (the Lambda
// functions, the CLI) stay a few lines long.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/rs/zerolog"
	"k8s.io/client-go/rest"

	"github.com/aos-project/aos/shared/api"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/kube"
	"github.com/aos-project/aos/shared/logging"
	"github.com/aos-project/aos/shared/schedule"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/stepfn"
	"github.com/aos-project/aos/shared/store/bolt"
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
	"api":        {EnvTable, EnvSecretKeyARN, EnvStackMachine, EnvBatchMachine, EnvSchedulerRole, EnvScheduleGroup},
	"trigger":    {EnvTable, EnvSecretKeyARN, EnvStackMachine, EnvBatchMachine},
}

// fromSecretsManager copies secrets into the places the engine reads them: the sealing key
// into $AOS_SECRET_KEY, a kubeconfig into a 0600 file named by $AOS_KUBECONFIG.
func fromSecretsManager(ctx context.Context, cfg aws.Config) error {
	keyARN, kcARN := os.Getenv(EnvSecretKeyARN), os.Getenv(EnvKubeconfigARN)
	if (keyARN == "" || os.Getenv(secrets.KeyEnv) != "") && (kcARN == "" || os.Getenv(EnvKubeconfig) != "") {
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
	if kcARN != "" && os.Getenv(EnvKubeconfig) == "" {
		v, err := get(kcARN)
		if err != nil {
			return err
		}
		path := filepath.Join(os.TempDir(), "aos-kubeconfig")
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			return fmt.Errorf("writing the kubeconfig: %w", err)
		}
		os.Setenv(EnvKubeconfig, path)
	}
	return nil
}

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
	stack, err := need(EnvStackMachine)
	if err != nil {
		return nil, cfg, err
	}
	batch, err := need(EnvBatchMachine)
	if err != nil {
		return nil, cfg, err
	}
	return &stepfn.Runner{Client: sfn.NewFromConfig(cfg), StackMachine: stack, BatchMachine: batch}, cfg, nil
}

// LambdaAPI is the api function's server: requests are authorized by API Gateway (IAM) before
// they arrive, so it has no token of its own.
func LambdaAPI(ctx context.Context) (*api.Server, error) {
	e, err := LambdaEngine(ctx)
	if err != nil {
		return nil, err
	}
	runner, cfg, err := StepFunctions(ctx)
	if err != nil {
		return nil, err
	}
	role, err := need(EnvSchedulerRole)
	if err != nil {
		return nil, err
	}
	group, err := need(EnvScheduleGroup)
	if err != nil {
		return nil, err
	}
	sched := &schedule.EventBridge{Client: scheduler.NewFromConfig(cfg), StateMachineARN: runner.StackMachine, RoleARN: role, Group: group}
	return &api.Server{Engine: e, Runner: runner, Batcher: runner, Scheduler: sched, Log: *zerolog.Ctx(logging.Lambda("api"))}, nil
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
	cache := &clients{}
	return &engine.Engine{
		Store: dynamo.New(db, table), Sealer: sealer, MaxWait: maxWait,
		// Every function of every execution runs as one holder: Step Functions itself keeps
		// one execution per operation, and the in-progress status refuses a second.
		Holder: "aws-step-functions",
		Kube: func(ctx context.Context, name string) (*kube.Client, error) {
			kc := os.Getenv(EnvKubeconfig)
			if name == "" && kc == "" {
				name = os.Getenv(EnvEKSCluster)
				if name == "" {
					return nil, errors.New("the stack names no EKS cluster and " + EnvEKSCluster + " is not set")
				}
			}
			return cache.get(name, func() (*rest.Config, error) {
				if kc != "" {
					return kube.LoadConfig(kube.ConfigOptions{Kubeconfig: kc, Context: name})
				}
				return kube.EKSConfig(ctx, awsCfg, name)
			})
		},
	}, nil
}

// clients keeps one kube client per cluster, for the life of the process.
type clients struct {
	mu sync.Mutex
	m  map[string]*kube.Client
}

func (c *clients) get(name string, config func() (*rest.Config, error)) (*kube.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.m[name]; cl != nil {
		return cl, nil
	}
	rc, err := config()
	if err != nil {
		return nil, err
	}
	cl, err := kube.New(rc)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*kube.Client{}
	}
	c.m[name] = cl
	return cl, nil
}

// LocalOptions say where the CLI keeps state and which cluster it talks to.
type LocalOptions struct {
	StatePath  string // bbolt file; DefaultStatePath() when empty
	Kubeconfig string
	Context    string // kube context for stacks that name none
}

// DefaultStatePath is $AOS_STATE, else $XDG_STATE_HOME/aos/state.db, else
// ~/.local/state/aos/state.db.
func DefaultStatePath() string {
	if p := os.Getenv("AOS_STATE"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "aos", "state.db")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "aos", "state.db")
	}
	return filepath.Join(home, ".local", "state", "aos", "state.db")
}

// LocalEngine builds the embedded engine: the bbolt store, a sealing key file beside it
// (created 0600 on first use, or $AOS_SECRET_KEY), and clusters from kubeconfig contexts.
// close releases the store.
func LocalEngine(o LocalOptions) (e *engine.Engine, close func() error, err error) {
	path := o.StatePath
	if path == "" {
		path = DefaultStatePath()
	}
	st, err := bolt.Open(path)
	if err != nil {
		return nil, nil, err
	}
	sealer, err := secrets.LoadOrCreate(filepath.Join(filepath.Dir(path), "secret.key"))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	cache := &clients{}
	return &engine.Engine{
		Store: st, Sealer: sealer, MaxWait: 20 * time.Second,
		Kube: func(ctx context.Context, name string) (*kube.Client, error) {
			if name == "" {
				name = o.Context
			}
			return cache.get(name, func() (*rest.Config, error) {
				return kube.LoadConfig(kube.ConfigOptions{Kubeconfig: o.Kubeconfig, Context: name})
			})
		},
	}, st.Close, nil
}
