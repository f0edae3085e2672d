# vmsync: `make run` builds and runs the main job on defaults; `make test`
# builds and passes every test.  Both install missing build tools first.

BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
WERROR   ?= $(if $(CI),ON,OFF)
MUTANTS  := no_retry no_flush_wait early_free no_secondary_dirty no_swapcache \
	    swallow_read_error swallow_write_error ignore_short_io
CMAKE_FLAGS ?=

.PHONY: all build run test sanitize mutants model check bench deps clean

all: build

# Debian packages the build needs, installed when missing and root:
# "test:package" pairs, the test a shell condition.
NEEDS := "command -v cmake:cmake" "command -v gcc:gcc" "command -v make:make" \
	 "test -f /usr/include/liburing.h:liburing-dev"

deps:
	@missing=""; \
	for n in $(NEEDS); do \
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

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DVMS_WERROR=$(WERROR) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/vmsync run

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 300

# The whole suite again under ASan+UBSan, then under TSan; any report fails.
sanitize: deps
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
	cmake -S . -B $(BUILD)-release -DVMS_DEBUG=OFF -DCMAKE_BUILD_TYPE=Release \
		-DVMS_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD)-release -j $(JOBS) --target vmsync-bin
	./$(BUILD)-release/vmsync bench $(BENCH_ARGS)

# spin checks the notifier protocol and refutes its broken variants.
model:
	model/check.sh

# Everything CI runs.
check: test sanitize mutants model

# Each mutant is a deliberately broken build; the stress test must catch
# every one (tests/mutants.sh says how and how fast).
mutants: deps
	BUILD=$(BUILD) JOBS=$(JOBS) tests/mutants.sh $(MUTANTS)

clean:
	rm -rf $(BUILD) $(BUILD)-*
