# cspsync — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
TEMPORAL := .bin/temporal

.PHONY: demo test test-cluster cluster cluster-stop fuzz build tools server-tools lint-tools bench stop vet clean

## demo: build everything, start Temporal, the simulator and the worker, authorise a partner and import its tenants
demo: build tools
	bin/cspsync dev

## test: unit, store and end-to-end tests (real PostgreSQL, Temporal dev server, simulator over HTTPS; every fuzz target's seed corpus), then the light fuzz targets briefly
test: tools
	$(MAKE) vet
	$(GO) test -count=1 -timeout 45m ./...
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME) FUZZ_TARGETS='$(TEST_FUZZ_TARGETS)'


## test-cluster: end-to-end scenarios on the production topology (temporal-server on PostgreSQL with SQL visibility, two worker processes; private Temporal databases per test)
test-cluster: tools server-tools
	$(GO) vet -tags cluster ./internal/e2e/ ./internal/testenv/
	$(GO) test -tags cluster -count=1 -timeout 20m -v -run '^TestCluster' ./internal/e2e/

# Fuzz targets as package:Target; `go test -fuzz` takes one target per run.
FUZZ_TARGETS := ./internal/text:FuzzClean ./internal/microsoft:FuzzFromCode ./internal/microsoft:FuzzClassifyAADSTS \
	./internal/microsoft:FuzzClassifyGraph ./internal/microsoft:FuzzPartnerCenterError ./internal/cli:FuzzRender \
	./internal/web:FuzzCallbacks ./activities:FuzzUsersPage
FUZZTIME ?= 1m
# `make test` fuzzes only the targets whose test binary leaves out the Graph
# SDK: fuzzing instruments every package a test binary links, and the SDK's
# models package alone takes minutes and gigabytes to compile instrumented.
# The others run their seed corpora in `go test ./...` and fuzz in `make fuzz`.
TEST_FUZZ_TARGETS := ./internal/text:FuzzClean
TEST_FUZZTIME ?= 6s

## fuzz: run every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m); findings land in the package's testdata/fuzz
fuzz: tools
	@set -e; for t in $(FUZZ_TARGETS); do GO=$(GO) scripts/fuzz.sh "$${t%%:*}" "$${t#*:}" $(FUZZTIME); done

## build: the cspsync CLI and the worker into bin/
build:
	$(GO) build -o bin/cspsync ./starter
	$(GO) build -o bin/cspsync-worker ./worker

## tools: the pinned Temporal CLI (dev server + UI) from the tools module
tools: $(TEMPORAL)
$(TEMPORAL): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../$(TEMPORAL) github.com/temporalio/cli/cmd/temporal

## server-tools: the production Temporal server and its SQL schema tool, at the version the CLI embeds
server-tools: .bin/temporal-server .bin/temporal-sql-tool
.bin/temporal-server: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../.bin/temporal-server go.temporal.io/server/cmd/server
.bin/temporal-sql-tool: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../.bin/temporal-sql-tool go.temporal.io/server/cmd/tools/sql

# `make cluster` keeps its state apart from the demo's: its own data directory and database.
CLUSTER_DIR := .data/cluster
CLUSTER_DATABASE_URL := postgres://postgres@127.0.0.1:5432/cspsync_cluster?sslmode=disable

## cluster: the production topology here: temporal-server on PostgreSQL (SQL visibility), namespace and search attributes, two workers, the simulator, a partner authorised and imported
cluster: build tools server-tools
	CLUSTER_DIR=$(CLUSTER_DIR) scripts/temporal-cluster.sh up
	bin/cspsync --database-url '$(CLUSTER_DATABASE_URL)' dev --workers 2 --data-dir $(CLUSTER_DIR)

## cluster-stop: stop what `make cluster` started (its databases stay, so `make cluster` resumes)
cluster-stop: build
	bin/cspsync dev stop --data-dir $(CLUSTER_DIR)

## bench: every headline figure (users rounds, discovery, licences, credential reads) against its target and floor, in one table; BENCH=users-1x100000 runs one part
BENCH ?= .
bench: tools
	$(GO) test -run '^$$' -bench 'BenchmarkReport/$(BENCH)' -benchtime 1x -timeout 90m ./internal/e2e

## stop: stop what `make demo` left running
stop: build
	bin/cspsync dev stop

## vet: go vet, staticcheck and Temporal's workflowcheck (determinism of workflow code), all clean
vet: lint-tools
	$(GO) vet ./...
	.bin/staticcheck ./...
	.bin/workflowcheck ./...

## lint-tools: staticcheck and workflowcheck, pinned as Go tools in their own module (tools/lint) so the Temporal pins stay untouched
lint-tools: .bin/staticcheck .bin/workflowcheck
.bin/staticcheck: tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && $(GO) build -o ../../.bin/staticcheck honnef.co/go/tools/cmd/staticcheck
.bin/workflowcheck: tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && $(GO) build -o ../../.bin/workflowcheck go.temporal.io/sdk/contrib/tools/workflowcheck

clean: stop cluster-stop
	rm -rf bin .data
