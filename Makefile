# staticlet's build. `make test` is what CI runs (.ci/run); it must pass on a
# fresh Debian machine as root from a clean clone.
GO      ?= go
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 10s
BENCHTIME ?= 1s

.PHONY: all build test vet fmt-check check-pure unit fuzz bench run clean

all: build

build:
	$(GO) build -o $(BIN)/staticlet ./cmd/staticlet

## test: everything CI checks: formatting, vet, the pure-core rule, unit and
## integration tests, and a short fuzz pass.
test: fmt-check vet check-pure unit fuzz

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

check-pure:
	./hack/check-pure.sh

unit:
	$(GO) test -count=1 $(PKGS)

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./host/manifest

## bench: benchmarks whose figures go into docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./host/manifest ./host/validation ./host/admission ./host/desired ./host/source/file ./host/agent

## run: the README's main command.
run: build
	./$(BIN)/staticlet check --kubelet-config examples/kubelet-config.yaml

clean:
	rm -rf $(BIN)
