# gate's build, test and tooling. Every install step the tests need lives
# here, so a fresh machine with Go runs `make test` and nothing else.

GO      ?= go
BIN     := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Pinned tool versions (built from their Go modules, never downloaded as binaries).
KUSTOMIZE_VERSION   := v5.8.1
# The benchmark's baseline (make bench): the tools teams script today. Helm
# is the one gate's go.mod pins, for kustomize build --enable-helm, helm
# template and the Flux golden test (GATE_HELM_BIN).
KUBECONFORM_VERSION := v0.8.0
CONFTEST_VERSION    := v0.71.1
HELM_VERSION         = $(shell $(GO) list -m -f '{{.Version}}' helm.sh/helm/v4)
# A real kube-apiserver and etcd for the live-cluster tests, built from the
# test-only module in internal/testing/kubetest/build (never from downloaded binaries).
# KUBE_BIN may point at a directory the CI machine keeps between runs; the
# stamp names the version and the module's go.sum, so a bump rebuilds.
KUBE_VERSION := v1.33.13
# One cache for the test binaries, the same one .ci/run uses, so every clone
# of the repo on a machine builds them once.
TEST_BIN_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/gate
KUBE_BIN     ?= $(TEST_BIN_CACHE)/kube-bin
KUBE_MOD     := internal/testing/kubetest/build
KUBE_STAMP   := $(KUBE_BIN)/.built-$(KUBE_VERSION)-$(shell cat $(KUBE_MOD)/go.sum 2>/dev/null | cksum | cut -d' ' -f1)
KUBE_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=33 \
	-X k8s.io/component-base/version.gitTreeState=clean

.PHONY: all build test test-corpus test-short lint vet fmt tools bench bench-tools fuzz clean example kube-bins postgres strace docker

all: build

# go build -v names each package it compiles; GOBUILD counts them on stderr
# (a line every 100 packages), so a cold build shows it is moving instead of
# printing nothing for minutes; whatever else go prints (errors) passes
# through, and the target fails with go's exit status. A warm build compiles
# nothing and prints nothing. $(call GOBUILD,dir,args,env)
GOBUILD_PROGRESS = awk '/^[A-Za-z0-9._~\/-]+$$/ { n++; if (n % 100 == 0) printf "  packages compiled: %d\n", n > "/dev/stderr"; next } { print > "/dev/stderr" } END { if (n % 100) printf "  packages compiled: %d\n", n > "/dev/stderr" }'
GOBUILD = rc=$$( { { cd $(1) && $(3) $(GO) build -v $(2) 2>&1; echo $$? >&3; } | $(GOBUILD_PROGRESS); } 3>&1 ); exit $$rc

# bin/gate is built as the release is (.goreleaser.yaml): static, CGO off,
# so the same file runs on the host and in the release image's empty base.
build: ## Build bin/gate (first build: see README "Try it" for its cost)
	@echo "building bin/gate (a first build compiles about 1,200 packages: 6 CPU-minutes, 1.4 GiB of memory, 1.8 GiB of disk; see README)" >&2
	@$(call GOBUILD,.,-trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/gate ./cmd/gate,CGO_ENABLED=0)

$(BIN)/kustomize:
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

# The Helm CLI at the version gate links (go.mod), for the golden test that
# compares gate's Flux HelmRelease renders with `helm template`.
tools: $(BIN)/kustomize $(BIN)/helm ## Build the reference tools tests and benchmarks compare against

$(BIN)/kubeconform:
	GOBIN=$(BIN) $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(BIN)/conftest:
	GOBIN=$(BIN) $(GO) install github.com/open-policy-agent/conftest@$(CONFTEST_VERSION)

$(BIN)/helm:
	GOBIN=$(BIN) $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

bench-tools: $(BIN)/kustomize $(BIN)/kubeconform $(BIN)/conftest $(BIN)/helm ## Build the benchmark's baseline tools (not needed by make test)

# make bench BENCH_FLAGS='-runs 3 -profile' ; see README "Benchmark".
BENCH_FLAGS ?=
bench: build bench-tools ## gate against kustomize | kubeconform + conftest on a generated 50-env repo, then on a 50-cluster Flux repo against a flux-local style script (never part of make test)
	$(GO) run ./cmd/gate-bench -bin $(BIN) -work .cache/bench $(BENCH_FLAGS)
	$(GO) run ./cmd/gate-bench -bin $(BIN) -work .cache/bench-flux -layout flux $(BENCH_FLAGS)

.PHONY: bench-flux
bench-flux: build bench-tools ## The Flux-shaped half of make bench only
	$(GO) run ./cmd/gate-bench -bin $(BIN) -work .cache/bench-flux -layout flux $(BENCH_FLAGS)

.PHONY: bench-go
bench-go: ## Go benchmarks of the schema and policy stages over 10,000 resources, and of the one-env pull request on make bench's repo when it exists (never part of make test)
	$(GO) test -run '^$$' -bench . -benchmem ./checks/schema ./checks/policy
	GATE_BENCH_REPO=$(CURDIR)/.cache/bench/repo $(GO) test -run '^$$' -bench OneEnvChange -benchtime 5x ./cmd/gate

# make bench-app [BENCH_APP_WEBHOOKS=1000 BENCH_APP_PRS=200]: gate serve on 1 and on 3
# replicas sharing a real Postgres, webhook -> all check runs completed p50/p99 and the
# throughput ratio (never part of make test; see README "The queue, replicas and sizing").
BENCH_APP_WEBHOOKS ?= 1000
BENCH_APP_PRS      ?= 200
.PHONY: bench-app
bench-app: postgres ## The App's queue on 1 and 3 replicas (never part of make test)
	GATE_BENCH_APP=1 GATE_BENCH_WEBHOOKS=$(BENCH_APP_WEBHOOKS) GATE_BENCH_PRS=$(BENCH_APP_PRS) GATE_PG_BIN=$$($(PG_BIN_CMD)) \
		$(GO) test -count=1 -run '^TestBenchApp$$' -v -timeout 90m ./internal/app

kube-bins: $(KUBE_STAMP) ## Build kube-apiserver and etcd for the live-cluster tests (cached)

$(KUBE_STAMP):
	@mkdir -p $(KUBE_BIN)
	@echo "building kube-apiserver $(KUBE_VERSION) and etcd into $(KUBE_BIN), once per machine (cold: 6 minutes on an idle 2-core machine, 25 or more on a loaded one; see README)" >&2
	@$(call GOBUILD,$(KUBE_MOD),-trimpath -ldflags '$(KUBE_LDFLAGS)' -o $(KUBE_BIN)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver,GOFLAGS='-mod=readonly -buildvcs=false')
	@$(call GOBUILD,$(KUBE_MOD),-trimpath -ldflags '-s -w' -o $(KUBE_BIN)/etcd go.etcd.io/etcd/server/v3,GOFLAGS='-mod=readonly -buildvcs=false')
	rm -f $(KUBE_BIN)/.built-*
	touch $@

# PostgreSQL server binaries (initdb, postgres) for the App's Postgres tests
# (internal/testing/pgtest starts and stops its own server on loopback; it
# never uses a system service). Debian's package, installed once; a no-op
# when any /usr/lib/postgresql/*/bin/initdb exists.
PG_BIN_CMD = ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
postgres: ## Install PostgreSQL's server binaries if missing (apt-get; needed by make test)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; else \
		echo "installing PostgreSQL server binaries (apt-get)" >&2; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		{ DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends postgresql-15 || \
		  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends postgresql; }; \
	fi
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null

# The real pre-commit (Debian's package) for the test that installs gate's
# hook from a local clone, as a user's .pre-commit-config.yaml names it, and
# commits through it (cmd/gate TestPreCommitThroughTheRealPreCommit). A no-op
# when pre-commit is on the PATH.
.PHONY: pre-commit
pre-commit: ## Install pre-commit if missing (apt-get; needed by make test)
	@if command -v pre-commit >/dev/null 2>&1; then :; else \
		echo "installing pre-commit (apt-get)" >&2; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends pre-commit; \
	fi
	@command -v pre-commit >/dev/null

# Release artefacts (.goreleaser.yaml): goreleaser and the SBOM generator
# it calls, built from their Go modules into bin/ (never downloaded as
# binaries). make release-snapshot builds the archives, checksums, SBOMs and
# the image into dist/ without publishing (the image needs a Docker daemon
# with buildx: SNAPSHOT_FLAGS=--skip=docker without one); make
# release-snapshot-host does the same for this machine's platform only and
# no image, from .goreleaser.yaml with its build matrix narrowed (one gate
# build instead of four cross-compiles).
GORELEASER_VERSION      := v2.17.0
CYCLONEDX_GOMOD_VERSION := v1.10.0
SNAPSHOT_FLAGS          ?=
$(BIN)/goreleaser:
	GOBIN=$(BIN) $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

$(BIN)/cyclonedx-gomod:
	GOBIN=$(BIN) $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

.PHONY: release-snapshot
release-snapshot: $(BIN)/goreleaser $(BIN)/cyclonedx-gomod ## Build the release artefacts into dist/ without publishing (goreleaser --snapshot)
	PATH=$(BIN):$$PATH $(BIN)/goreleaser check
	PATH=$(BIN):$$PATH $(BIN)/goreleaser release --snapshot --clean $(SNAPSHOT_FLAGS)

.PHONY: release-snapshot-host
release-snapshot-host: $(BIN)/goreleaser $(BIN)/cyclonedx-gomod ## release-snapshot for this machine's platform only, without the image
	@mkdir -p .cache
	sed -e "s/^    goos: .*/    goos: [$$($(GO) env GOOS)]/" -e "s/^    goarch: .*/    goarch: [$$($(GO) env GOARCH)]/" .goreleaser.yaml > .cache/goreleaser-host.yaml
	PATH=$(BIN):$$PATH $(BIN)/goreleaser release --snapshot --clean --skip=docker --config .cache/goreleaser-host.yaml

# A real OCI registry (distribution/distribution, from the test-only module
# internal/testing/chartrepo/registry) for the chart-pull tests; the stamp
# names the module's go.sum, so a bump rebuilds.
REGISTRY_MOD   := internal/testing/chartrepo/registry
REGISTRY_BIN   ?= $(TEST_BIN_CACHE)/registry-bin
REGISTRY_STAMP := $(REGISTRY_BIN)/.built-$(shell cat $(REGISTRY_MOD)/go.sum 2>/dev/null | cksum | cut -d' ' -f1)
.PHONY: registry-bin
registry-bin: $(REGISTRY_STAMP) ## Build the OCI registry the chart tests push to (cached)

$(REGISTRY_STAMP):
	@mkdir -p $(REGISTRY_BIN)
	@echo "building the test OCI registry into $(REGISTRY_BIN) (cold: a few minutes)" >&2
	cd $(REGISTRY_MOD) && GOFLAGS='-mod=readonly -buildvcs=false' $(GO) build -trimpath -ldflags '-s -w' -o $(REGISTRY_BIN)/registry .
	rm -f $(REGISTRY_BIN)/.built-*
	touch $@

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l cmd checks internal rego policies testdata 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The hostile corpus and the CLI's hostile tests run a second time in an empty
# network namespace under strace (TestCorpusKernelTrace, TestCLIKernelTrace):
# say up front whether this machine allows it, so a skip is never silent.
KERNEL_TRACE_CHECK = if ! command -v strace >/dev/null 2>&1; then echo "kernel trace of the hostile tests: SKIPPED (strace is not installed)"; \
	elif ! unshare -n true 2>/dev/null && ! unshare -r -n true 2>/dev/null; then echo "kernel trace of the hostile tests: SKIPPED (no permission to create a network namespace: run as root)"; \
	else echo "kernel trace of the hostile tests: on (empty network namespace, strace -f)"; fi

strace: ## Install strace if missing (apt-get, as root or with sudo; the kernel trace of the hostile tests skips without it)
	@command -v strace >/dev/null 2>&1 || { \
		sudo=; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
		echo "installing strace (apt-get)" >&2; \
		{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends strace; } || \
		echo "could not install strace: the kernel trace of the hostile tests will be skipped" >&2; }

docker: ## Install a Docker engine if missing (Debian's docker.io; TestReleaseImage starts its own dockerd on temp dirs)
	@command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || { \
		sudo=; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
		echo "installing docker.io (apt-get)" >&2; \
		{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq docker.io; } || \
		echo "could not install docker.io: the release image test will be skipped" >&2; }

test: fmt vet tools build kube-bins registry-bin postgres pre-commit strace docker ## The full test suite (what CI runs)
	@$(KERNEL_TRACE_CHECK)
	GATE_BIN=$(BIN)/gate GATE_KUSTOMIZE_BIN=$(BIN)/kustomize GATE_HELM_BIN=$(BIN)/helm GATE_KUBE_BIN=$(KUBE_BIN) GATE_REGISTRY_BIN=$(REGISTRY_BIN)/registry GATE_PG_BIN=$$($(PG_BIN_CMD)) $(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory test-corpus

# The tests that render whole corpora (named ...Corpus) skip themselves under
# the race detector (ten times the CPU, up to 20 GB, no race the concurrent
# tests miss): they run here, without it.
test-corpus: ## The corpus-wide render tests, without -race (part of make test)
	GATE_KUSTOMIZE_BIN=$(BIN)/kustomize GATE_HELM_BIN=$(BIN)/helm $(GO) test -count=1 -timeout 30m -run 'Corpus$$' ./checks/...

test-short: ## Quick unit tests without -race
	$(GO) test -short ./...

# make fuzz FUZZTIME=60s: every Go fuzz target in turn, FUZZTIME each (never
# part of make test; their seed corpora, */testdata/fuzz, run in every go test).
# A failing input is written to the package's testdata/fuzz and stops the run.
FUZZTIME         ?= 60s
FUZZMINIMIZETIME ?= 10s
FUZZ_TARGETS := ./checks/render:FuzzParseDocs ./checks/render:FuzzScanKustomization \
	./checks/config:FuzzParse ./checks/diff:FuzzDiff ./internal/app:FuzzWebhook \
	./checks/escape:FuzzTerminal ./checks/escape:FuzzMarkdown ./checks/escape:FuzzURI ./checks/report:FuzzEveryFormat
fuzz: ## Fuzz the YAML and kustomization intake, gate.yaml, the diff, the webhook handler and every output escaping
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg; \
	done

example: build ## Run gate on the bundled example ops repo
	$(BIN)/gate --repo testdata/example check

clean:
	rm -rf $(BIN) .cache
