# Guance activation for the Alibaba Cloud Marketplace.
#   make dev    install what is needed and run the whole stack locally
#   make test   install what is needed and run every test
# SAM calls the build-<LogicalId> targets (BuildMethod: makefile) with ARTIFACTS_DIR set.

SHELL := /bin/bash
GO ?= go
export GOFLAGS ?= -buildvcs=false

# Lambda runs arm64 (template.yaml); the local stack overrides this with the host's.
GOARCH ?= arm64

RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
STATICCHECK_VERSION := v0.8.2
ACTIONLINT_VERSION := v1.7.12
LOCAL_BIN := $(CURDIR)/.local/bin
RIE := $(LOCAL_BIN)/aws-lambda-rie
export AWS_LAMBDA_RIE := $(RIE)

# LogicalId -> folder under functions/
FUNCTIONS := MarketplaceCallbackFunction SsoRedirectFunction VerificationCodeFunction OutboxFunction RegistrationFunction BillingBindFunction WorkspaceBindFunction ReconcileFunction MeteringFunction EventsFunction
MarketplaceCallbackFunction_DIR := marketplace-callback
SsoRedirectFunction_DIR := sso-redirect
VerificationCodeFunction_DIR := verification-code
OutboxFunction_DIR := outbox
RegistrationFunction_DIR := registration
BillingBindFunction_DIR := billing-bind
WorkspaceBindFunction_DIR := workspace-bind
ReconcileFunction_DIR := reconcile
MeteringFunction_DIR := metering
EventsFunction_DIR := events

.PHONY: help dev test bench lint smoke templ templ-check build invoke tools npm browser clean $(addprefix build-,$(FUNCTIONS))

## help: this list (the default target)
help:
	@awk 'BEGIN {FS = ": "} /^## [a-z-]+: / {sub(/^## /, ""); printf "  make %-12s %s\n", $$1, substr($$0, length($$1) + 3)}' $(MAKEFILE_LIST)

# A static, stripped bootstrap; lambda.norpc drops the RPC mode that
# provided.al2023 never uses.
define go_build
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath -tags lambda.norpc -ldflags='-s -w' \
		-o $(ARTIFACTS_DIR)/bootstrap ./functions/$(1)
endef

$(addprefix build-,$(FUNCTIONS)): build-%:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (SAM sets it; or run make build)"; exit 2; }
	$(call go_build,$($*_DIR))

## build: every function for Lambda (arm64) into .aws-sam/build/<LogicalId>/bootstrap
build:
	@for fn in $(FUNCTIONS); do $(MAKE) --no-print-directory build-$$fn ARTIFACTS_DIR=$(CURDIR)/.aws-sam/build/$$fn || exit 1; done
	@ls -l .aws-sam/build/*/bootstrap

## tools: the Lambda Runtime Interface Emulator, into .local/bin
tools: $(RIE)
$(RIE):
	GOBIN=$(LOCAL_BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

## browser: headless Chromium and a CJK font for the page tests (Debian packages)
# Without the font, Chinese pages render as empty boxes.
browser:
	@pkgs=""; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || pkgs="chromium"; \
	{ command -v fc-list >/dev/null 2>&1 && [ -n "$$(fc-list :lang=zh 2>/dev/null)" ]; } || pkgs="$$pkgs fonts-wqy-microhei"; \
	if [ -n "$$pkgs" ]; then \
		echo "installing Debian's$$pkgs for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$pkgs >/dev/null; \
	fi

## npm: the local SES, pinned by package-lock.json
npm: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

## dev: the whole stack on 127.0.0.1 until Ctrl-C
dev: tools npm
	$(GO) build -o $(LOCAL_BIN)/local ./cmd/local
	$(LOCAL_BIN)/local dev

## invoke: one function with one event, e.g. make invoke FN=MarketplaceCallbackFunction EVENT=events/create-instance.json
FN ?= MarketplaceCallbackFunction
EVENT ?= events/create-instance.json
invoke: tools
	$(GO) run ./cmd/local invoke $(FN) -e $(EVENT)

## test: every test (the real binaries under the emulator, the pages in headless Chromium)
test: tools browser npm
	$(GO) test -race -count=1 ./...

## bench: benchmarks: handlers, cold starts and sizes, a 10,000-activation reconciliation, journeys
# Token check and handler benchmarks with DynamoDB round trips per call,
# invocations under the emulator, and each function's cold start (init and
# first answer, median of 15, no emulator) and stripped arm64 size against
# two baselines built in the same run, one reconciliation over 10,000
# pending activations, one metering run over 2,000 instances, and journey 1 in
# a browser (requests, round trips, time), and the bind-billing answer time
# for a real and an unknown username with a 300 ms SES (medians of 20).
bench: tools
	$(GO) test -run '^$$' -bench . -skip 'BindBillingTime|Reconcile10000Pending|Metering2000Instances' -benchtime=500x -count=1 ./shared/...
	$(GO) test -run '^$$' -bench 'BindBillingTime' -benchtime=5x -count=1 ./shared/endpoints/sendcode
	$(GO) test -run '^$$' -bench 'ColdStart|WarmInvoke' -benchtime=30x -count=1 ./cmd/...
	$(GO) test -run '^$$' -bench 'Reconcile10000Pending' -benchtime=1x -count=1 ./shared/jobs/reconcile
	$(GO) test -run '^$$' -bench 'Metering2000Instances' -benchtime=1x -count=1 ./shared/jobs/usagepush
	$(GO) test -run '^$$' -bench 'Journey1' -benchtime=3x -count=1 ./cmd/devstack/localstack
	$(GO) test -run '^$$' -bench 'InvariantsUnderFaults' -benchtime=1x -count=1 -v ./cmd/devstack/localstack
	$(GO) run ./cmd/coldstart -runs 15

## smoke: check a deployed stage without credentials or side effects, e.g. make smoke URL=https://api.example.com
smoke:
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://<the stack's ApiUrl or custom domain>"; exit 2; }
	$(GO) run ./cmd/smoke $(URL)

## lint: gofmt, go vet, staticcheck, go.mod tidy, generated pages fresh, cfn-lint, actionlint
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@$(GO) mod tidy -diff || { echo "go.mod is not tidy: run go mod tidy"; exit 1; }
	@$(MAKE) --no-print-directory templ-check
	@command -v cfn-lint >/dev/null || { echo "cfn-lint is missing (pip install cfn-lint)"; exit 1; }
	cfn-lint --include-checks I -- template.yaml pipeline/roles.yaml
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

## templ: generate the Go code of the pages and mails (committed)
templ:
	$(GO) tool templ generate

## templ-check: fail when a committed generated file is stale
templ-check:
	@$(GO) tool templ generate >/dev/null 2>&1
	@out=$$(git diff --name-only -- '*_templ.go'; git ls-files --others --exclude-standard -- '*_templ.go'); if [ -n "$$out" ]; then echo "generated templ files are stale or not added (run make templ and git add):"; echo "$$out"; exit 1; fi

clean:
	rm -rf .aws-sam .local/build
