# haochaping — see README.md.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PKGS      := ./...
CONFIG    ?= configs/dev.yaml

.PHONY: all build run test test-short bench fuzz lint fmt prompts clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/haochaping ./cmd/haochaping

run: build
	./bin/haochaping serve -config $(CONFIG)

# The whole suite, with the race detector, against real peers
# (redis-server, SIPp, Kannel, Net::SMPP, Chromium: .ci/run installs them).
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-short:
	$(GO) test -count=1 -short $(PKGS)

# Benchmarks; results go to bench/ (see bench/README.md).
bench: build
	./scripts/bench.sh

# Longer fuzzing of every parser of outside input (FUZZTIME each).
FUZZTIME ?= 30s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

prompts:
	./scripts/gen-prompts.sh

clean:
	rm -rf bin
