# Thin wrapper: the README's commands. Everything real lives in CMake and scripts/.
#   make demo    set up, build, run the hybrid OCR demo: a gateway on 127.0.0.1 behind the link emulator, the
#                bundled sample read in AUTO mode while the link goes Wi-Fi, LTE, 3G, offline, Wi-Fi (DEMO_ARGS: more
#                cleave-ocr-demo options, e.g. DEMO_ARGS='--phases wifi,offline,wifi --requests-per-phase 2')
#   make test    set up, build, run every test (unit, conformance, models), then again under ASan+UBSan
#   make check   the same tests without the sanitizer pass (faster while developing)
#   make bench   build, then time cleave against ONNX Runtime on the PP-OCR models (bench/README.md)

BUILD      ?= build
ASAN_BUILD ?= build-asan
MODELS     ?= models
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
ifneq ($(CI),)
CMAKE_ARGS += -DCLEAVE_WERROR=ON
endif

.PHONY: all deps models build demo test check test-sanitize bench clean

all: build

deps:
	@scripts/setup-deps.sh

models: deps
	@scripts/fetch-models.sh $(MODELS)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build models
	scripts/demo.sh --bin $(BUILD)/bin --models $(MODELS) -- $(DEMO_ARGS) examples/data/sample.ppm

check: build models
	cd $(BUILD) && CLEAVE_MODELS=$(abspath $(MODELS)) ctest --output-on-failure -j $(JOBS)

test-sanitize: deps models
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCLEAVE_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && CLEAVE_MODELS=$(abspath $(MODELS)) ASAN_OPTIONS=detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS) -L sanitize

test: check test-sanitize

bench: build models
	node bench/run.js --bin $(BUILD)/bin --models $(MODELS) $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
