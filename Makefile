# vmsync: `make run` builds and runs the main job on defaults; `make test`
# builds and passes every test: the suite (`make unit`), again under the
# sanitizers, the mutants, the models and a short fuzz run.  Both install
# missing build tools first.

BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
WERROR   ?= $(if $(CI),ON,OFF)
MUTANTS  := $(shell sed -n 's/^MUTANT.\([a-z_]*\),.*/\1/p' src/base/mutants.def)
CMAKE_FLAGS ?=

.PHONY: all build run test unit sanitize mutants model bench fuzz deps \
	test-deps install soak clean

all: build

# Debian packages the build needs, installed when missing and root:
# "test:package" pairs, the test a shell condition (no colon in it).
NEEDS := "command -v cmake:cmake" "command -v gcc:gcc" "command -v make:make" \
	 "test -f /usr/include/liburing.h:liburing-dev" \
	 "test -f /usr/include/lz4.h:liblz4-dev" \
	 "test -f /usr/include/zstd.h:libzstd-dev" \
	 "test -f /usr/include/hiredis/hiredis.h:libhiredis-dev"
# What the suite runs on top: python3 (the JSON and picture checks of
# cli.sh and report.sh, the man pages' check), redis-server (the
# far-memory tier's tests start their own on unix sockets) and pkg-config
# (the example built against an install).  report.sh brings Chromium
# itself, model/check.sh spin: each skips or fails with a reason where they
# cannot be had.
TEST_NEEDS := "command -v python3:python3" "command -v redis-server:redis-server" \
	      "command -v pkg-config:pkg-config"
# What `make bench` needs on top: a redis-server for the Redis tier's rows
# and redis-benchmark (redis-tools) for their anchors.
BENCH_NEEDS := "command -v redis-server:redis-server" \
	"command -v redis-benchmark:redis-tools"
# What `make fuzz` needs on top: clang and its libFuzzer runtime (without
# it, clang names the file without a directory).
FUZZ_NEEDS := "command -v clang:clang" \
	"clang -print-file-name=libclang_rt.fuzzer-x86_64.a | grep -q /:libclang-rt-14-dev"

# $(call install_missing,PAIRS): apt-get installs the packages whose test
# fails when run as root, else names them and fails.
define install_missing
missing=""; \
for n in $(1); do \
	sh -c "$${n%%:*}" >/dev/null 2>&1 || missing="$$missing $${n##*:}"; \
done; \
if [ -n "$$missing" ]; then \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "missing:$$missing (install them, or run as root)"; exit 1; \
	fi; \
fi
endef

deps:
	@$(call install_missing,$(NEEDS))

test-deps: deps
	@$(call install_missing,$(TEST_NEEDS))

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DVMS_WERROR=$(WERROR) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/vmsync run

# What CI runs (.ci/run).  The fuzzers get TEST_FUZZ_SECONDS each here.
TEST_FUZZ_SECONDS ?= 30
test: unit sanitize mutants model
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

# The suite alone, on the debug build: the quick loop while working.
unit: build test-deps
	cd $(BUILD) && ctest --output-on-failure --timeout 300

# The whole suite again under ASan+UBSan, then under TSan; any report fails.
sanitize: test-deps
	@for san in address thread; do \
		dir=$(BUILD)-$$san; \
		cmake -S . -B $$dir -DVMS_SANITIZE=$$san -DVMS_WERROR=$(WERROR) >/dev/null && \
		cmake --build $$dir -j $(JOBS) >/dev/null || exit 1; \
		echo "== tests under $$san sanitizer"; \
		( cd $$dir && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		  TSAN_OPTIONS=halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1 \
		  ctest --output-on-failure --timeout 300 ) || exit 1; \
	done

# Figures next to their anchors, on a release build (no debug checks, no
# poisoning).  BENCH_ARGS=--quick for a smoke run.
bench: deps
	@$(call install_missing,$(BENCH_NEEDS))
	cmake -S . -B $(BUILD)-release -DVMS_DEBUG=OFF -DCMAKE_BUILD_TYPE=Release \
		-DVMS_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD)-release -j $(JOBS) --target vmsync-bin
	./$(BUILD)-release/vmsync bench $(BENCH_ARGS)

# The stress tests for a long while (not in CI): SOAK_SECONDS in all (an
# hour by default, a quarter for each), then what they verified.
SOAK_SECONDS ?= 3600
soak: build test-deps
	SOAK_SECONDS=$(SOAK_SECONDS) tests/soak.sh $(BUILD)

# The library, its header, vmsync.pc, the man pages and the command, from
# a release build, under $(DESTDIR)$(PREFIX).
PREFIX ?= /usr/local
install: deps
	cmake -S . -B $(BUILD)-release -DVMS_DEBUG=OFF -DCMAKE_BUILD_TYPE=Release \
		-DVMS_WERROR=$(WERROR) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD)-release -j $(JOBS) --target vmsync vmsync-shared vmsync-bin
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)-release

# spin checks the notifier protocol and refutes its broken variants.
model:
	model/check.sh

# libFuzzer on each harness (fuzz/) for FUZZ_SECONDS, one after the other,
# on a scratch copy of its seeds and reproducers (the committed corpus never
# grows by itself).  A crash fails, its input left under $(BUILD)-fuzz/crashes.
FUZZ_SECONDS ?= 60
FUZZ_HARNESSES := api cli

fuzz: deps
	@$(call install_missing,$(FUZZ_NEEDS))
	CC=clang cmake -S . -B $(BUILD)-fuzz -DVMS_FUZZ=ON -DVMS_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target $(addprefix fuzz-,$(FUZZ_HARNESSES))
	@for h in $(FUZZ_HARNESSES); do \
		scratch=$$(mktemp -d) || exit 1; \
		crashes=$(BUILD)-fuzz/crashes/$$h; \
		mkdir -p $$crashes; \
		cp fuzz/corpus/$$h/* fuzz/regress/$$h/* $$scratch/ 2>/dev/null; \
		echo "== fuzz-$$h, $(FUZZ_SECONDS) s"; \
		$(BUILD)-fuzz/fuzz/fuzz-$$h $$scratch -max_total_time=$(FUZZ_SECONDS) \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$$crashes/; \
		rc=$$?; \
		rm -rf $$scratch; \
		if [ $$rc != 0 ]; then \
			echo "make fuzz: fuzz-$$h failed; its input: $$(ls -t $$crashes/* 2>/dev/null | head -1)"; \
			exit 1; \
		fi; \
	done

# Each mutant is a deliberately broken build; the stress test must catch
# every one (tests/mutants.sh says how and how fast).
mutants: deps
	BUILD=$(BUILD) JOBS=$(JOBS) tests/mutants.sh $(MUTANTS)

clean:
	rm -rf $(BUILD) $(BUILD)-*
