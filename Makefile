# Sisporta — see README.md. `make demo` runs the main job locally; `make test`
# runs every test against real MariaDB, Redis and kube-apiserver.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN        ?= $(CURDIR)/bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMG        ?= ghcr.io/sisporta/sisporta:$(VERSION)
GO         ?= go
LDFLAGS    := -s -w -X github.com/sisporta/sisporta/cmd.Version=$(VERSION)

CONTROLLER_GEN := $(BIN)/controller-gen

.PHONY: all
all: build

##@ Development

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && $(GO) build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC into config/ and the chart.
	$(CONTROLLER_GEN) crd rbac:roleName=manager-role paths=./api/... paths=./controllers/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

GENERATED = api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when generated files are not what the generators make of the sources.
	@before=$$( (find $(GENERATED) -type f 2>/dev/null || true) | sort | xargs -r sha256sum); \
	$(MAKE) --no-print-directory -s generate manifests; \
	after=$$( (find $(GENERATED) -type f 2>/dev/null || true) | sort | xargs -r sha256sum); \
	if [ "$$before" != "$$after" ]; then \
		echo "generated files were out of date (now regenerated: review and commit them):"; \
		git status --short -- $(GENERATED); exit 1; fi

.PHONY: fmt
fmt: ## gofmt the code.
	@out=$$(gofmt -l $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; \
		if [ -n "$$CI" ]; then exit 1; fi; gofmt -w $$out; fi

.PHONY: vet
vet: ## go vet the code.
	$(GO) vet ./...

##@ Test

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd for envtest (cached per user).
	@hack/envtest-assets.sh | tail -1

.PHONY: services
services: ## Make sure MariaDB and Redis are up.
	hack/services.sh

.PHONY: test
test: fmt vet verify-generated services ## Run all tests against real MariaDB, Redis and kube-apiserver.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -1)" $(GO) test -count=1 -timeout 30m ./...

.PHONY: bench
bench: services build ## Benchmarks: 1M rows through Redis vs LOAD DATA.
	@echo "benchmarks arrive with the data plane"

##@ Build

.PHONY: build
build: ## Build bin/sisporta.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/sisporta .

.PHONY: run
run: manifests ## Run the operator against the cluster in KUBECONFIG.
	$(GO) run . manager --health-probe-bind-address=:8081 --metrics-bind-address=:8080

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
