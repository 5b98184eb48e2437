# Sisporta — see README.md. `make demo` runs the main job locally; `make test`
# runs every test against real MariaDB, Redis and kube-apiserver.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN        ?= $(CURDIR)/bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMG_REPO   ?= ghcr.io/sisporta/sisporta
IMG        ?= $(IMG_REPO):$(VERSION)
GO         ?= go
LDFLAGS    := -s -w -X github.com/sisporta/sisporta/cmd.Version=$(VERSION)

CONTROLLER_GEN := $(BIN)/controller-gen
HELM           := $(BIN)/helm
KUSTOMIZE_BUILD := $(BIN)/kustomize-build

.PHONY: all
all: build

##@ Development

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && $(GO) build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

# Helm from the Go module proxy, stamped as Helm's own Makefile does: its
# version, and the Kubernetes version it assumes (that of its client-go,
# v0.37 -> 1.37) instead of the 1.20 it would otherwise claim.
$(HELM): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && v=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3) && \
	k=$$($(GO) list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2) && \
	$(GO) build -o $(HELM) -ldflags "-X helm.sh/helm/v3/internal/version.version=$$v \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$k \
		-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$k" \
		helm.sh/helm/v3/cmd/helm

# Renders config/ kustomizations for the tests (no kubectl here).
$(KUSTOMIZE_BUILD): hack/tools/go.mod hack/tools/go.sum hack/tools/cmd/kustomize-build/main.go
	cd hack/tools && $(GO) build -o $(KUSTOMIZE_BUILD) ./cmd/kustomize-build

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC into config/ and the chart.
	$(CONTROLLER_GEN) crd rbac:roleName=manager-role paths=./api/... paths=./controllers/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(GO) run ./hack/manifestgen

GENERATED = api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml \
	charts/sisporta/templates/_manager-rules.tpl $(wildcard charts/sisporta/templates/crd-*.yaml) \
	config/argocd/health.lua config/argocd/argocd-cm.yaml

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

.PHONY: prometheus
prometheus: ## Fetch Debian 12's prometheus and promtool (2.42) for the alert and dashboard tests (cached per user).
	@hack/prometheus.sh | tail -1

.PHONY: test
test: fmt vet verify-generated services prometheus $(HELM) $(KUSTOMIZE_BUILD) ## Run all tests against real MariaDB, Redis and kube-apiserver.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -1)" HELM=$(HELM) KUSTOMIZE_BUILD=$(KUSTOMIZE_BUILD) \
		$(GO) test -count=1 -timeout 30m ./...

.PHONY: bench
bench: services build ## Benchmarks: 1M rows through Redis (full, no-op, 1% changed) beside LOAD DATA and mariadb-dump.
	$(GO) test -run '^$$' -bench . -benchmem ./runner/...
	$(GO) run ./hack/bench -rows $${BENCH_ROWS:-1000000} -concurrency $${BENCH_CONCURRENCY:-2}

.PHONY: bench-operator
bench-operator: services build ## The operator at scale: BENCH_PIPELINES (1000) pipelines on envtest and Redis; start, quiet minute, RSS, scale-up.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -1)" \
		$(GO) run ./hack/benchoperator -pipelines $${BENCH_PIPELINES:-1000} -manager $(BIN)/sisporta

.PHONY: demo
demo: build ## Mirror a small garage-door ERP in the local MariaDB, change it, mirror again.
	hack/demo.sh

##@ Build

.PHONY: build
build: ## Build bin/sisporta.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/sisporta .

.PHONY: run
run: manifests ## Run the operator against the cluster in KUBECONFIG.
	$(GO) run . manager --health-probe-bind-address=:8081 --metrics-bind-address=:8080

# The image without Docker: what the Dockerfile's runtime stage holds (the
# static binary, user 65532, CA certificates, zoneinfo, entrypoint, labels),
# written as an archive by hack/tools/cmd/imagebuild from this machine's
# ca-certificates and tzdata. hack/deploytest checks it against the
# Dockerfile; the Dockerfile stays the release path.
IMAGE_BUILD := $(BIN)/imagebuild
IMAGE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

$(IMAGE_BUILD): hack/tools/go.mod hack/tools/go.sum $(wildcard hack/tools/cmd/imagebuild/*.go)
	cd hack/tools && $(GO) build -o $(IMAGE_BUILD) ./cmd/imagebuild

.PHONY: image
image: build $(IMAGE_BUILD) ## Write bin/image.tar, the image IMG, without Docker (hack/cluster.sh load bin/image.tar).
	$(IMAGE_BUILD) -o $(BIN)/image.tar -tag $(IMG) -epoch $(IMAGE_EPOCH) \
		-add $(BIN)/sisporta:/usr/local/bin/sisporta \
		-ca-certs /etc/ssl/certs/ca-certificates.crt -zoneinfo /usr/share/zoneinfo \
		-user 65532:65532 -username nonroot \
		-entrypoint /usr/local/bin/sisporta -cmd manager \
		-label org.opencontainers.image.title=sisporta \
		-label "org.opencontainers.image.description=Keeps MySQL a mirror of a read-only SQL Server or MySQL database" \
		-label org.opencontainers.image.source=https://github.com/sisporta/sisporta \
		-label org.opencontainers.image.version=$(VERSION)

##@ Local cluster

.PHONY: cluster-up
cluster-up: ## Start (or reuse) a single-node Kubernetes here, no Docker needed (hack/cluster.sh; root).
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and remove everything it made.
	hack/cluster.sh down

# The suite brings the cluster up (or reuses it), builds and loads the image,
# and takes down a cluster it started (E2E_KEEP_CLUSTER=1 keeps it).
.PHONY: e2e
e2e: services $(HELM) ## End to end on the local cluster: chart, operator, CronJobs and workers as real pods (root).
	$(GO) vet -tags e2e ./test/e2e/
	HELM=$(HELM) $(GO) test -tags e2e -count=1 -timeout 80m -v ./test/e2e/

##@ Release (bitbucket-pipelines.yml runs these)

CHART_VERSION ?= $(patsubst v%,%,$(VERSION))
CHART_REPO    ?= oci://ghcr.io/sisporta/charts
ALL_VALUES    := hack/deploytest/testdata/values-all.yaml

.PHONY: tools
tools: $(CONTROLLER_GEN) $(HELM) $(KUSTOMIZE_BUILD) prometheus ## Build the pinned tools (hack/tools) into bin/.

.PHONY: lint
lint: fmt vet helm-lint ## gofmt, go vet and helm lint.

.PHONY: helm-lint
helm-lint: $(HELM) ## helm lint --strict the chart, with defaults and with every optional part on.
	$(HELM) lint --strict charts/sisporta
	$(HELM) lint --strict charts/sisporta -f $(ALL_VALUES)

.PHONY: docker-build
docker-build: ## Build the image IMG (needs Docker).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the image IMG.
	docker push $(IMG)

.PHONY: chart-package
chart-package: $(HELM) ## Package the chart into dist/ as CHART_VERSION, running image tag VERSION.
	$(HELM) package charts/sisporta --version $(CHART_VERSION) --app-version $(VERSION) -d dist

.PHONY: chart-push
chart-push: chart-package ## Push the packaged chart to the OCI registry CHART_REPO.
	$(HELM) push dist/sisporta-$(CHART_VERSION).tgz $(CHART_REPO)

.PHONY: gitops-bump
gitops-bump: ## Set the image tag VERSION in the GitOps repository Argo CD deploys from (GITOPS_REPO, GITOPS_FILE).
	hack/gitops-bump.sh $(VERSION)

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
