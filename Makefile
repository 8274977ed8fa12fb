# gate's build, test and tooling. Every install step the tests need lives
# here, so a fresh machine with Go runs `make test` and nothing else.

GO      ?= go
BIN     := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Pinned tool versions (built from their Go modules, never downloaded as binaries).
KUSTOMIZE_VERSION   := v5.8.1

.PHONY: all build test test-short lint vet fmt tools bench fuzz clean example

all: build

build: ## Build bin/gate
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/gate ./cmd/gate

$(BIN)/kustomize:
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

tools: $(BIN)/kustomize ## Build the reference tools tests and benchmarks compare against

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l cmd checks internal rego policies testdata 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: fmt vet tools build ## The full test suite (what CI runs)
	GATE_KUSTOMIZE_BIN=$(BIN)/kustomize $(GO) test -race -count=1 ./...

test-short: ## Quick unit tests without -race
	$(GO) test -short ./...

example: build ## Run gate on the bundled example ops repo
	$(BIN)/gate --repo testdata/example check

clean:
	rm -rf $(BIN) .cache
