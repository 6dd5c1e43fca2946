# pdlua — build, test, benchmark and install.
#
#   make              build/pdlua and build/pdlua-emu
#   make deps         install the Debian packages needed (as root), or print
#                     the apt-get line to run
#   make test         build with -Werror, run the C unit tests (spec/c), then
#                     every spec (busted)
#   make fuzz         the JSON parser under libFuzzer for FUZZ_SECONDS (60)
#   make test-sanitize  the suite under ASan+UBSan, then under TSan
#   make bench        the benchmarks in bench/ (figures in BENCHMARKS.md)
#   make chaos        the chaos suite: fault storm, kill -9, two runs at once
#                     (CHAOS_* variables; not part of make test)
#   make install PREFIX=/usr/local   /   make uninstall
#
# Sources are found by directory: src/core is linked into both programs,
# src/engine, src/gcp and src/host make pdlua, src/emu makes pdlua-emu.

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
VARIANT_CFLAGS ?= -O2 -g
SAN     ?=

DEB_PACKAGES := lua5.4 liblua5.4-dev lua-busted libcurl4-openssl-dev \
                libreadline-dev libmicrohttpd-dev libssl-dev openssl curl \
                pkg-config gcc make tmux

PKGS    := lua5.4 libcurl libmicrohttpd libcrypto
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
           -Iinclude $(VARIANT_CFLAGS) $(SAN) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP
LDFLAGS += $(SAN)
LIBS_CORE := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4) -lpthread -lm
LIBS_PDLUA := $(LIBS_CORE) -lcurl -lreadline -lcrypto
LIBS_EMU   := $(LIBS_CORE) -lmicrohttpd -lcrypto

CORE_SRC  := $(wildcard src/core/*.c)
PDLUA_SRC := $(CORE_SRC) $(wildcard src/engine/*.c src/gcp/*.c src/host/*.c)
EMU_SRC   := $(CORE_SRC) $(wildcard src/emu/*.c)
PDLUA_OBJ := $(PDLUA_SRC:%.c=$(BUILD)/obj/%.o)
EMU_OBJ   := $(EMU_SRC:%.c=$(BUILD)/obj/%.o)

BUSTED := /usr/bin/busted
SPECS  ?= spec

.PHONY: all deps check-deps test test-sanitize test-asan test-tsan bench chaos \
        install uninstall clean ctest fuzz fuzz-deps

all: $(BUILD)/pdlua $(BUILD)/pdlua-emu

$(BUILD)/pdlua: $(PDLUA_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_PDLUA)

$(BUILD)/pdlua-emu: $(EMU_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_EMU)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

-include $(PDLUA_OBJ:.o=.d) $(EMU_OBJ:.o=.d)

# C unit tests, spec/c/NAME_test.c: each links what it uses from an archive
# of pdlua's objects and prints "c/NAME: N passed, M failed".
CTESTS := $(patsubst spec/c/%_test.c,$(BUILD)/ctest/%,$(wildcard spec/c/*_test.c))
$(BUILD)/libpdlua.a: $(filter-out %/host/main.o,$(PDLUA_OBJ))
	rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/ctest/%: spec/c/%_test.c $(BUILD)/libpdlua.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libpdlua.a $(LIBS_PDLUA)
-include $(CTESTS:=.d)
ctest: $(CTESTS)
	@fail=0; for t in $(CTESTS); do $$t || fail=1; done; exit $$fail

# Installs what is missing when run as root; otherwise says what to run.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; }; \
	else \
	  echo "pdlua needs these Debian packages; run:"; \
	  echo "  sudo apt-get install -y$$missing"; exit 1; \
	fi

# The specs run inside pdlua itself (busted is a Lua program), so the
# engine, the client and the emulator they start are the builds under test.
test: deps
	$(MAKE) all ctest
	PDLUA_BIN=$(abspath $(BUILD))/pdlua PDLUA_EMU=$(abspath $(BUILD))/pdlua-emu \
	  $(BUILD)/pdlua $(BUSTED) $(BUSTED_ARGS) $(SPECS)

test-asan: deps
	$(MAKE) BUILD=build/asan VARIANT_CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all ctest
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:suppressions=$(abspath .ci/lsan.supp) \
	LSAN_OPTIONS=suppressions=$(abspath .ci/lsan.supp) \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	PDLUA_BIN=$(abspath build/asan)/pdlua PDLUA_EMU=$(abspath build/asan)/pdlua-emu \
	PDLUA_SANITIZE=asan build/asan/pdlua $(BUSTED) $(BUSTED_ARGS) $(SPECS)

test-tsan: deps
	$(MAKE) BUILD=build/tsan VARIANT_CFLAGS="-O1 -g" SAN="-fsanitize=thread" all ctest
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(abspath .ci/tsan.supp)" \
	PDLUA_BIN=$(abspath build/tsan)/pdlua PDLUA_EMU=$(abspath build/tsan)/pdlua-emu \
	PDLUA_SANITIZE=tsan build/tsan/pdlua $(BUSTED) $(BUSTED_ARGS) $(SPECS)

test-sanitize: test-asan test-tsan

# The JSON parser and its Lua conversion under libFuzzer: every input that
# parses must encode and parse back to the same value (spec/fuzz/). Clang
# is needed only here, so its packages are installed only here.
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_SECONDS  ?= 60
fuzz-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(FUZZ_PACKAGES)"
build/fuzz/json_fuzz: spec/fuzz/json_fuzz.c src/core/json.c src/core/json_lua.c src/core/heap.c \
                      src/core/error.c spec/fuzz/json_roundtrip.h include/pdlua/json.h \
                      include/pdlua/json_lua.h | fuzz-deps
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -g -O1 \
	  $(shell pkg-config --cflags lua5.4) -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -o $@ $(filter %.c,$^) $(LIBS_CORE)
fuzz: build/fuzz/json_fuzz
	@mkdir -p build/fuzz/corpus
	build/fuzz/json_fuzz -max_total_time=$(FUZZ_SECONDS) -dict=spec/fuzz/json.dict \
	  -artifact_prefix=build/fuzz/ build/fuzz/corpus spec/fuzz/json_corpus

# The README's first command: pdlua-emu with the demo fleet, a real
# `pdlua migrate.lua` against it with live progress, its report, a check of
# the fleet afterwards (examples/demo.lua). Like `test`, it installs what
# is missing first (a sub-make, so that the build sees what was installed).
.PHONY: demo
demo: deps
	$(MAKE) all
	$(BUILD)/pdlua examples/demo.lua

bench: all
	@for b in bench/*.lua; do echo "== $$b"; $(BUILD)/pdlua $$b || exit 1; done

# Against fresh emulators: a fault storm on a generated 1,000-disk fleet,
# kill -9 at seeded points with --resume, two runs at once over overlapping
# selections (spec/support/chaos.lua; a short version runs in make test).
# Parameters: CHAOS_SEED, CHAOS_SCENARIOS, CHAOS_STORM_DISKS, ... (see the
# module's header), or CHAOS_ARGS="--kill-trials 3 ...".
chaos: all
	PDLUA_BIN=$(abspath $(BUILD))/pdlua PDLUA_EMU=$(abspath $(BUILD))/pdlua-emu \
	  $(BUILD)/pdlua spec/chaos.lua $(CHAOS_ARGS)

DATADIR := $(DESTDIR)$(PREFIX)/share/pdlua
MANDIR  := $(DESTDIR)$(PREFIX)/share/man/man1
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DATADIR) $(MANDIR)
	install -m 755 $(BUILD)/pdlua $(BUILD)/pdlua-emu $(DESTDIR)$(PREFIX)/bin/
	rm -rf $(DATADIR)/lua $(DATADIR)/scripts $(DATADIR)/examples
	cp -R lua scripts examples $(DATADIR)/
	install -m 644 docs/pdlua.1 $(MANDIR)/pdlua.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pdlua $(DESTDIR)$(PREFIX)/bin/pdlua-emu
	rm -f $(MANDIR)/pdlua.1
	rm -rf $(DATADIR)

clean:
	rm -rf build
