# staticlet's build. `make test` is what CI runs (.ci/run); it must pass on a
# fresh Debian machine as root from a clean clone.
GO      ?= go
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 10s
BENCHTIME ?= 1s

.PHONY: all build test test-deps sdk-test vet fmt-check check-pure unit fuzz bench run clean

all: build

build:
	$(GO) build -o $(BIN)/staticlet ./cmd/staticlet

## test: everything CI checks: formatting, vet, the pure-core rule, unit and
## integration tests (real containerd, real .wasm plugins), the SDK module,
## the reference plugins against their cases, and a short fuzz pass.
test: test-deps fmt-check vet check-pure unit sdk-test plugins-test fuzz

## test-deps: Debian packages the tests build with (C plugins need clang and
## wasi-libc); containerd, runc and busybox-static are installed by
## hack/containerd/containerd.sh when the tests start it.
TEST_DEBS := clang lld wasi-libc libclang-rt-14-dev-wasm32
test-deps:
	@missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }; \
	fi

## sdk-test: the plugin SDK is its own module (standard library only), and
## so is the example policy project.
sdk-test:
	cd sdk && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd examples/policy-project && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(MAKE) -C examples/policy-project cases

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

include plugins/plugins.mk

## Release builds and packaging (docs/operations.md).
VERSION ?= 0.1.0
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SHORT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
ARCH    ?= $(shell $(GO) env GOARCH)
NFPM    ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
RELEASE_LDFLAGS := -s -w -buildid= -X main.version=$(VERSION)+git$(SHORT) -X main.commit=$(COMMIT)

.PHONY: release deb install
## release: a reproducible binary (-trimpath, no build id, version stamped).
release:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(RELEASE_LDFLAGS)" -o $(BIN)/staticlet ./cmd/staticlet

## deb: bin/staticlet_<version>_<arch>.deb, reproducible (fixed mtime).
deb: release
	VERSION=$(VERSION)+git$(SHORT) ARCH=$(ARCH) SOURCE_DATE_EPOCH=1767225600 $(NFPM) package -f packaging/nfpm.yaml -p deb -t $(BIN)/

## install: the binary, the systemd unit and a default config (kept if present).
install: release
	install -D -m 0755 $(BIN)/staticlet $(DESTDIR)/usr/bin/staticlet
	install -D -m 0644 packaging/systemd/staticlet.service $(DESTDIR)/lib/systemd/system/staticlet.service
	test -e $(DESTDIR)/etc/staticlet/config.yaml || install -D -m 0600 packaging/config.yaml $(DESTDIR)/etc/staticlet/config.yaml
	if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then systemctl daemon-reload; fi
