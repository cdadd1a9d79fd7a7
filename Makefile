# pushprox-c: one Makefile for the proxy, the client, the bench harness and the tests.
#
#   make              release binaries in build/ (pushprox-proxy, pushprox-client, pushprox-bench)
#                     and their man pages
#   make man          the man pages alone: build/man/<binary>.1, each written by the binary's
#                     --help-man from its flag table
#   make test         unit tests (Criterion), the fuzz corpus replayed (fuzz-replay) and
#                     integration tests (real processes on loopback)
#   make asan         the same tests against an ASan+UBSan build (pools off), built with clang
#                     in build/casan when clang is installed, else with $(CC) in build/asan:
#                     clang's UBSan also flags pointer arithmetic on NULL (NULL + 0, which
#                     gcc's lets pass), a class of bug a fuzz run found here
#   make asan-gcc     the same with gcc in build/asan (what `make asan` did before clang)
#   make tsan         threaded tests against a TSan build in build/tsan
#   make fuzz-build   libFuzzer targets (tests/fuzz/fuzz_<name>.c) with clang, ASan and UBSan,
#                     into build/fuzz/fuzz_<name>
#   make fuzz         runs each target FUZZ_SECONDS (default 300) from its seeds
#                     (tests/fuzz/corpus/<name>/, copied to build/fuzz/corpus/<name>/);
#                     prints executions and coverage per target, fails on any crash
#   make fuzz-ci      the same, 10 s per target
#   make fuzz-replay  every saved input of tests/fuzz/corpus/ through its target once, built
#                     without libFuzzer in this build (gcc, clang or the sanitizers')
#   make fuzz-coverage  line coverage of the parsers by that corpus (clang, llvm-cov)
#   make bench        the standard benchmark suite; rewrites bench/RESULTS.md
#   make demo         proxy + client + node_exporter on loopback, one scrape through the proxy
#   make install      PREFIX=/usr/local DESTDIR= (binaries in $(PREFIX)/bin, man pages in
#                     MANDIR=$(PREFIX)/share/man, section 1)
#   make clean        removes build/ and nothing else
#   V=1               shows the commands

CC      ?= cc
BUILD   ?= build
SAN     ?=
PREFIX  ?= /usr/local
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=

LLHTTP_DIR     ?= /usr/share/llhttp
LLHTTP_INC     ?= /usr/share/include/llhttp
VERSION        := $(shell cat VERSION 2>/dev/null || echo 0.1.0)
GIT_COMMIT     := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
COMMIT_H       := $(BUILD)/gen/commit.h

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS = -D_GNU_SOURCE -Icommon -I$(LLHTTP_INC) -DPUSHPROX_VERSION='"$(VERSION)"'
OPT      = -O2 -fno-omit-frame-pointer
LDLIBS   = -luv -lmbedtls -lmbedx509 -lmbedcrypto -lck -lyaml -lcrypt -lpthread -lm

ifeq ($(SAN),asan)
OPT      = -O1 -fno-omit-frame-pointer
CPPFLAGS += -DNO_POOLS
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
# libFuzzer: objects instrumented for coverage (fuzzer-no-link), ASan and UBSan; only the
# fuzz targets themselves link libFuzzer's main (-fsanitize=fuzzer). clang only.
ifeq ($(SAN),fuzz)
OPT      = -O1 -fno-omit-frame-pointer
CPPFLAGS += -DNO_POOLS -DPUSHPROX_FUZZING
SANFLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
endif
ifeq ($(SAN),tsan)
OPT      = -O1 -fno-omit-frame-pointer
CPPFLAGS += -DPUSHPROX_TSAN
SANFLAGS = -fsanitize=thread
endif

CFLAGS  ?=
CFLAGS  += -std=c11 $(WARN) $(OPT) -g -MMD -MP $(SANFLAGS)
LDFLAGS += $(SANFLAGS)

ifeq ($(V),1)
Q =
else
Q = @
endif

COMMON_SRC  := $(wildcard common/*.c)
PROXY_SRC   := $(filter-out proxy/main.c,$(wildcard proxy/*.c))
CLIENT_SRC  := $(filter-out client/main.c,$(wildcard client/*.c))
BENCH_SRC   := $(filter-out bench/main.c,$(wildcard bench/*.c))
LLHTTP_SRC  := $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c $(LLHTTP_DIR)/llhttp.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LLHTTP_OBJ  := $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/obj/llhttp/%.o,$(LLHTTP_SRC))
COMMON_LIB  := $(BUILD)/lib/libcommon.a
PROXY_LIB   := $(BUILD)/lib/libproxy.a
CLIENT_LIB  := $(BUILD)/lib/libclient.a
BENCH_LIB   := $(BUILD)/lib/libbench.a

BINS := $(BUILD)/pushprox-proxy
ifneq ($(wildcard client/main.c),)
BINS += $(BUILD)/pushprox-client
endif
ifneq ($(wildcard bench/main.c),)
BINS += $(BUILD)/pushprox-bench
endif
MANS := $(patsubst $(BUILD)/%,$(BUILD)/man/%.1,$(BINS))

# Unit tests: tests/unit/test_<module>.c, one Criterion binary each. A test named
# test_proxy_* links the proxy's objects, test_client_* the client's, test_bench_* the
# bench's; every test links common/.
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
# Threaded tests: plain C programs (Criterion's runner cannot start under TSan), each
# printing "N passed, N failed"; they link the proxy's objects.
THREAD_SRC  := $(wildcard tests/threads/test_*.c)
THREAD_BINS := $(patsubst tests/threads/%.c,$(BUILD)/tests/threads/%,$(THREAD_SRC))
# Fuzz targets: tests/fuzz/fuzz_<name>.c, built only in the SAN=fuzz build (build/fuzz). As
# for unit tests, fuzz_client_* link the client's objects, fuzz_proxy_* the proxy's, and
# every target common/ (and llhttp).
FUZZ_BUILD   := build/fuzz
FUZZ_SECONDS ?= 300
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(BUILD)/%,$(FUZZ_SRC))
# The same targets without libFuzzer, in every build: tests/fuzz/replay.c's main() gives
# them each saved input of tests/fuzz/corpus/<name>/ once (make fuzz-replay, in make test).
REPLAY_BINS  := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/tests/fuzz/replay_%,$(FUZZ_SRC))

.PHONY: all man test layers unit threads integration asan asan-gcc tsan bench soak demo install \
        clean format fuzz fuzz-build fuzz-bins fuzz-ci fuzz-replay fuzz-coverage
# Objects of tests are kept, so a second `make test` rebuilds nothing.
.SECONDARY:
all: $(BINS) $(MANS)

man: $(MANS)

# Each binary writes its own man page from its flag table; the page is rewritten when the
# binary is (a new commit changes its VERSION section).
$(BUILD)/man/%.1: $(BUILD)/%
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  MAN     $@")
	$(Q)$< --help-man >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c VERSION
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# llhttp is compiled from Debian's sources, with its own (generated) code's warnings off, in
# its strict mode: CRLF after chunks and header lines, token-only header names, no control
# characters in targets (common/http.h says what http.c refuses on top of that).
$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c Makefile
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -I$(LLHTTP_INC) -DLLHTTP_STRICT_MODE=1 -std=c11 $(OPT) -g -w $(SANFLAGS) -c $< -o $@

# The --version line names the commit. commit.h is rewritten only when the commit changes,
# so version.o (and the binaries) are rebuilt only then: `make` twice does nothing.
$(COMMIT_H): FORCE
	@mkdir -p $(dir $@)
	@echo '#define PUSHPROX_COMMIT "$(GIT_COMMIT)"' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/obj/common/version.o: $(COMMIT_H)
$(BUILD)/obj/common/version.o: CPPFLAGS += -I$(BUILD)/gen
.PHONY: FORCE
FORCE:

$(COMMON_LIB): $(call obj,$(COMMON_SRC)) $(LLHTTP_OBJ)
$(PROXY_LIB):  $(call obj,$(PROXY_SRC))
$(CLIENT_LIB): $(call obj,$(CLIENT_SRC))
$(BENCH_LIB):  $(call obj,$(BENCH_SRC))
$(BUILD)/lib/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/pushprox-proxy: $(call obj,proxy/main.c) $(PROXY_LIB) $(COMMON_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/pushprox-client: $(call obj,client/main.c) $(CLIENT_LIB) $(COMMON_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/pushprox-bench: $(call obj,bench/main.c) $(BENCH_LIB) $(COMMON_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# A module's tests include its headers by name.
$(BUILD)/obj/tests/unit/test_proxy_%.o: CPPFLAGS += -Iproxy
$(BUILD)/obj/tests/unit/test_client_%.o: CPPFLAGS += -Iclient
$(BUILD)/obj/tests/unit/test_bench_%.o: CPPFLAGS += -Ibench

test_lib = $(if $(findstring test_proxy_,$(1)),$(PROXY_LIB),$(if $(findstring test_client_,$(1)),$(CLIENT_LIB),$(if $(findstring test_bench_,$(1)),$(BENCH_LIB))))
.SECONDEXPANSION:
$(BUILD)/tests/%: $$(call obj,tests/unit/%.c) $$(call test_lib,%) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

$(BUILD)/obj/tests/fuzz/fuzz_proxy_%.o: CPPFLAGS += -Iproxy
$(BUILD)/obj/tests/fuzz/fuzz_client_%.o: CPPFLAGS += -Iclient
$(BUILD)/obj/tests/fuzz/fuzz_bench_%.o: CPPFLAGS += -Ibench
fuzz_lib = $(if $(findstring fuzz_proxy_,$(1)),$(PROXY_LIB),$\
           $(if $(findstring fuzz_client_,$(1)),$(CLIENT_LIB),$\
           $(if $(findstring fuzz_bench_,$(1)),$(BENCH_LIB))))
$(BUILD)/fuzz_%: $$(call obj,tests/fuzz/fuzz_%.c) $$(call fuzz_lib,fuzz_%) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@
$(BUILD)/tests/fuzz/replay_%: $$(call obj,tests/fuzz/fuzz_%.c tests/fuzz/replay.c) \
                              $$(call fuzz_lib,fuzz_%) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/obj/tests/threads/%.o: CPPFLAGS += -Iproxy
$(BUILD)/tests/threads/%: $(BUILD)/obj/tests/threads/%.o $(PROXY_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

unit: $(UNIT_BINS) threads
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs 2; done

threads: $(THREAD_BINS)
	@set -e; for t in $(THREAD_BINS); do echo "== $$t"; $$t; done

integration: $(BINS)
	$(Q)BUILD=$(BUILD) SAN=$(SAN) tests/integration/run.sh

# Every file includes only files below it (each directory's LAYERS).
layers:
	$(Q)python3 tests/check_layers.py && python3 tests/check_layers.py --self-test

test: layers unit fuzz-replay integration

ASAN_CLANG := $(shell command -v clang 2>/dev/null)
asan:
ifneq ($(ASAN_CLANG),)
	$(Q)$(MAKE) --no-print-directory BUILD=build/casan SAN=asan CC=clang test
else
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SAN=asan test
endif

asan-gcc:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SAN=asan CC=gcc test

# TSan: threaded code only: tests/threads/ (the inbox rings under real threads) and the
# integration scenarios marked "# tsan: yes" (many clients and scrapers against a proxy
# with several workers). Criterion's runner cannot start under TSan (Criterion issue 274);
# the unit tests have no threads of their own. See tests/tsan.supp.
tsan:
	$(Q)TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
	  $(MAKE) --no-print-directory BUILD=build/tsan SAN=tsan threads integration

fuzz-bins: $(FUZZ_BINS)

fuzz-build:
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) SAN=fuzz CC=clang fuzz-bins

# One target after another (the machine's cores are shared); see tests/fuzz/run.sh.
fuzz: fuzz-build
	$(Q)FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

fuzz-ci: fuzz-build
	$(Q)FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=10 tests/fuzz/run.sh

# Line coverage of the parsers by the saved corpus (clang, llvm-cov); see the script.
fuzz-coverage:
	$(Q)tests/fuzz/coverage.sh

# Every saved input of every target, once, through this build (sanitizers included).
fuzz-replay: $(REPLAY_BINS)
	@set -e; for t in $(REPLAY_BINS); do $$t tests/fuzz/corpus/$${t##*/replay_}; done

bench: all
	$(Q)BUILD=$(BUILD) bench/run-suite.sh

# 30 minutes of a steady fleet with clients churning beside it; writes bench/SOAK.md.
soak: all
	$(Q)BUILD=$(BUILD) bench/soak.sh

# A proxy, a client and node_exporter on loopback, and one scrape through the proxy.
demo: all
	$(Q)BUILD=$(BUILD) deploy/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(MANS) $(DESTDIR)$(MANDIR)/man1/

format:
	clang-format -i $(wildcard common/*.[ch] proxy/*.[ch] client/*.[ch] bench/*.[ch] tests/unit/*.c \
	                            tests/threads/*.c tests/fuzz/*.[ch])

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
