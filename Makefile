# Tributary - top-level driver. Two commands set everything up on a fresh Debian 12
# machine (as root): `make demo` and `make test`. See README.md.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
# make fuzz: seconds per target, and the targets (fuzz/fuzz_*.c; FUZZ_TARGETS=fuzz_sql runs one)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(basename $(notdir $(wildcard fuzz/fuzz_*.c)))
DEB_PKGS := build-essential cmake pkg-config clang libclang-rt-14-dev \
  libpg-query-dev libprotobuf-c-dev librdkafka-dev libzstd-dev libsnappy-dev zlib1g-dev \
  liblz4-dev libbrotli-dev libpq-dev libmicrohttpd-dev libcmocka-dev libedit-dev \
  libjansson-dev kcat
# serve (issue 11): SCRAM (libcrypto); the real clients, server and browser of its tests
DEB_PKGS += libssl-dev postgresql-15 libpostgresql-jdbc-java chromium curl
# the differential test against PostgreSQL (issue 13): its client
DEB_PKGS += python3-psycopg2
# Node.js and npm (the DuckDB oracle of some tests and of the benchmark) count as present
# when the commands are: a machine may have them from NodeSource, whose nodejs package
# bundles npm and conflicts with Debian's npm package.
NODE_PKGS := $(if $(shell command -v node),,nodejs) $(if $(shell command -v npm),,npm)

.PHONY: all deps build test demo bench fuzz clean format

all: build

# Install the Debian packages that are missing (needs root; a no-op when all are there).
deps:
	@missing=""; for p in $(DEB_PKGS) $(NODE_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: run as root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTB_FAULTS=OFF >/dev/null
	@cmake --build build -j$(JOBS) --target tributary

# Every test, built with AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer).
test: deps
	@cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DTB_SANITIZE=ON -DTB_FAULTS=ON >/dev/null
	@cmake --build build/asan -j$(JOBS)
	@cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

demo: build
	@bash examples/sales/demo.sh

bench: deps
	@cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DTB_FAULTS=OFF >/dev/null
	@cmake --build build/release -j$(JOBS) --target tributary
	@bash bench/run.sh

fuzz: deps
	@cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_FUZZ=ON >/dev/null
	@cmake --build build/fuzz -j$(JOBS) --target $(FUZZ_TARGETS)
	@bash fuzz/run.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
