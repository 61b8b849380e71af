# The README's commands. Everything here needs only Go; tests use real Redis when REDIS_URL is set
# and an in-process miniredis otherwise.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 60s

.PHONY: build test race chaos lint fmt demo bench fuzz clean deploy-check example

build:
	$(GO) build -o bin/ ./cmd/...

test:
	$(GO) test ./...

race:
	$(GO) test -race ./...

# The chaos suite (e2e/chaos_test.go): three worker processes, a redis-server of its own and a
# faulty cphsim, with kills, restarts and outages, then the exactly-once checks and a summary. It
# ends by itself within the bound it prints; CHAOS_SEED=N repeats a run's order mix, faults and
# schedule. Needs redis-server (skipped without one, unless CI=true).
chaos:
	CHAOS=1 $(GO) test ./e2e -run '^TestChaos$$' -count=1 -v -timeout 20m

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w .

demo:
	$(GO) run ./cmd/worker demo

# The performance table (cmd/cphbench, README "Performance") on the machine's Redis unless REDIS_URL
# says otherwise, then the Go benchmarks of the hot pieces; BENCH_QUICK=1 for a small, rough run.
# Benchmarks are not tests: CI does not run them.
bench: export REDIS_URL := $(or $(REDIS_URL),redis://127.0.0.1:6379/0)
bench: build
	bin/cphbench --worker bin/worker
	$(GO) test -run '^$$' -bench . -benchmem $(if $(filter 1,$(BENCH_QUICK)),-benchtime 100ms) ./...

# The example producer, examples/goproducer: a module of its own that imports cphpurchase/producer
# as another team's service would. Vetted, built, and run against REDIS_URL (the machine's Redis
# unless set) with a worker and the simulator, in a queue of its own that it deletes afterwards.
example: export REDIS_URL := $(or $(REDIS_URL),redis://127.0.0.1:6379/0)
example: build
	cd examples/goproducer && $(GO) vet ./... && $(GO) build -o ../../bin/goproducer .
	examples/goproducer/run.sh bin

# Long fuzzing by hand; `make test` already runs every seed corpus.
fuzz:
	$(GO) test ./internal/strictjson -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/cph -run '^$$' -fuzz FuzzDecodePurchaseRequest -fuzztime $(FUZZTIME)
	$(GO) test ./internal/cph -run '^$$' -fuzz FuzzParseError -fuzztime $(FUZZTIME)

clean:
	rm -rf bin/

# The Dockerfile, compose.yaml and k8s/ manifests, checked with Docker's, Compose's and Kubernetes'
# own parsers; the alert rules with `promtool check rules` and `promtool test rules` (Debian's
# prometheus package; skipped without it unless CI=true); the dashboard's and the rules' queries
# against a real worker's /metrics. deployments/ is a module of its own, so that they stay out of
# the worker's.
deploy-check:
	cd deployments && $(GO) vet ./... && $(GO) test ./...
