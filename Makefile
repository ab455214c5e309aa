# staticlet's build. `make test` is what CI runs (.ci/run); it must pass on a
# fresh Debian machine as root from a clean clone.
GO      ?= go
BIN     := bin
PKGS    := ./...
FUZZTIME ?= 10s
BENCHTIME ?= 1s

.PHONY: all build test test-deps mirror-deps kubelet-deps kubectl-deps sdk-test sdk-as-test as-deps vet fmt-check check-pure unit fuzz bench run clean-run clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/staticlet ./cmd/staticlet-logger

## test: everything CI checks: formatting, vet, the pure-core rule, unit and
## integration tests (real containerd, real .wasm plugins), the SDK module,
## the reference plugins against their cases, and a short fuzz pass.
test: test-deps mirror-deps kubelet-deps kubectl-deps opa-deps fmt-check vet check-pure unit sdk-test plugins-test fuzz

## test-deps: Debian packages the tests build with (C plugins need clang and
## wasi-libc; the hostile plugin suite assembles .wat with wabt); containerd, runc and busybox-static are installed by
## hack/containerd/containerd.sh when the tests start it. The CNI tests use
## Debian's containernetworking-plugins (bridge, host-local, portmap) and
## iptables (portmap's; Debian's nft backend works), and ip from iproute2.
TEST_DEBS := clang lld wasi-libc libclang-rt-14-dev-wasm32 wabt containernetworking-plugins iptables iproute2
test-deps:
	@missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }; \
	fi

## mirror-deps: what the mirror-pod integration tests (host/mirror, host/mirror/seede2e) need: Debian's
## etcd-server, and kube-apiserver v1.37.2 built from the Go module proxy into
## /var/cache/staticlet (once per machine: about 11 minutes cold on 2 cores; a no-op when cached).
## hack/kube-apiserver/cluster.sh starts and stops the control plane per test binary.
mirror-deps:
	@command -v etcd >/dev/null || { echo "installing etcd-server"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >/dev/null; }; }
	./hack/kube-apiserver/build.sh >/dev/null

## kubelet-deps: what the next-to-a-kubelet test (host/runtime/front/kubelete2e) needs besides mirror-deps:
## the kubelet v1.37.2 built from the Go module proxy into /var/cache/staticlet (once per machine: about
## 8 minutes cold on 2 cores; a no-op when cached). hack/kubelet/node.sh runs it on a private CRI containerd.
kubelet-deps:
	./hack/kubelet/build.sh >/dev/null

## kubectl-deps: the tests that act as a user (host/kubeletapi/kubectle2e, host/mirror/seede2e,
## host/runtime/front/kubelete2e) run kubectl. On a machine without one on its PATH, kubectl v1.37.2 is built
## from the Go module proxy into /var/cache/staticlet (once per machine) and linked as /usr/local/bin/kubectl;
## a kubectl already there (v1.32 on these machines) is used as it is.
kubectl-deps:
	@command -v kubectl >/dev/null || { echo "building kubectl"; ln -sf "$$(./hack/kubectl/build.sh)" /usr/local/bin/kubectl; }

## sdk-test: the plugin SDK is its own module (standard library only), and
## so is the example policy project; then the AssemblyScript SDK.
sdk-test:
	cd sdk && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd examples/policy-project && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(MAKE) -C examples/policy-project cases
	$(MAKE) sdk-as-test

## sdk-as-test: the AssemblyScript SDK (sdk/assemblyscript) with the pinned
## assemblyscript compiler from npm (npm ci from package-lock.json, cached in
## $(NPM_CACHE) so a second run needs no network): its own tests (node --test),
## then the reference plugin plugins/host-namespaces-as and the template built
## and run on the real host against their case folders.
NPM_CACHE ?= /var/cache/staticlet/npm
NPM_CI    := npm ci --cache $(NPM_CACHE) --prefer-offline --no-audit --no-fund --loglevel=error
AS_DIRS   := sdk/assemblyscript plugins/host-namespaces-as sdk/assemblyscript/template
as-deps:
	@command -v npm >/dev/null || { echo "installing nodejs npm"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }; }
	@for d in $(AS_DIRS); do (cd $$d && $(NPM_CI)) || exit 1; done

sdk-as-test: as-deps
	cd sdk/assemblyscript && node --test test/
	@mkdir -p $(BIN)/.tools
	$(GO) build -o $(BIN)/.tools/staticlet ./cmd/staticlet
	cd plugins/host-namespaces-as && npm run --silent build
	$(BIN)/.tools/staticlet plugin test --plugin plugins/host-namespaces-as/build/host-namespaces-as.wasm \
	  --settings plugins/host-namespaces-as/settings.yaml plugins/host-namespaces-as/testdata/cases
	cd sdk/assemblyscript/template && npm run --silent build
	$(BIN)/.tools/staticlet plugin test --plugin sdk/assemblyscript/template/build/plugin.wasm \
	  --settings sdk/assemblyscript/template/settings.yaml sdk/assemblyscript/template/testdata/cases

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

check-pure:
	./hack/check-pure.sh

# STATICLET_REQUIRE_INTEGRATION=1: a containerd that cannot be had fails the
# integration tests instead of skipping them.
unit:
	STATICLET_REQUIRE_INTEGRATION=1 $(GO) test -count=1 -timeout 20m $(PKGS)

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./host/manifest
	$(GO) test -run '^$$' -fuzz '^FuzzInstrument$$' -fuzztime $(FUZZTIME) ./host/plugin

## bench: benchmarks whose figures go into docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./host/manifest ./host/validation ./host/admission ./host/desired ./host/source/file ./host/agent
	STATICLET_REQUIRE_INTEGRATION=1 $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./host/runtime/containerd
	STATICLET_REQUIRE_INTEGRATION=1 $(GO) test -run '^$$' -bench Mirror -benchtime 20x -timeout 20m ./host/mirror
	STATICLET_REQUIRE_INTEGRATION=1 $(GO) test -run '^$$' -bench KubeletFront -benchtime 5x -timeout 20m ./host/runtime/front/kubelete2e
	$(GO) test -run '^$$' -bench 'DeadlineOverheadInterleaved|DeadlineEnforcement' -benchtime 3000x ./host/plugin
	$(GO) test -run '^$$' -bench 'HostileStop' -benchtime 20x ./host/plugin
	$(GO) test -run '^$$' -bench 'ColdCompile|CachedLoad' -benchtime 3x ./host/plugin
	$(GO) test -run '^$$' -bench ShimLoggerRotation -benchtime 3x ./host/podlogs
	STATICLET_REQUIRE_INTEGRATION=1 $(GO) test -run '^$$' -bench KubectlVsKubelet -benchtime 20x -timeout 20m ./host/kubeletapi/kubectle2e

## run: the README's main command: a private containerd under $(RUN_STATE)
## (or the one at $$CONTAINERD_ADDRESS), the busybox image imported as
## staticlet.local/busybox:latest, then `staticlet run` in the foreground on
## a copy of examples/manifests in $(RUN_STATE)/manifests. Ctrl-C stops the
## agent; pods keep running. `make clean-run` stops everything.
RUN_STATE ?= $(CURDIR)/.state
RUN_NS    ?= staticlet
run: build
	@set -e; state="$(RUN_STATE)"; mkdir -p "$$state"; \
	if [ -n "$$CONTAINERD_ADDRESS" ]; then addr="$$CONTAINERD_ADDRESS"; snap="$${CONTAINERD_SNAPSHOTTER:-overlayfs}"; \
	  if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then apt-get install -y -qq busybox-static >/dev/null; fi; \
	else \
	  bash hack/containerd/containerd.sh start "$$state/containerd"; \
	  eval "$$(bash hack/containerd/containerd.sh env "$$state/containerd")"; \
	  addr="$$CONTAINERD_ADDRESS"; snap="$$CONTAINERD_SNAPSHOTTER"; \
	fi; \
	$(GO) run ./hack/mkimage -name staticlet.local/busybox:latest -o "$$state/busybox.tar"; \
	ctr --address "$$addr" namespaces create $(RUN_NS) 2>/dev/null || true; \
	ctr --address "$$addr" namespaces label $(RUN_NS) containerd.io/defaults/snapshotter="$$snap"; \
	ctr --address "$$addr" -n $(RUN_NS) images import --snapshotter "$$snap" "$$state/busybox.tar" >/dev/null; \
	mkdir -p "$$state/manifests"; cp -n examples/manifests/*.yaml "$$state/manifests/"; \
	echo "staticlet: manifests in $$state/manifests; in another shell try:"; \
	echo "  cp examples/pods/counter.yaml $$state/manifests/ && ./$(BIN)/staticlet status"; \
	echo "  ./$(BIN)/staticlet logs counter -f --pod-log-dir $$state/pods"; \
	exec ./$(BIN)/staticlet run --config examples/staticlet.yaml --pod-manifest-path "$$state/manifests" \
	  --containerd-address "$$addr" --containerd-namespace $(RUN_NS) --state-dir "$$state/staticlet" --pod-log-dir "$$state/pods"

## clean-run: stop what `make run` started (its containerd, pods, mounts) and
## delete $(RUN_STATE).
clean-run:
	-bash hack/containerd/containerd.sh purge "$(RUN_STATE)/containerd"
	-awk '{ print $$5 }' /proc/self/mountinfo | grep '^$(RUN_STATE)/' | sort -r | xargs -r -n1 umount -l
	rm -rf --one-file-system "$(RUN_STATE)"

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
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(RELEASE_LDFLAGS)" -o $(BIN)/ ./cmd/staticlet ./cmd/staticlet-logger

## deb: bin/staticlet_<version>_<arch>.deb, reproducible (fixed mtime).
deb: release
	VERSION=$(VERSION)+git$(SHORT) ARCH=$(ARCH) SOURCE_DATE_EPOCH=1767225600 $(NFPM) package -f packaging/nfpm.yaml -p deb -t $(BIN)/

## install: the binary, the systemd unit and a default config (kept if present).
install: release
	install -D -m 0755 $(BIN)/staticlet $(DESTDIR)/usr/bin/staticlet
	install -D -m 0755 $(BIN)/staticlet-logger $(DESTDIR)/usr/bin/staticlet-logger
	install -D -m 0644 packaging/systemd/staticlet.service $(DESTDIR)/lib/systemd/system/staticlet.service
	test -e $(DESTDIR)/etc/staticlet/config.yaml || install -D -m 0600 packaging/config.yaml $(DESTDIR)/etc/staticlet/config.yaml
	if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then systemctl daemon-reload; fi
