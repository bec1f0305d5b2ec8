SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO ?= go
BIN := bin
DIST := dist
# Lambda functions: one folder each under functions/, built as linux/arm64 `bootstrap`.
FUNCTIONS := $(notdir $(wildcard functions/*))
CLUSTER := hack/cluster.sh
GOTEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: help build package run test bench gobench fuzz lint cluster-up cluster-down cluster-env cluster-status cluster-build clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

build: ## the aos CLI for this host, and every function as a zipped linux/arm64 Lambda bootstrap
	@mkdir -p $(BIN) $(DIST)
	@if [ -d cmd/aos ]; then $(GO) build -o $(BIN)/aos ./cmd/aos && echo "built $(BIN)/aos"; fi
	@for fn in $(FUNCTIONS); do \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w" -o $(DIST)/$$fn/bootstrap ./functions/$$fn; \
		$(GO) run github.com/aws/aws-lambda-go/cmd/build-lambda-zip -o $(DIST)/$$fn.zip $(DIST)/$$fn/bootstrap >/dev/null; \
		echo "built $(DIST)/$$fn.zip"; \
	done

package: build ## what `sam deploy` needs: dist/<function>.zip, checked against infra/template.yaml and the state machines
	$(GO) test -count=1 ./infra/
	@echo "ready: sam deploy --template-file infra/template.yaml --stack-name aos --capabilities CAPABILITY_IAM --resolve-s3 \\"
	@echo "         --parameter-overrides SecretKeyArn=<secret ARN> EksClusterName=<cluster>   (see infra/README.md)"

RUN_STATE := .cache/run/state.db
RUN_STACK := demo

run: ## deploy templates/microservices.yaml with `aos up` on the local control plane (or the cluster KUBECONFIG names), then show it
	@if [ -z "$${KUBECONFIG:-}" ]; then $(CLUSTER) up >/dev/null; fi
	@$(GO) build -o $(BIN)/aos ./cmd/aos
	@kc=$${KUBECONFIG:-$$($(CLUSTER) env | sed 's/^export KUBECONFIG=//')}; \
	aos="$(BIN)/aos --state $(RUN_STATE) --kubeconfig $$kc"; \
	if $$aos status $(RUN_STACK) -o json 2>/dev/null | grep -q '"status": "CREATE_'; then \
		echo "== removing the previous run's stack $(RUN_STACK)"; $$aos down $(RUN_STACK) >/dev/null; fi; \
	echo "== aos up templates/microservices.yaml --stack $(RUN_STACK)"; \
	$$aos up templates/microservices.yaml --stack $(RUN_STACK) -p db_password=$$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n') && \
	echo && echo "== aos status $(RUN_STACK)" && $$aos status $(RUN_STACK) && \
	echo && echo "Inspect: KUBECONFIG=$$kc kubectl -n $(RUN_STACK) get all; $$aos events $(RUN_STACK)" && \
	echo "State:   $(RUN_STATE); plain bin/aos reads its default state file, so add --state $(RUN_STATE) (or export AOS_STATE=$(RUN_STATE))" && \
	echo "Remove:  $$aos down $(RUN_STACK); make cluster-down"

test: ## all tests: starts the local control plane and DynamoDB Local, runs every test, stops them (non-zero on any failure)
	@$(CLUSTER) up >/dev/null
	@status=0; \
	dyn=$$(hack/dynamodb.sh up) || { $(CLUSTER) down; exit 1; }; \
	chromium=$$(hack/chromium.sh) || { hack/dynamodb.sh down; $(CLUSTER) down; exit 1; }; \
	AOS_TEST_KUBECONFIG=$$($(CLUSTER) env | sed 's/^export KUBECONFIG=//') \
	AOS_TEST_DYNAMODB_ENDPOINT=$$(echo "$$dyn" | sed 's/^export AOS_TEST_DYNAMODB_ENDPOINT=//') \
	AOS_TEST_CHROMIUM=$$(echo "$$chromium" | sed 's/^export AOS_TEST_CHROMIUM=//') \
	AOS_STORE_VERIFY_SHARED=1 \
	$(GO) test $(GOTEST_FLAGS) ./... || status=$$?; \
	hack/dynamodb.sh down; $(CLUSTER) down; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (go test exit $$status)" >&2; fi; \
	exit $$status

BENCH_FLAGS ?=

bench: ## makespan vs critical path, peers (kubectl, helm, kro), cost per node, scale: a Markdown table (~37 min; BENCH_FLAGS="-runs 1 -shapes skewed" for a quick look); not part of make test
	@$(CLUSTER) up >/dev/null
	@$(GO) build -o $(BIN)/aos ./cmd/aos
	@status=0; peers=$$($(CLUSTER) peers) || { $(CLUSTER) down; exit 1; }; \
	eval "$$peers"; \
	KUBECONFIG=$$($(CLUSTER) env | sed 's/^export KUBECONFIG=//') KUBECTL=$$KUBECTL HELM=$$HELM KRO=$$KRO KRO_CRDS=$$KRO_CRDS \
	$(GO) run ./bench $(BENCH_FLAGS) || status=$$?; \
	$(CLUSTER) down; exit $$status

gobench: ## the Go micro-benchmarks (validate + plan of 10,000 nodes, and others)
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./shared/...

fuzz: ## fuzz the template parser and the reference grammar (FUZZTIME each, default 5m)
	$(GO) test -run '^$$' -fuzz FuzzValidate -fuzztime $(or $(FUZZTIME),5m) -fuzzminimizetime 2s ./shared/template
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(or $(FUZZTIME),5m) -fuzzminimizetime 2s ./shared/refs

lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

cluster-build: ## build (or reuse) the control-plane binaries in .cache/bin
	@$(CLUSTER) build

cluster-up: ## start the local control plane (etcd, kube-apiserver, controller manager, scheduler, kwok)
	@$(CLUSTER) up

cluster-down: ## stop every process cluster-up started
	@$(CLUSTER) down

cluster-env: ## print `export KUBECONFIG=...` for the local control plane
	@$(CLUSTER) env

cluster-status: ## which control-plane processes are running
	@$(CLUSTER) status

clean: ## remove build output (the binary cache in .cache stays)
	rm -rf $(BIN) $(DIST)
