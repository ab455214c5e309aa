# Reference plugins, included from the root Makefile:
#   make plugins        builds bin/plugins/<name>.wasm for each plugin
#   make plugins-test   runs each built plugin against its case folders with
#                       `staticlet plugin test`, and the OPA (Rego) policies
#                       of plugins/opa-psp against theirs
# Each plugin is a Go WASI reactor built with the standard toolchain; its
# metadata (printed by running the package natively) is embedded as the
# staticlet.metadata custom section. The go tool's cache makes rebuilding
# unchanged plugins cheap, so the .wasm targets always run.

GO            ?= go
PLUGINS       := deny-privileged allowed-registries require-limits add-labels name-template
PLUGIN_BIN    := bin/plugins
PLUGIN_TOOLS  := $(PLUGIN_BIN)/.tools
PLUGIN_WASMS  := $(PLUGINS:%=$(PLUGIN_BIN)/%.wasm)

.PHONY: plugins plugins-test plugin-tools opa-deps opa-plugins $(PLUGIN_WASMS)

plugins: $(PLUGIN_WASMS)

plugin-tools:
	@mkdir -p $(PLUGIN_TOOLS)
	cd sdk && $(GO) build -o $(abspath $(PLUGIN_TOOLS))/wasm-metadata ./cmd/wasm-metadata

$(PLUGIN_WASMS): $(PLUGIN_BIN)/%.wasm: plugin-tools
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@.tmp ./plugins/$*
	$(GO) run ./plugins/$* metadata > $@.meta.json
	$(PLUGIN_TOOLS)/wasm-metadata -metadata $@.meta.json $@.tmp
	@rm -f $@.meta.json
	@mv $@.tmp $@

plugins-test: plugins
	$(GO) build -o $(PLUGIN_TOOLS)/staticlet ./cmd/staticlet
	@for p in $(PLUGINS); do \
	  echo "== $$p"; \
	  $(PLUGIN_TOOLS)/staticlet plugin test --plugin $(PLUGIN_BIN)/$$p.wasm \
	    --settings plugins/$$p/settings.yaml plugins/$$p/testdata/cases || exit 1; \
	done
	$(MAKE) opa-plugins
	@grep -v '^#' plugins/opa-psp/policies.tsv | while IFS='	' read -r name entrypoint sources; do \
	  echo "== opa-$$name ($$entrypoint)"; \
	  $(PLUGIN_TOOLS)/staticlet plugin test --abi opa --entrypoint $$entrypoint --plugin $(PLUGIN_BIN)/opa-$$name.wasm \
	    --settings plugins/opa-psp/testdata/$$name/settings.yaml plugins/opa-psp/testdata/$$name/cases || exit 1; \
	done

## opa-deps: the opa command (github.com/open-policy-agent/opa from the Go
## module proxy, in the separate module test/opa) built once per machine into
## /var/cache/staticlet (a few minutes cold on 2 cores; a no-op when cached).
opa-deps:
	./hack/opa/build.sh >/dev/null

## opa-plugins: bin/plugins/opa-<name>.wasm for each Gatekeeper-style Rego
## policy in plugins/opa-psp (opa build -t wasm).
opa-plugins: opa-deps
	./plugins/opa-psp/build.sh $$(./hack/opa/build.sh) $(PLUGIN_BIN)
