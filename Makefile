# Fluxhook: the index of what a developer runs. `make` alone lists it.

# Go from the official tarball lives in /usr/local/go/bin, which is not
# always on PATH (e.g. in a fresh shell or under CI).
ifeq ($(shell command -v go 2>/dev/null),)
ifneq ($(wildcard /usr/local/go/bin/go),)
export PATH := /usr/local/go/bin:$(PATH)
endif
endif

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Integration tests get PostgreSQL and Redis from FLUXHOOK_TEST_POSTGRES_URL
# and FLUXHOOK_TEST_REDIS_URL, or from throwaway servers started here.
SERVICES := bash scripts/test-services.sh

# make chaos runs every scenario unless CHAOS names some (see e2e/chaos_test.go);
# make soak runs for DURATION.
CHAOS ?= all
DURATION ?= 30m

.PHONY: help build run test test-short test-race test-e2e chaos soak bench lint migrate tidy clean image k8s sdk test-sdk

help: ## list the targets
	@echo "usage: make TARGET"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9-]*:.*## / {printf "  %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build api, dispatcher, worker and fluxhook into ./bin
	go build -o bin/ ./cmd/...

run: build ## run the all-in-one (embedded NATS, SQLite, data in ./data)
	./bin/fluxhook

test: ## go vet, every Go test against real PostgreSQL and Redis (the dashboard's in headless Chromium, installed if missing), then test-sdk
	go vet ./...
	bash scripts/install-promtool.sh
	bash scripts/install-chromium.sh
	$(SERVICES) go test -count=1 -timeout 15m ./...
	$(MAKE) test-sdk

sdk: ## build the TypeScript SDK (sdk/js) so it can be installed from this tree
	bash scripts/sdk-test.sh

test-sdk: ## the TypeScript SDK's tests and every code block of the seeds, against the all-in-one (installs Node if missing)
	bash scripts/sdk-test.sh test

test-short: ## quick unit tests, no services needed
	go test -short -count=1 ./...

test-race: ## short tests under the race detector (needs cgo and a C compiler)
	$(SERVICES) go test -race -short -count=1 -timeout 15m ./...

test-e2e: ## end-to-end: the three binaries as real processes
	$(SERVICES) go test -count=1 -run 'E2E' -timeout 20m ./e2e/...

chaos: ## faults under load on the production layout (#15): one scenario each, a table, non-zero exit on a missed bar (CHAOS=name,... picks)
	@mkdir -p bin
	FLUXHOOK_CHAOS=$(CHAOS) FLUXHOOK_CHAOS_REPORT=$(CURDIR)/bin/chaos-report.txt \
		$(SERVICES) go test -count=1 -run '^TestChaos$$' -v -timeout 45m ./e2e/
	@echo "the table is also in bin/chaos-report.txt"

soak: ## DURATION (default 30m) of steady load with healthy, failing and hanging endpoints; samples every minute, prints a verdict
	@mkdir -p bin
	FLUXHOOK_SOAK_DURATION=$(DURATION) FLUXHOOK_SOAK_REPORT=$(CURDIR)/bin/soak-report.txt \
		$(SERVICES) go test -count=1 -run '^TestSoak$$' -v -timeout 24h ./e2e/
	@echo "the samples and the verdict are also in bin/soak-report.txt"

bench: ## benchmarks (they print figures, including the ratio to this machine's ceiling)
	$(SERVICES) go test -run '^$$' -bench . -benchtime 3s -timeout 20m ./...
	@echo "--- the delivery benchmark again, the embedded JetStream syncing every 100ms instead of every write"
	FLUXHOOK_BENCH_NATS_SYNC_INTERVAL=100ms $(SERVICES) go test -run '^$$' -bench 'BenchmarkDelivery' -benchtime 1x -timeout 20m ./bench

lint: ## gofmt must have nothing to say, and go vet
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: these files need gofmt -w:"; \
		echo "$$unformatted"; \
		exit 1; \
	fi
	go vet ./...

migrate: ## apply the database migrations (FLUXHOOK_DATABASE_URL)
	go run ./cmd/api migrate

IMAGE ?= ghcr.io/fluxhook/fluxhook:dev
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

image: ## docker build the one image of all binaries (IMAGE=..., needs a Docker engine)
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

k8s: ## render the Kustomize overlays into bin/k8s/<overlay>.yaml (kustomize Go library)
	@mkdir -p bin/k8s
	@for o in deploy/k8s/overlays/*/; do \
		o=$${o%/}; n=$${o##*/}; \
		go run ./deploy/kustomize "$$o" > "bin/k8s/$$n.yaml"; \
		echo "bin/k8s/$$n.yaml"; \
	done

tidy: ## go mod tidy
	go mod tidy

clean: ## remove ./bin (never ./data)
	rm -rf bin/
