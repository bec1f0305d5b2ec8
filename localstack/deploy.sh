#!/usr/bin/env bash
# Deploys infra/template.yaml into a running LocalStack (localstack/docker-compose.yml):
# the same template as AWS, with a kubeconfig secret instead of EKS.
#
#   localstack/deploy.sh KUBECONFIG_FILE
#
# Needs: docker compose (LocalStack running), awslocal and samlocal
# (pip install awscli-local aws-sam-cli-local), and the repository's `make package`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
kubeconfig=${1:?usage: localstack/deploy.sh KUBECONFIG_FILE (a kubeconfig the Lambda containers can reach)}
for tool in awslocal samlocal; do
	command -v "$tool" >/dev/null || { echo "deploy.sh: '$tool' is not on PATH: pip install awscli-local aws-sam-cli-local" >&2; exit 1; }
done
curl -fsS http://127.0.0.1:4566/_localstack/health >/dev/null || { echo "deploy.sh: LocalStack is not up: docker compose -f localstack/docker-compose.yml up -d" >&2; exit 1; }

make -C "$repo" package
key_arn=$(awslocal secretsmanager create-secret --name aos/secret-key --secret-string "$(openssl rand -base64 32)" --query ARN --output text 2>/dev/null ||
	awslocal secretsmanager describe-secret --secret-id aos/secret-key --query ARN --output text)
# The cluster must be reachable from the Lambda containers: 127.0.0.1 becomes the host.
sed 's#https://127.0.0.1:#https://host.docker.internal:#' "$kubeconfig" >"$repo/.cache/localstack-kubeconfig"
kc_arn=$(awslocal secretsmanager create-secret --name aos/kubeconfig --secret-string "file://$repo/.cache/localstack-kubeconfig" --query ARN --output text 2>/dev/null ||
	awslocal secretsmanager put-secret-value --secret-id aos/kubeconfig --secret-string "file://$repo/.cache/localstack-kubeconfig" --query ARN --output text)

cd "$repo"
samlocal deploy --template-file infra/template.yaml --stack-name aos --capabilities CAPABILITY_IAM --resolve-s3 \
	--no-confirm-changeset --parameter-overrides "SecretKeyArn=$key_arn" "KubeconfigSecretArn=$kc_arn"
awslocal cloudformation describe-stacks --stack-name aos --query 'Stacks[0].Outputs' --output table
