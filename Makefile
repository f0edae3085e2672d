# vmsync: `make run` builds and runs the main job on defaults; `make test`
# builds and passes every test.  Both install missing build tools first.

BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
WERROR   ?= $(if $(CI),ON,OFF)
MUTANTS  := no_retry no_flush_wait early_free
CMAKE_FLAGS ?=

.PHONY: all build run test mutants deps clean

all: build

# Debian packages the build needs, installed when missing and root.
deps:
	@missing=""; \
	for t in cmake:cmake gcc:gcc make:make ctest:cmake; do \
		command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; \
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

# Each mutant is a deliberately broken build; the stress test must fail on
# every one of them.  Race windows are widened (a debug-build hook).
mutants: deps
	@ok=1; for m in $(MUTANTS); do \
		dir=$(BUILD)-mutant-$$m; \
		cmake -S . -B $$dir -DVMS_MUTANT=$$m >/dev/null && \
		cmake --build $$dir -j $(JOBS) --target notifier-stress >/dev/null || exit 2; \
		out=$$(timeout 120 $$dir/tests/notifier-stress --seconds 60 \
			--race-ns 200000 2>&1); rc=$$?; \
		if [ $$rc -ne 0 ]; then \
			how=$$(printf '%s\n' "$$out" | grep -m1 -E 'invariant violated|MISMATCH|check failed|assertion'); \
			when=$$(printf '%s\n' "$$out" | grep -m1 'caught after'); \
			echo "mutant $$m: CAUGHT ($${when:-exit $$rc}) by: $$how"; \
		else \
			echo "mutant $$m: NOT CAUGHT"; ok=0; \
		fi; \
	done; \
	if [ $$ok = 1 ]; then echo "mutants: all caught"; else echo "mutants: some survived"; exit 1; fi

clean:
	rm -rf $(BUILD) $(BUILD)-*
