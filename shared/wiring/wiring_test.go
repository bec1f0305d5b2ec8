package wiring

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aos-project/aos/internal/testcluster"
	"github.com/aos-project/aos/shared/engine"
	"github.com/aos-project/aos/shared/secrets"
	"github.com/aos-project/aos/shared/store/dynamo"
)

func TestLambdaEngineNeedsItsTable(t *testing.T) {
	t.Setenv(EnvTable, "")
	if _, err := LambdaEngine(context.Background()); err == nil || !strings.Contains(err.Error(), "AOS_TABLE is not set") {
		t.Fatalf("without a table: %v", err)
	}
	t.Setenv(EnvTable, "t")
	t.Setenv(secrets.KeyEnv, "")
	t.Setenv(EnvSecretKeyARN, "")
	if _, err := LambdaEngine(context.Background()); err == nil || !strings.Contains(err.Error(), "neither AOS_SECRET_KEY_ARN nor AOS_SECRET_KEY is set") {
		t.Fatalf("without a key: %v", err)
	}
}

// The kubeconfig and the sealing key come from Secrets Manager when their ARNs are set; a
// Secrets Manager that cannot be reached is an error naming the secret, never a silent
// default. (Loopback only: the endpoint is a closed port.)
func TestSecretsManagerIsAskedForTheKey(t *testing.T) {
	t.Setenv(EnvTable, "t")
	t.Setenv(secrets.KeyEnv, "")
	t.Setenv(EnvSecretKeyARN, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aos-key")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	_, err := LambdaEngine(context.Background())
	if err == nil || !strings.Contains(err.Error(), "reading secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:aos-key") {
		t.Fatalf("key from an unreachable Secrets Manager: %v", err)
	}
}

// The functions as Lambda runs them: built from the environment, JSON in and out through
// aws-lambda-go, state in DynamoDB (DynamoDB Local), objects in the local cluster.
func TestLambdaFunctionsCreateANode(t *testing.T) {
	ep := os.Getenv("AOS_TEST_DYNAMODB_ENDPOINT")
	kc := os.Getenv(testcluster.KubeconfigEnv)
	if ep == "" || kc == "" {
		t.Fatal("needs AOS_TEST_DYNAMODB_ENDPOINT and AOS_TEST_KUBECONFIG: run the tests with `make test`, which starts DynamoDB Local and the local cluster")
	}
	ctx := context.Background()
	table := fmt.Sprintf("aos-wiring-%d", time.Now().UnixNano())
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if err := dynamo.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for k, v := range map[string]string{
		EnvTable: table, EnvEndpoint: ep, EnvKubeconfig: kc, EnvMaxWait: "3s", secrets.KeyEnv: base64.StdEncoding.EncodeToString(key),
		"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
	e, err := LambdaEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stack := fmt.Sprintf("wiring-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() {
		_ = testcluster.Client(t).CoreV1().Namespaces().Delete(context.Background(), stack, metav1.DeleteOptions{})
	})
	src := "format: aos/v1\nname: w\nnodes:\n  cm:\n    manifest: {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}, data: {stack: \"${stack.name}\"}}\n"
	if _, _, err := e.Submit(ctx, engine.CreateRequest{PlanRequest: engine.PlanRequest{Stack: stack, TemplateRequest: engine.TemplateRequest{Template: src}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.PlanStack(ctx, engine.OpRequest{Stack: stack, Operation: engine.OpCreate}); err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(e.ApplyNode).Invoke(ctx, []byte(`{"stack":"`+stack+`","node":"cm"}`))
	// A ConfigMap is READY as the apply returns it: the check only has to finish the stack.
	if err != nil || !strings.Contains(string(out), `"status":"READY"`) {
		t.Fatalf("apply-node: %s %v", out, err)
	}
	out, err = lambda.NewHandler(e.CheckReady).Invoke(ctx, []byte(`{"stack":"`+stack+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var resp engine.CheckResponse
	if err := json.Unmarshal(out, &resp); err != nil || !resp.Done || resp.Status != engine.StackCreateComplete {
		t.Fatalf("check-ready: %s %v", out, err)
	}
	cm, err := testcluster.Client(t).CoreV1().ConfigMaps(stack).Get(ctx, "cm", metav1.GetOptions{})
	if err != nil || cm.Data["stack"] != stack {
		t.Fatalf("configmap: %v %v", cm, err)
	}
}
