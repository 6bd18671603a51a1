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
LOCAL_BIN := $(CURDIR)/.local/bin
RIE := $(LOCAL_BIN)/aws-lambda-rie
export AWS_LAMBDA_RIE := $(RIE)

# LogicalId -> folder under functions/
FUNCTIONS := MarketplaceCallbackFunction SsoRedirectFunction VerificationCodeFunction
MarketplaceCallbackFunction_DIR := marketplace-callback
SsoRedirectFunction_DIR := sso-redirect
VerificationCodeFunction_DIR := verification-code

.PHONY: dev test bench lint build invoke tools npm browser clean $(addprefix build-,$(FUNCTIONS))

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

## browser: headless Chromium for the page tests (Debian's chromium package)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

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

## test: every test, including the real binaries under the emulator and the
## pages in headless Chromium
test: tools browser npm
	$(GO) test -race -count=1 ./...

## bench: token check and handler benchmarks with DynamoDB round trips per call,
## cold and warm invocations under the emulator, and the stripped bootstrap size
bench: tools
	$(GO) test -run '^$$' -bench . -benchtime=500x -count=1 ./shared/...
	$(GO) test -run '^$$' -bench . -benchtime=30x -count=1 ./cmd/...
	@$(MAKE) --no-print-directory build >/dev/null
	@for fn in $(FUNCTIONS); do printf 'bootstrap size %s: %s bytes\n' $$fn $$(stat -c %s .aws-sam/build/$$fn/bootstrap); done
	$(GO) run ./cmd/local invoke MarketplaceCallbackFunction -e events/create-instance.json >/dev/null

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

clean:
	rm -rf .aws-sam .local/build
