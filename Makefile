# detrun — top-level driver. CMake is the primary build (into build/); Bazel
# is the secondary one (`make bazel-test`). Everything this Makefile needs on
# a fresh Debian 12 machine is installed by `make deps`, which the test, demo
# and bench targets run first.
#
#   make              build build/detrun (same as `make build`)
#   make test         deps, build, every ctest test, then the integration
#                     tests again as an unprivileged user
#   make test-asan    the ctest tests under ASan + UBSan (build-asan/)
#   make soak         one detrun run of mixed workloads for SOAK_SECONDS
#                     (600), its memory, descriptors and processes checked
#   make bazel-test   `bazel test //...` (offline, Debian's Bazel 4)
#   make demo | bench | deps | clean

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := all
# Targets run one after another, in the order their prerequisites are listed
# (deps before build before the tests); cmake and ctest parallelise inside.
.NOTPARALLEL:
# No implicit rules: every target here is spelled out. (Not via MAKEFLAGS,
# which would reach the Makefiles CMake generates.)
.SUFFIXES:

.PHONY: all deps build test demo bench soak test-asan bazel-test clean

# Debian 12 packages the builds, tests, demo and benchmarks need
# (python3-setuptools and python3-wheel: the repro test builds an sdist and
# a wheel; faketime: a peer detrun is measured against in `make bench`;
# clang and libclang-rt-14-dev: the libFuzzer targets, cmake/libfuzzer.cmake;
# libpython3.11-testsuite: CPython's own test modules, run under detrun by
# tests/integration/stress_test.cc).
DEBIAN_PACKAGES := build-essential cmake pkg-config libabsl-dev libsodium-dev \
  libxxhash-dev libre2-dev libgtest-dev libgmock-dev libbenchmark-dev bazel-bootstrap \
  busybox-static python3 perl strace util-linux golang-go faketime \
  python3-setuptools python3-wheel clang libclang-rt-14-dev \
  libpython3.11-testsuite

BUILD_DIR := build
SOAK_SECONDS := 600
ASAN_BUILD_DIR := build-asan
BUILD_TYPE := RelWithDebInfo
JOBS := $(shell nproc)
CTEST_FLAGS := --output-on-failure -j2 --no-tests=error

# apt-get runs through sudo unless we are root already.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
  -o Dpkg::Use-Pty=0 -o APT::Color=0

# Bazel: all its settings (output tree and disk cache under /tmp, offline,
# non-interactive) are in .bazelrc, so `bazel` by hand behaves the same.
BAZEL := bazel
BAZEL_SYMLINKS := bazel-bin bazel-out bazel-testlogs bazel-$(notdir $(CURDIR))

# `configure DIR FLAGS...`: run CMake's configure step into DIR unless DIR
# already holds a generated build system (cmake --build re-configures by
# itself when a CMakeLists.txt changes).
define configure
	if [[ -f $(1)/CMakeCache.txt && ( -f $(1)/Makefile || -f $(1)/build.ninja ) ]]; then \
	  echo "make: $(1)/ is already configured"; \
	else \
	  cmake -S . -B $(1) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(2); \
	fi
endef

# `run-script PATH`: run a script that another part of the project provides,
# failing with a clear message if it is not there yet.
define run-script
	@if [[ ! -f $(1) ]]; then echo "make: $(1) does not exist (yet); nothing to run" >&2; exit 1; fi
	bash $(1)
endef

# all: the default goal; the same as `build`.
all: build

# deps: install whichever of DEBIAN_PACKAGES are missing (checked one by one
# with dpkg-query), through sudo when not root. `apt-get update` runs first,
# and only when something has to be installed. Does nothing on a machine that
# has them all.
deps:
	@missing=(); \
	for pkg in $(DEBIAN_PACKAGES); do \
	  if ! dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed'; then \
	    missing+=("$$pkg"); \
	  fi; \
	done; \
	if (( $${#missing[@]} == 0 )); then \
	  echo "deps: all $(words $(DEBIAN_PACKAGES)) Debian packages are installed"; \
	  exit 0; \
	fi; \
	echo "deps: installing $${missing[*]}"; \
	if [[ -n "$(SUDO)" ]] && ! command -v sudo >/dev/null; then \
	  echo "deps: not root and sudo is not installed: install as root: apt-get install $${missing[*]}" >&2; \
	  exit 1; \
	fi; \
	$(APT_GET) update >/dev/null; \
	$(APT_GET) install --no-install-recommends "$${missing[@]}" >/dev/null; \
	echo "deps: installed $${missing[*]}"

# build: configure build/ once (RelWithDebInfo), then build everything in it;
# produces build/detrun.
build:
	@$(call configure,$(BUILD_DIR),)
	cmake --build $(BUILD_DIR) -j$(JOBS)
	@test -x $(BUILD_DIR)/detrun || { echo "make: the build did not produce $(BUILD_DIR)/detrun" >&2; exit 1; }

# test: deps, build, every ctest test (unit + integration), then the
# integration tests once more as an unprivileged user when run as root
# (tests/run_unprivileged.sh; it prints SKIPPED when that is not possible).
test: deps build
	ctest --test-dir $(BUILD_DIR) $(CTEST_FLAGS)
	bash tests/run_unprivileged.sh

# demo: deps, build, then the walk-through in examples/demo.sh.
demo: deps build
	$(call run-script,examples/demo.sh)

# bench: deps, build, then the benchmarks in bench/run.sh.
bench: deps build
	$(call run-script,bench/run.sh)

# soak: deps, build, then tests/soak.sh for SOAK_SECONDS (issue 8's
# 10-minute soak; ctest runs a 30 s one).
soak: deps build
	bash tests/soak.sh --seconds $(SOAK_SECONDS) --detrun $(BUILD_DIR)/detrun --probes $(BUILD_DIR)/tests/probes

# test-asan: deps, then configure build-asan/ with DETRUN_SANITIZE=ON
# (AddressSanitizer + UndefinedBehaviorSanitizer), build, and run ctest there:
# the unit tests with LeakSanitizer on, everything else with it off, since
# LeakSanitizer needs ptrace, which detrun's filter denies to the sanitized
# programs the integration tests run under it (a detrun --native inside
# detrun, for one). The probes themselves are built without sanitizers
# (tests/CMakeLists.txt). The libFuzzer targets are not in that tree
# (cmake/libfuzzer.cmake): `make test` builds and runs them, with ASan +
# UBSan already.
ASAN_ENV := UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
test-asan: deps
	@$(call configure,$(ASAN_BUILD_DIR),-DDETRUN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Sanitize)
	cmake --build $(ASAN_BUILD_DIR) -j$(JOBS)
	$(ASAN_ENV) ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(ASAN_BUILD_DIR) $(CTEST_FLAGS) -L unit
	$(ASAN_ENV) ASAN_OPTIONS=detect_leaks=0 ctest --test-dir $(ASAN_BUILD_DIR) $(CTEST_FLAGS) -LE unit

# bazel-test: deps, then `bazel test //...` with the repository's .bazelrc
# (offline: see WORKSPACE). Stale bazel-* symlinks (into an output tree that
# is gone or another one) would be walked by //..., so they are removed
# first; Bazel makes them anew. No stdin, so nothing can prompt. Under CI the
# Bazel server is shut down afterwards so that no daemon outlives the run.
# BAZEL_TEST_FLAGS go to `bazel test` (CI narrows it: .ci/run).
BAZEL_TEST_FLAGS :=
bazel-test: deps
	rm -f $(BAZEL_SYMLINKS)
	@status=0; \
	$(BAZEL) test $(BAZEL_TEST_FLAGS) //... </dev/null || status=$$?; \
	if [[ -n "$${CI:-}" ]]; then $(BAZEL) shutdown </dev/null || true; fi; \
	exit $$status

# clean: remove both CMake build trees and Bazel's output for this workspace
# (and its bazel-* symlinks). The shared disk cache under /tmp stays.
clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)
	@if command -v bazel >/dev/null; then \
	  echo "$(BAZEL) clean --expunge"; $(BAZEL) clean --expunge </dev/null; \
	fi
	rm -f $(BAZEL_SYMLINKS)
