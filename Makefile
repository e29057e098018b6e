# virtlab — top-level build.
#
#   make            build bin/virtlab and build/guest/guest.elf
#   make test       build everything with ASan+UBSan and run every test
#   make demo       install missing packages (as root), build, run the default matrix, report, plot
#   make bench      speed of the machine itself
#   make fuzz       libFuzzer on hostile guests, clang (FUZZ_SECONDS=N; tests/fuzz/README.md)
#   make install    PREFIX (default /usr/local), DESTDIR: binary, guest, profiles, man page, completion
#
# Variables: CC (gcc|clang), SAN=1 (sanitizers; output under build/san),
# BUILD (output directory). Warnings are errors.
#
# Layout of outputs: $(B)/obj/<src>.o, per-area static libraries so that a
# test links only the areas it needs:
#   libvlmachine.a   machine/          (the hardware model + profiles loader)
#   libvlengines.a   engines/ mmu/     (CPU and MMU engines, registry, runner)
#   libvlresults.a   results/          (SQLite schema + writer)
#   libvlanalysis.a  analysis/         (reports, compare, plots)
#   $(BIN)           cli/              (bin/virtlab)
# Area fragments (guest/guest.mk, tests/tests.mk) are included when present.

CC      ?= gcc
SAN     ?=
ifeq ($(SAN),1)
  BUILD ?= build/san
  BIN   ?= $(BUILD)/bin/virtlab
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  OPT   ?= -O1
  CPPFLAGS += -DVL_DEBUG   # include/virtlab/assert.h: assertions on in test builds
else
  BUILD ?= build
  BIN   ?= bin/virtlab
  SANFLAGS :=
  OPT   ?= -O2
endif
B := $(BUILD)

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS   ?=
CPPFLAGS += -Iinclude -D_GNU_SOURCE
HOST_CFLAGS := -std=c17 $(OPT) -g $(WARN) $(SANFLAGS) -MMD -MP $(CFLAGS)
HOST_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
HOST_LIBS := -lcapstone -linih -lsqlite3 -lnettle -lm
HOST_LIBS += -lpapi -lpfm -lsde

GIT_COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
GIT_DIRTY  := $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo 1 || echo 0)
VERSION    := 0.1.0
CPPFLAGS   += -DVL_VERSION='"$(VERSION)"'

MACHINE_SRC  := $(wildcard machine/*.c)
ENGINES_SRC  := $(wildcard engines/*.c engines/*/*.c mmu/*.c mmu/*/*.c)
RESULTS_SRC  := $(wildcard results/*.c)
ANALYSIS_SRC := $(wildcard analysis/*.c)
CLI_SRC      := $(wildcard cli/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIB_MACHINE  := $(B)/libvlmachine.a
LIB_ENGINES  := $(B)/libvlengines.a
LIB_RESULTS  := $(B)/libvlresults.a
LIB_ANALYSIS := $(B)/libvlanalysis.a
ALL_LIBS     := $(LIB_ANALYSIS) $(LIB_RESULTS) $(LIB_ENGINES) $(LIB_MACHINE)

GUEST_ELF := build/guest/guest.elf

.PHONY: all test check demo bench clean paper
all: $(BIN) guest

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(HOST_CFLAGS) -c $< -o $@

# Build facts only for the file that reports them, so a commit does not rebuild everything.
$(B)/obj/cli/version.o: CPPFLAGS += -DVL_GIT_COMMIT='"$(GIT_COMMIT)"' -DVL_GIT_DIRTY=$(GIT_DIRTY) -DVL_CC='"$(shell $(CC) --version | head -1)"'
# ... but rebuilt whenever they change (a new commit, a dirty tree): every
# stored run carries the commit of the binary that made it (`compare HEAD`).
BUILD_FACTS := $(B)/build-facts
FACTS_LINE  := $(GIT_COMMIT) $(GIT_DIRTY) $(VERSION)
$(shell mkdir -p $(B); [ "$$(cat $(BUILD_FACTS) 2>/dev/null)" = "$(FACTS_LINE)" ] || echo "$(FACTS_LINE)" > $(BUILD_FACTS))
$(B)/obj/cli/version.o: $(BUILD_FACTS)

define mklib
$(1): $(2)
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(eval $(call mklib,$(LIB_MACHINE),$(call obj,$(MACHINE_SRC))))
$(eval $(call mklib,$(LIB_ENGINES),$(call obj,$(ENGINES_SRC))))
$(eval $(call mklib,$(LIB_RESULTS),$(call obj,$(RESULTS_SRC))))
$(eval $(call mklib,$(LIB_ANALYSIS),$(call obj,$(ANALYSIS_SRC))))

$(BIN): $(call obj,$(CLI_SRC)) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $(call obj,$(CLI_SRC)) $(ALL_LIBS) $(HOST_LIBS)

-include guest/guest.mk
-include workloads/host/host.mk
-include tests/tests.mk

guest: $(GUEST_ELF)

# Not `demo: all`: on a fresh machine the script first installs what the build needs.
demo:
	@scripts/demo.sh

bench: all
	$(BIN) bench

# The paper from the results database (paper/README.md): DB=FILE, NORUN=1.
paper: all
	VIRTLAB=$(BIN) DB="$(or $(DB),results/virtlab.db)" NORUN="$(NORUN)" paper/build.sh

clean:
	rm -rf build bin

# ---- install (Debian-policy-friendly layout; DESTDIR for staging) ----
#   $(PREFIX)/bin/virtlab
#   $(PREFIX)/share/virtlab/guest.elf, profiles/     (found relative to bin/: include/virtlab/datadir.h)
#   $(PREFIX)/share/man/man1/virtlab.1               (generated from the --help texts)
#   $(PREFIX)/share/bash-completion/completions/virtlab
PREFIX ?= /usr/local
DESTDIR ?=
MAN_PAGE := $(B)/man/virtlab.1

$(MAN_PAGE): $(BIN) scripts/mkman.sh
	@mkdir -p $(dir $@)
	scripts/mkman.sh $(BIN) $(VERSION) > $@.tmp && mv $@.tmp $@
man: $(MAN_PAGE)

install: $(BIN) $(GUEST_ELF) $(MAN_PAGE)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/virtlab/profiles \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/virtlab
	install -m 644 $(GUEST_ELF) $(DESTDIR)$(PREFIX)/share/virtlab/guest.elf
	install -m 644 $(wildcard profiles/*.ini profiles/*.md) $(DESTDIR)$(PREFIX)/share/virtlab/profiles/
	install -m 644 $(MAN_PAGE) $(DESTDIR)$(PREFIX)/share/man/man1/virtlab.1
	install -m 644 scripts/virtlab-completion.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/virtlab

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/virtlab $(DESTDIR)$(PREFIX)/share/man/man1/virtlab.1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/virtlab
	rm -rf $(DESTDIR)$(PREFIX)/share/virtlab

.PHONY: man install uninstall

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
