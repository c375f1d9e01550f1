# vigil — see README.md. `make check` is what CI runs; `make lab` shows what vigil does.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO      ?= go
TAGS    ?= pacific
BIN     := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2
# Runtime files of integration tests (namespaces, BMCs, Ceph) go here, never in the repo.
export VIGIL_RUN ?= /tmp/vigil-run

.PHONY: all build deps deps-build test integration scenarios fuzz-check model lint bench bench-fence bench-scale check lab docs clean

all: build

deps-build:
	@scripts/install-deps.sh build

deps:
	@scripts/install-deps.sh integration

build: deps-build
	$(GO) build -tags $(TAGS) -o $(BIN)/vigil ./cmd/vigil

# Fast unit tests: pure logic, simulator, scenario scripts, fuzz seed corpora. Seconds, no root.
test:
	$(GO) test -count=1 ./...

# Integration tests against real local components (ipmi_sim, fence_ipmilan, fence_redfish,
# Ceph, network namespaces, a single-machine OpenStack). Needs root and `make deps`.
# VIGIL_OPENSTACK=1: the OpenStack tests start their bed (1-4 min, docs/performance.md).
# They share one bed, so they run after the rest, one package at a time: run side by
# side, internal/nova's servers filled the computes and the bed's own evacuation test
# found "No valid host" (2026-12-04; each passes alone, the bed's in 85 s). Off by
# default until they have had clean runs inside make check. VIGIL_OPENSTACK_KEEP=1
# leaves the bed running for the next run.
export VIGIL_OPENSTACK ?= 0
OPENSTACK_PKGS = ./internal/nova/ ./internal/testbed/openstack/ ./internal/testbed/novalab/
integration: deps
	mkdir -p $(VIGIL_RUN)
	VIGIL_INTEGRATION=1 VIGIL_OPENSTACK=0 $(GO) test -tags $(TAGS) -count=1 -p 2 -timeout 20m ./internal/...
	if [ "$(VIGIL_OPENSTACK)" = 1 ]; then VIGIL_INTEGRATION=1 $(GO) test -tags $(TAGS) -count=1 -p 1 -timeout 30m $(OPENSTACK_PKGS); fi

# Every shipped scenario must pass in the simulator.
scenarios: build
	$(BIN)/vigil lab run scenarios/*.yaml

# Random schedules against vigil's invariants (the bar: 1000 in under 2 minutes), once
# with a fixed seed (every invariant) and once with a fresh one (safety gates, a
# liveness failure is printed): a seed that passed proves that seed only.
# A failure prints the seed and the shrunk schedule; replay it with vigil lab run.
fuzz-check: build
	time $(BIN)/vigil lab fuzz --schedules 1000 --seed 1
	@seed=$$(date +%s); echo "fuzz-check: fresh seed $$seed (3-30 hosts): a safety failure fails the check, a liveness one is printed"; \
	  $(BIN)/vigil lab fuzz --schedules 1000 --seed $$seed --hosts 3-30 --gate safety || \
	  { echo "fuzz-check: fresh seed $$seed broke a safety invariant: replay the schedule above with vigil lab run"; exit 1; }
	@seed=$$(( $$(date +%s) + 7 )); echo "fuzz-check: lying BMCs over short outages (--mix liar=1), fresh seed $$seed"; \
	  $(BIN)/vigil lab fuzz --schedules 300 --seed $$seed --hosts 3-12 --mix liar=1 --gate safety || \
	  { echo "fuzz-check: fresh seed $$seed (--mix liar=1) broke a safety invariant: replay the schedule above with vigil lab run"; exit 1; }

# The Spin models of the watchdog contract and of tickets (model/README.md): each
# sound model must hold in every state of its bounded world, each unsound variant
# must fail.
model: deps
	model/run.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags $(TAGS) ./...
	@test -x $(BIN)/staticcheck || GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(BIN)/staticcheck ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./internal/decision/ ./internal/scenario/ ./internal/fence/redfish/

check: deps model lint test integration scenarios fuzz-check

lab: build
	$(BIN)/vigil lab

# The command reference, docs/cli/*.md, from vigil's own command tree and --help texts.
# internal/cli's TestDocsMatchCommands fails when it is stale. Built without TAGS, as
# that test is.
docs:
	rm -f docs/cli/*.md
	mkdir -p docs/cli
	$(GO) run ./cmd/vigil gen-docs docs/cli
	chmod 644 docs/cli/*.md

clean:
	rm -rf $(BIN)

# Fence driver timings against real ipmi_sim / fence_ipmilan / Ceph (root, `make deps`).
bench-fence: deps
	VIGIL_INTEGRATION=1 $(GO) test -tags $(TAGS) -p 1 -count 1 -run '^$$' -bench 'Off' -benchtime 10x ./internal/fence/...

# Two vigil controller processes on Debian's etcd, fed by 1,000 and 10,000 agents on
# the real transport (three networks, 1 s interval; internal/testbed/swarm): the
# leader's CPU and RSS, report-to-grant latency, and the takeover after a SIGKILL
# (docs/performance.md). VIGIL_SCALE_HOSTS=1000,5000,10000 picks the sizes;
# VIGIL_SCALE_PROFILE=DIR saves the leader's CPU profile there (go tool pprof);
# VIGIL_SCALE_LEASE=3s sets etcd.lease_ttl (default 5s).
bench-scale: deps
	VIGIL_INTEGRATION=1 $(GO) test -count 1 -timeout 30m -run '^$$' -bench Controller -benchtime 1x ./internal/testbed/swarm/
