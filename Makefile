# ops — the two commands a newcomer needs are `make run` and `make test`.
SHELL   := /bin/bash
GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN     := bin/ops
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
SERVICES := scripts/services.sh
# staticcheck 2026.2.2 (module version v0.8.2, the newest; supports go1.26).
# Run with `go run` at this version so it stays out of go.mod.
STATICCHECK_VERSION := v0.8.2

.PHONY: build run test unit vet staticcheck it services services-stop bench mutation clean

build: ## build bin/ops
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ops

run: build ## start MariaDB if needed and back up every local database into ./backups
	$(SERVICES) start mariadb
	$(BIN) backup run

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

unit: ## unit tests only: no services needed
	$(GO) test ./...

services: ## install (apt) and start every service the integration tests need, on loopback
	$(SERVICES) start

services-stop:
	$(SERVICES) stop

# Integration tests run one package at a time (-p 1): several of them take the
# MariaDB server's global read lock, which would stall the others' dumps.
# The serve and schedule tests (which re-run the test binary as `ops serve`)
# run under the race detector.
RACE_IT := ./cmd/... ./internal/schedule/...
test: vet staticcheck ## the whole suite: vet, staticcheck, unit tests (-race), then integration tests against real services
	$(GO) test -race -count=1 ./...
	$(SERVICES) start
	set -a && eval "$$($(SERVICES) env)" && set +a && \
	  OPS_IT=1 $(GO) test -count=1 -p 1 -timeout 20m $$($(GO) list ./... | grep -v -e /cmd/ -e /internal/schedule) && \
	  OPS_IT=1 $(GO) test -race -count=1 -p 1 -timeout 20m $(RACE_IT)

bench: build ## benchmarks against mysqldump, mydumper, posttls-finger, govc (figures in README)
	$(SERVICES) start
	bench/backup.sh

# Not part of test nor of CI: a full run takes hours on 2 cores (bench/mutation-before.md).
# PKGS=./tlscheck narrows it; MUTATION_WORKERS, MUTATION_TIMEOUT: see the script.
mutation: ## mutation testing (gremlins) of the core packages: one score line per package
	GO=$(GO) scripts/mutation.sh $(PKGS)

clean:
	rm -rf bin
