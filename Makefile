# Talon's build. `make run` runs the demo, `make test` the tests; both fetch what they need.
SHELL := /bin/bash
ORT_VERSION := 1.24.1
ORT_SHA256  := 53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
ORT_DIR     := .cache/ort/$(ORT_VERSION)
ORT_LIB     := $(ORT_DIR)/libonnxruntime.so
GO          ?= go
GOFLAGS_TEST ?= -count=1 -timeout 20m
export CGO_ENABLED := 1
export TALON_ORT_LIB ?= $(abspath $(ORT_LIB))
# Interop tools, built with `go install` into versioned directories under .cache/tools and
# linked from .cache/tools/bin (where registry/interop looks first).
TOOLS_DIR      := .cache/tools
TOOLS_BIN      := $(TOOLS_DIR)/bin
COSIGN_VERSION := v2.6.5
ORAS_VERSION   := v1.3.6
CRANE_VERSION  := $(shell awk '$$1 == "github.com/google/go-containerregistry" {print $$2}' go.mod)

.PHONY: all build ort run test bench testdata vet fmt clean tools interop

all: build

## ort: fetch libonnxruntime.so from the onnxruntime-node npm tarball (no install scripts run) and check its sha256.
ort: $(ORT_LIB)

$(ORT_LIB):
	@mkdir -p $(ORT_DIR)/pack
	cd $(ORT_DIR)/pack && npm pack --ignore-scripts --silent onnxruntime-node@$(ORT_VERSION) >/dev/null
	tar -xzf $(ORT_DIR)/pack/onnxruntime-node-$(ORT_VERSION).tgz -C $(ORT_DIR)/pack package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	echo "$(ORT_SHA256)  $(ORT_DIR)/pack/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | sha256sum -c --quiet -
	mv $(ORT_DIR)/pack/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 $@.tmp && mv $@.tmp $@
	rm -rf $(ORT_DIR)/pack

## build: build bin/talon.
build:
	$(GO) build -o bin/talon ./cmd/talon

## run: the demo: a local config repo, an in-process registry, generated models, two orgs.
run: ort build
	./bin/talon demo --ort-lib $(abspath $(ORT_LIB))

## test: every test, against real git, a real registry and the real ONNX Runtime.
test: ort
	$(GO) vet ./...
	$(GO) test $(GOFLAGS_TEST) ./...

## tools: install cosign, crane and oras for `make interop` (once; cached in .cache/tools).
tools: $(TOOLS_BIN)/cosign $(TOOLS_BIN)/crane $(TOOLS_BIN)/oras

# go_install_tool,NAME,PACKAGE,VERSION: rules that `go install` PACKAGE@VERSION into
# .cache/tools/NAME@VERSION/ and link it as .cache/tools/bin/NAME (a new VERSION relinks).
define go_install_tool
$(TOOLS_DIR)/$(1)@$(3)/$(1):
	GOBIN=$$(abspath $(TOOLS_DIR)/$(1)@$(3)) $$(GO) install $(2)@$(3)
$(TOOLS_BIN)/$(1): $(TOOLS_DIR)/$(1)@$(3)/$(1)
	@mkdir -p $(TOOLS_BIN)
	ln -sfn ../$(1)@$(3)/$(1) $$@
endef
$(eval $(call go_install_tool,cosign,github.com/sigstore/cosign/v2/cmd/cosign,$(COSIGN_VERSION)))
$(eval $(call go_install_tool,crane,github.com/google/go-containerregistry/cmd/crane,$(CRANE_VERSION)))
$(eval $(call go_install_tool,oras,oras.land/oras/cmd/oras,$(ORAS_VERSION)))

## interop: Talon against the real tools: Debian's docker-registry, skopeo (apt; .ci/run installs
## them), cosign, crane, oras (`make tools`).
interop: tools
	@for t in docker-registry skopeo; do command -v $$t >/dev/null || { echo "interop needs $$t: apt-get install docker-registry skopeo" >&2; exit 1; }; done
	PATH="$(abspath $(TOOLS_BIN)):$$PATH" $(GO) test $(GOFLAGS_TEST) -tags interop ./registry/interop/...

## bench: the benchmarks; figures are ratios against a baseline measured in the same run.
bench: ort
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

## testdata: regenerate the committed test models and datasets.
testdata:
	$(GO) run ./testdata/pdm

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

clean:
	rm -rf bin
