# ferry — see README.md.  `make` builds, `make check` tests, `make demo` shows.
BUILD ?= build
CC ?= cc
SAN ?=

PKGS := liburing libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libxxhash 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
PKG_STATIC_LIBS := $(shell pkg-config --libs --static $(PKGS) 2>/dev/null)
# libvirt and libxml2 (--domain, ferry setup) go into ferry alone: ferryd
# stays one static file without them, and ferry.static is built without
# (Debian ships no static libvirt), its domain.c saying so (FERRY_NO_LIBVIRT).
VIRT_PKGS := libvirt libxml-2.0
VIRT_CFLAGS := $(shell pkg-config --cflags $(VIRT_PKGS) 2>/dev/null)
# ferry opens both (dlopen) when a domain is named: linked, they cost every
# start ~60 ms (host-agent/domain.c).
VIRT_LIBS := -ldl

# The Debian packages come from scripts/deps.sh.  deps, demo, check and bench
# run it first and then build in a second make, which reads pkg-config once
# the packages are there (this make read it before the install, and would
# link without -luring).  Any other goal needs them now: name what is missing
# instead of failing on a header.
DEPS_GOALS := deps demo check bench clean
# uninstall removes files and builds nothing; deb checks its Build-Depends itself.
DEPS_GOALS += uninstall deb
ifneq ($(filter-out $(DEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell pkg-config --exists $(PKGS) libxxhash $(VIRT_PKGS) 2>/dev/null && echo yes),yes)
MISSING := $(or $(shell scripts/deps.sh --list 2>/dev/null),pkg-config liburing-dev libzstd-dev libxxhash-dev libvirt-dev libxml2-dev)
$(info ferry: the build needs packages that are not installed: $(MISSING))
$(info run:   sudo apt-get update && sudo apt-get install -y $(MISSING))
$(info or, as root: make deps (make demo and make check install them first too))
$(error missing packages)
endif
endif

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fno-strict-aliasing
CPPFLAGS += -Iprotocol -Icore $(PKG_CFLAGS)
ifeq ($(SAN),1)
# clang unless the user chose a compiler (gcc has the sanitizers too).
ifeq ($(origin CC),default)
CC := clang
endif
CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

PROTOCOL_SRC := $(wildcard protocol/*.c)
CORE_SRC := $(wildcard core/*/*.c)
HOST_SRC := $(wildcard host-agent/*.c)
GUEST_SRC := $(wildcard guest-agent/*.c)
TEST_SRC := $(wildcard tests/test-*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
BENCH_SRC := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ := $(call obj,$(PROTOCOL_SRC) $(CORE_SRC))
HOST_OBJ := $(call obj,$(HOST_SRC))
GUEST_OBJ := $(call obj,$(GUEST_SRC))
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# Reached only through the pattern rules below, these would be intermediate
# files that make deletes after each run, and every later `make` would
# compile and link them again.
.SECONDARY: $(call obj,$(TEST_SRC) $(TOOL_SRC) $(BENCH_SRC))

BINS := $(BUILD)/ferry $(BUILD)/ferryd
ifneq ($(SAN),1)
BINS += $(BUILD)/ferry.static
# The probe and hashcopy also run inside the VM test guest (bench/vm/impact.sh,
# raw-and-qga.sh), which has no libc.
BENCHES += $(BUILD)/bench/probe.static $(BUILD)/bench/hashcopy.static
endif

.PHONY: all tests check check-unit check-pkg check-asan check-fuzz check-vm demo bench deps fuzz clean
all: $(BINS) $(TESTS) $(TOOLS) $(BENCHES)
tests: $(BUILD)/ferry $(BUILD)/ferryd $(TESTS) $(TOOLS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/host-agent/domain.o: CPPFLAGS += $(VIRT_CFLAGS)
# One file holds XXH3's AVX2 path; chunk_hash calls it only on CPUs with AVX2.
ifeq ($(shell uname -m),x86_64)
$(BUILD)/obj/core/base/chunkhash-avx2.o: CFLAGS += -mavx2
endif
# The scalar path is for emulated CPUs (chunkhash.c picks it by measuring).
# At -O2 GCC vectorises part of it into SSE2 (31 xmm instructions), which
# TCG emulates slowly; unrolled and scalar it hashes 3-4x faster in the TCG
# test guest (16-21 ms against 63-73 ms per 32 MiB), as fast natively.
$(BUILD)/obj/core/base/chunkhash-scalar.o: CFLAGS += -O3 -fno-tree-vectorize
$(BUILD)/obj/host-agent/domain-nolibvirt.o: host-agent/domain.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DFERRY_NO_LIBVIRT -MMD -MP -c $< -o $@

$(BUILD)/ferry: $(HOST_OBJ) $(BUILD)/lib.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(VIRT_LIBS)

# ferryd is one static file that runs in any x86-64 Linux guest.  With the
# sanitizers it cannot be static (the runtimes are shared objects).
ifeq ($(SAN),1)
$(BUILD)/ferryd: $(GUEST_OBJ) $(BUILD)/lib.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
else
$(BUILD)/ferryd: $(GUEST_OBJ) $(BUILD)/lib.a
	$(CC) $(LDFLAGS) -static -o $@ $^ $(PKG_STATIC_LIBS)
endif

$(BUILD)/ferry.static: $(filter-out %/domain.o,$(HOST_OBJ)) $(BUILD)/obj/host-agent/domain-nolibvirt.o $(BUILD)/lib.a
	$(CC) $(LDFLAGS) -static -o $@ $^ $(PKG_STATIC_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/lib.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/lib.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/lib.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/probe.static: $(BUILD)/obj/bench/probe.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -static -o $@ $^

$(BUILD)/bench/hashcopy.static: $(BUILD)/obj/bench/hashcopy.o $(BUILD)/lib.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -static -o $@ $^ -pthread

$(BUILD)/obj/tests/%.o: CPPFLAGS += -Itests
# test-protocol checks the vectors of the spec itself (PROTOCOL.md section 11).
$(BUILD)/obj/tests/test-protocol.o: CPPFLAGS += -DFERRY_PROTOCOL_MD='"$(CURDIR)/protocol/PROTOCOL.md"'
$(BUILD)/obj/tests/tools/%.o: CPPFLAGS += -Itests

# ---- packages: installed when missing (as root), else the one line to run
deps:
	@scripts/deps.sh

# ---- tests
INTEGRATION := $(sort $(wildcard tests/integration/test-*.sh))
VM_TESTS := $(sort $(wildcard tests/vm/test-*.sh))

# The packaging tests (make deb, make install, the Ansible role: shell,
# dpkg and lintian, no C of ours and no clock) are a suite of their own,
# which make check runs beside the unit suite.
PKG_TESTS := $(addprefix tests/integration/,test-deb.sh test-install.sh test-ansible.sh)
check-unit: tests
	FERRY_BUILD=$(BUILD) tests/run.sh -t 300 scripts/check-layers.sh scripts/check-engine-calls.sh $(TESTS) \
		$(filter-out $(PKG_TESTS),$(INTEGRATION))
check-pkg: all
	FERRY_BUILD=$(BUILD) tests/run.sh -t 300 $(PKG_TESTS)

# The sanitizer build lives inside this one, so BUILD=DIR keeps everything
# under DIR (and `make clean` removes it with the rest).
ASAN_BUILD := $(BUILD)/asan
# Under the sanitizers: every unit test, and the integration tests that drive
# C paths of their own.  Left to check-unit alone: test-resume (20 SIGKILLs:
# crash consistency, not memory; its paths run under ASan in test-session,
# test-kill and test-corrupt), test-budgets (pacing against the clock),
# test-loopback-tcp (test-loopback-unix's paths over TCP) and the packaging
# tests (shell and dpkg, no C of ours): together ~7 of the ~15 minutes.
ASAN_SKIP := test-resume test-budgets test-loopback-tcp test-deb test-install test-ansible
ASAN_INTEGRATION := $(filter-out $(ASAN_SKIP:%=tests/integration/%.sh),$(INTEGRATION))
check-asan:
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) SAN=1 tests
	FERRY_BUILD=$(ASAN_BUILD) FERRY_SMALL=1 tests/run.sh -t 600 $(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,$(TESTS)) $(ASAN_INTEGRATION)

# ---- fuzzing (fuzz/): libFuzzer harnesses built from the real sources; a
# short run of each in make check, a long one in make fuzz.  UBSan aborts
# (no recover), so undefined behaviour is a finding like a crash.
FUZZ_CC ?= clang
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fno-strict-aliasing \
	-fsanitize=address,undefined -fno-sanitize-recover=all -Iprotocol -Icore $(PKG_CFLAGS)
FUZZERS := $(BUILD)/fuzz/fuzz-decode $(BUILD)/fuzz/fuzz-session
FUZZ_SECONDS ?= 25

$(BUILD)/fuzz/fuzz-decode: fuzz/fuzz-decode.c $(PROTOCOL_SRC) $(wildcard protocol/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(filter %.c,$^) -o $@

# The session harness links the engine (no transports: it brings its own
# socketpair); its objects get libFuzzer's coverage instrumentation,
# built once into $(BUILD)/fuzz/obj.
FUZZ_LIB_OBJ := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(PROTOCOL_SRC) $(filter-out core/transport/%,$(CORE_SRC)))
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
ifeq ($(shell uname -m),x86_64)
$(BUILD)/fuzz/obj/core/base/chunkhash-avx2.o: FUZZ_CFLAGS += -mavx2
endif

$(BUILD)/fuzz/fuzz-session: $(BUILD)/fuzz/obj/fuzz/fuzz-session.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free \
		$^ -o $@ $(PKG_LIBS) -lpthread

# fuzz/run.sh: each harness's status, and its line in the summary.
check-fuzz: $(FUZZERS)
	fuzz/run.sh -t $(FUZZ_SECONDS) $(FUZZERS)

fuzz: FUZZ_SECONDS = 1800
fuzz: check-fuzz

check-vm: all
	FERRY_BUILD=$(BUILD) tests/run.sh -t 600 $(VM_TESTS)

# Each suite appends its counts here; the last line of `make check` is the
# total over all of them.  Every suite runs even when one fails, so the total
# covers them all; a suite that failed without counting (a build error)
# fails check too, and so does a total of nothing passed.
#
# The unit suite mostly waits (rate caps, timeouts, peers that stall): it
# uses well under one of this machine's two cores.  Beside it, at nice 10
# so the suite's clock-sensitive tests keep their CPU, the sanitizer and
# fuzzer builds, the fuzz runs and the packaging tests (~5 of the ~15
# minutes) use the rest; their output follows the unit suite's.  Then the sanitizer
# suite and the VM suite, one at a time (both CPU-bound).
export FERRY_TEST_SUMMARY ?= $(abspath $(BUILD))/check-summary
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CHECK_BG_LOG := $(BUILD)/check-background.log
check: deps
	$(MAKE) --no-print-directory -j$(JOBS) all
	@rm -f $(FERRY_TEST_SUMMARY) $(CHECK_BG_LOG).rc
	@failed=; \
	( nice -n 10 $(MAKE) --no-print-directory -j$(JOBS) BUILD=$(ASAN_BUILD) SAN=1 tests && \
	  nice -n 10 $(MAKE) --no-print-directory -j$(JOBS) $(FUZZERS) && \
	  nice -n 10 $(MAKE) --no-print-directory check-fuzz; r=$$?; \
	  nice -n 10 $(MAKE) --no-print-directory check-pkg || r=1; echo $$r >$(CHECK_BG_LOG).rc ) >$(CHECK_BG_LOG) 2>&1 & \
	bg=$$!; \
	$(MAKE) --no-print-directory check-unit || failed="$$failed check-unit"; \
	wait $$bg; \
	echo "---- beside check-unit: sanitizer and fuzzer builds, check-fuzz, check-pkg ($(CHECK_BG_LOG))"; \
	if [ "$$(cat $(CHECK_BG_LOG).rc 2>/dev/null)" = 0 ]; then \
		sed -n '/^fuzz\/run.sh/,$$p' $(CHECK_BG_LOG) | grep -v '^INFO: \|^#[0-9]\|^make\|^FERRY_BUILD'; \
	else \
		tail -n 60 $(CHECK_BG_LOG); failed="$$failed check-fuzz/check-pkg"; \
	fi; \
	for t in check-asan check-vm; do \
		$(MAKE) --no-print-directory $$t || failed="$$failed $$t"; \
	done; \
	awk '{p+=$$1; f+=$$2; s+=$$3} END {printf "check: %d passed, %d failed, %d skipped\n", p, f, s; exit f > 0 || p == 0}' \
		$(FERRY_TEST_SUMMARY) || failed="$$failed (total)"; \
	if [ -n "$$failed" ]; then echo "check: failed:$$failed"; exit 1; fi

demo: deps
	$(MAKE) --no-print-directory all
	scripts/demo.sh $(BUILD)

bench: deps
	$(MAKE) --no-print-directory all
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# ---- install: PREFIX and DESTDIR as usual (`make install DESTDIR=/tmp/x`).
# ferryd goes to sbin: it is a daemon the init system starts, not a command a
# user runs, and Debian (and the FHS) put daemons there, as qemu-ga and sshd.
# The units name ferryd by its installed path, filled in here.  udev and
# systemd read /usr/local/lib too, so the default PREFIX works as it is; the
# Debian package sets UNITDIR and UDEVRULESDIR to bookworm's /lib.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL ?= install
UNITS := ferryd.service ferryd-vsock.service
INSTALLED := $(BINDIR)/ferry $(SBINDIR)/ferryd $(MANDIR)/man1/ferry.1 $(MANDIR)/man8/ferryd.8 \
	$(addprefix $(UNITDIR)/,$(UNITS)) $(UDEVRULESDIR)/60-ferryd.rules \
	$(BASHCOMPDIR)/ferry $(BASHCOMPDIR)/ferryd

.PHONY: install uninstall deb
install: $(BUILD)/ferry $(BUILD)/ferryd
	$(INSTALL) -d $(addprefix $(DESTDIR),$(BINDIR) $(SBINDIR) $(MANDIR)/man1 $(MANDIR)/man8 \
		$(UNITDIR) $(UDEVRULESDIR) $(BASHCOMPDIR))
	$(INSTALL) -m 0755 $(BUILD)/ferry $(DESTDIR)$(BINDIR)/ferry
	$(INSTALL) -m 0755 $(BUILD)/ferryd $(DESTDIR)$(SBINDIR)/ferryd
	$(INSTALL) -m 0644 man/ferry.1 $(DESTDIR)$(MANDIR)/man1/ferry.1
	$(INSTALL) -m 0644 man/ferryd.8 $(DESTDIR)$(MANDIR)/man8/ferryd.8
	for u in $(UNITS); do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' dist/systemd/$$u.in >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(INSTALL) -m 0644 dist/udev/60-ferryd.rules $(DESTDIR)$(UDEVRULESDIR)/60-ferryd.rules
	$(INSTALL) -m 0644 dist/bash-completion/ferry dist/bash-completion/ferryd $(DESTDIR)$(BASHCOMPDIR)/

# Files only: the directories are shared with everything else in PREFIX.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

# ---- Debian packages (debian/): dpkg-buildpackage in a copy of the tree
# under $(BUILD)/deb, so the tree gets no debian/tmp, no .debs beside it, no
# build stamps; the packages and lintian's verdict end up in $(BUILD)/deb.
DEB_DIR := $(BUILD)/deb
LINTIAN ?= lintian
deb:
	@command -v dpkg-buildpackage >/dev/null || { echo "deb: dpkg-buildpackage is missing: apt-get install dpkg-dev debhelper"; exit 1; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard | \
			tar --null --ignore-failed-read -T - -cf - 2>/dev/null; \
	else \
		tar --exclude=./build --exclude='./$(BUILD)' --exclude=./.git -cf - .; \
	fi | tar -C $(DEB_DIR)/src -xf -
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MAKELEVEL dpkg-buildpackage -b -us -uc -Jauto
	rm -rf $(DEB_DIR)/src
	@if command -v $(LINTIAN) >/dev/null; then \
		echo "$(LINTIAN) $(DEB_DIR)/*.changes"; \
		$(LINTIAN) --fail-on error,warning --display-info $(DEB_DIR)/*.changes; \
	else echo "deb: lintian is not installed: the packages are not checked"; fi
	@ls -1 $(DEB_DIR)/*.deb

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
