# The README's commands. Everything here needs only Go; tests use real Redis when REDIS_URL is set
# and an in-process miniredis otherwise.
GO ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 60s

.PHONY: build test race lint fmt demo bench fuzz clean deploy-check

build:
	$(GO) build -o bin/ ./cmd/...

test:
	$(GO) test ./...

race:
	$(GO) test -race ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt:
	gofmt -w .

demo:
	$(GO) run ./cmd/worker demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Long fuzzing by hand; `make test` already runs every seed corpus.
fuzz:
	$(GO) test ./internal/cph -run '^$$' -fuzz FuzzDecodePurchaseRequest -fuzztime $(FUZZTIME)
	$(GO) test ./internal/cph -run '^$$' -fuzz FuzzParseError -fuzztime $(FUZZTIME)

clean:
	rm -rf bin/

# The Dockerfile, compose.yaml and k8s/ manifests, checked with Docker's, Compose's and Kubernetes'
# own parsers; deployments/ is a module of its own, so that they stay out of the worker's.
deploy-check:
	cd deployments && $(GO) vet ./... && $(GO) test ./...
