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

.PHONY: all build ort run test bench testdata vet fmt clean

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
