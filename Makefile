# Sluice — make targets. `make run` and `make test` are the README's quick start.
GO        ?= go
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 30s
FUZZMIN   ?= 20x

.PHONY: all build test vet run bench microbench fuzz clean deps-test

all: build

build:
	$(GO) build -o $(BIN)/sluice ./cmd/sluice
	@if [ -d cmd/demo-upstream ]; then $(GO) build -o $(BIN)/demo-upstream ./cmd/demo-upstream; fi

# deps-test installs what the tests need and is missing (Debian packages).
deps-test:
	@./scripts/install-test-deps.sh

vet:
	$(GO) vet $(PKGS)

# The allocation tests are built without the race detector, whose
# instrumentation allocates (their files say //go:build !race). They run
# again without it, so that a hot path that starts allocating fails here.
ALLOC_TESTS := Alloc|NotHeapObjects|ResidentMemory

test: deps-test vet
	$(GO) test -race -count=1 $(PKGS)
	$(GO) test -count=1 -timeout 20m -run '$(ALLOC_TESTS)' $(PKGS)

run: build
	@./scripts/run-quickstart.sh

# bench installs nginx/haproxy/wrk/lua (Debian) and runs bench/cmd/e2e; it
# builds Sluice itself and skips it, saying why, while it does not build.
bench:
	@./bench/run.sh

microbench:
	@GO=$(GO) ./bench/microbench.sh

# fuzz runs every fuzz target for FUZZTIME each (FUZZTIME=10m for a real
# campaign); scripts/fuzz.sh says why FUZZMIN is 20x.
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZMIN=$(FUZZMIN) ./scripts/fuzz.sh

clean:
	rm -rf $(BIN) bench/results
