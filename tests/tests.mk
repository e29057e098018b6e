# tests/tests.mk — test build rules, included by the top Makefile.
#
# Unit tests are cmocka programs, one per file, grouped by the area they
# test so each links only what it needs:
#   tests/machine/test_*.c   -> libvlmachine
#   tests/engines/test_*.c   -> libvlengines + libvlmachine
#   tests/results/test_*.c, tests/analysis/test_*.c -> all libraries
# End-to-end tests are shell scripts tests/e2e/*.sh that drive bin/virtlab
# (and QEMU); each exits 0 (pass), 77 (skip) or other (fail).
# `make test` builds everything with SAN=1 and runs tests/run-tests.sh,
# which prints every test's output and a final "N passed, N failed" line.

TEST_LIBS := -lcmocka -lunicorn -lcapstone -linih -lsqlite3 -lnettle -lm -lpthread
TEST_LIBS += -lpapi -lpfm -lsde

T_MACHINE  := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/machine/test_*.c))
T_ENGINES  := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/engines/test_*.c))
T_RESULTS  := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/results/test_*.c tests/analysis/test_*.c))
TEST_BINS  := $(T_MACHINE) $(T_ENGINES) $(T_RESULTS)
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ := $(call obj,$(TEST_SUPPORT_SRC))

$(T_MACHINE): $(B)/tests/%: $(B)/obj/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB_MACHINE)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(TEST_LIBS)
$(T_ENGINES): $(B)/tests/%: $(B)/obj/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB_ENGINES) $(LIB_MACHINE)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(TEST_LIBS)
$(T_RESULTS): $(B)/tests/%: $(B)/obj/tests/%.o $(TEST_SUPPORT_OBJ) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(TEST_LIBS)

test-bins: $(TEST_BINS) $(BIN) $(GUEST_ELF)

# The README's test command. Sanitized build in build/san.
test:
	$(MAKE) SAN=1 test-bins
	VIRTLAB=build/san/bin/virtlab TEST_BIN_DIR=build/san/tests GUEST=$(GUEST_ELF) tests/run-tests.sh

# Unsanitized, for quick iteration: make check
check: test-bins
	VIRTLAB=$(BIN) TEST_BIN_DIR=$(B)/tests GUEST=$(GUEST_ELF) tests/run-tests.sh

.PHONY: test test-bins check

# Test guests (tests/machine/progs/*.S): freestanding ELF64 images built
# with the guest toolchain (always gcc, like the guest), each linked with
# the shared runtime rt.S and prog.ld. Host tests find them through
# VL_PROGS_DIR (tests/support/guest_prog.c).
TEST_PROG_DIR := $(GUEST_DIR)/progs
TEST_PROG_SRC := $(filter-out tests/machine/progs/rt.S,$(wildcard tests/machine/progs/*.S))
TEST_PROGS    := $(patsubst tests/machine/progs/%.S,$(TEST_PROG_DIR)/%.elf,$(TEST_PROG_SRC))
TEST_PROG_DEP := tests/machine/progs/prog.h include/virtlab/guest_abi.h tests/tests.mk

$(TEST_PROG_DIR)/%.o: tests/machine/progs/%.S $(TEST_PROG_DEP)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_KCFLAGS) -c $< -o $@
$(TEST_PROG_DIR)/%.elf: $(TEST_PROG_DIR)/%.o $(TEST_PROG_DIR)/rt.o tests/machine/progs/prog.ld
	$(GUEST_CC) -nostdlib -static -no-pie -Wl,-T,tests/machine/progs/prog.ld -Wl,--build-id=none \
	  -Wl,-z,max-page-size=4096 -Wl,--no-warn-rwx-segments -o $@ $< $(TEST_PROG_DIR)/rt.o
.PRECIOUS: $(TEST_PROG_DIR)/%.o

$(B)/obj/tests/support/guest_prog.o: CPPFLAGS += -DVL_PROGS_DIR='"$(abspath $(TEST_PROG_DIR))"'
test-bins: $(TEST_PROGS)
test-progs: $(TEST_PROGS)
.PHONY: test-progs

# Harvest objects for test_decode_capstone (compiled, never linked or run):
# every tests/machine/isa/*.c by GCC and Clang at -O0/-O1/-O2/-Os, kernel
# style (-mcmodel=kernel) and user style (-mcmodel=small), plus two variants
# with extra instruction selection (POPCNT/LZCNT, REP string strategies,
# stack protector, CET branch tracking: ENDBR64, NOTRACK; GCC's shadow-stack
# code in __builtin_longjmp (-fcf-protection=full) uses INCSSP, outside the ISA). The test finds them in $(B)/tests/machine/isa/.
ISA_SRC  := $(wildcard tests/machine/isa/*.c)
ISA_DIR  := $(B)/tests/machine/isa
ISA_BASE := -std=gnu17 -ffreestanding -fno-pic -fno-pie -mgeneral-regs-only -mno-red-zone -mcx16 \
  -fno-asynchronous-unwind-tables -Wall -Wextra -Wno-unused-parameter -Werror
ISA_OBJS :=
define isa_variant
ISA_OBJS += $$(patsubst tests/machine/isa/%.c,$(ISA_DIR)/$(1)/%.o,$(ISA_SRC))
$(ISA_DIR)/$(1)/%.o: tests/machine/isa/%.c tests/tests.mk
	@mkdir -p $$(dir $$@)
	$(2) $(ISA_BASE) $(3) -c $$< -o $$@
endef
$(foreach c,gcc clang,$(foreach o,O0 O1 O2 Os,$(foreach k,kernel small,\
  $(eval $(call isa_variant,$(c)-$(o)-$(k),$(c),-$(o) -mcmodel=$(k))))))
$(eval $(call isa_variant,gcc-O2-kernel-x,gcc,-O2 -mcmodel=kernel -mpopcnt -mlzcnt -mstringop-strategy=rep_8byte -fstack-protector-strong))
$(eval $(call isa_variant,gcc-Os-small-x,gcc,-Os -mcmodel=small -mpopcnt -mstringop-strategy=rep_byte -fstack-protector-all -fcf-protection=branch))
$(eval $(call isa_variant,clang-O2-small-x,clang,-O2 -mcmodel=small -mpopcnt -mlzcnt -fstack-protector-strong -fcf-protection=branch))
$(B)/tests/machine/test_decode_capstone: | $(ISA_OBJS)
$(B)/obj/tests/machine/test_decode_capstone.o: tests/tests.mk
$(B)/obj/tests/machine/test_decode_capstone.o: CPPFLAGS += -DISA_OBJ_COUNT=$(words $(ISA_OBJS))

# tests/fuzz/: hostile guests. guest_run runs an image in process on every
# engine × MMU of the registries; gen is the structure-aware generator.
# test_hostile (regressions), test_fuzz_corpus (the checked-in corpus:
# crashes and differential) run in `make test`; fuzz_replay (figures) and
# lockstep (first divergent instruction) are tools; `make fuzz` builds the
# libFuzzer target with clang and runs it for FUZZ_SECONDS.
FUZZ_OBJ   := $(call obj,tests/fuzz/guest_run.c tests/fuzz/gen.c tests/support/mini_elf.c)
FUZZ_BINS  := $(B)/tests/fuzz/test_hostile $(B)/tests/fuzz/test_fuzz_corpus $(B)/tests/fuzz/fuzz_replay $(B)/tests/fuzz/lockstep
$(B)/tests/fuzz/test_hostile: $(B)/obj/tests/fuzz/test_hostile.o $(FUZZ_OBJ) $(LIB_ENGINES) $(LIB_MACHINE)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(TEST_LIBS)
$(B)/tests/fuzz/fuzz_replay $(B)/tests/fuzz/test_fuzz_corpus: $(B)/obj/tests/fuzz/fuzz_replay.o $(FUZZ_OBJ) $(LIB_ENGINES) $(LIB_MACHINE)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(TEST_LIBS)
$(B)/tests/fuzz/lockstep: $(B)/obj/tests/fuzz/lockstep.o $(FUZZ_OBJ) $(LIB_ENGINES) $(LIB_MACHINE)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(TEST_LIBS)
test-bins: $(FUZZ_BINS)

# make fuzz [FUZZ_SECONDS=N]: the libFuzzer target, clang only, every
# library rebuilt with coverage in build/fuzz; new inputs land in
# build/fuzz/corpus (the checked-in tests/fuzz/corpus seeds it).
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build/fuzz
$(B)/tests/fuzz/fuzz_target: $(B)/obj/tests/fuzz/fuzz_target.o $(FUZZ_OBJ) $(LIB_ENGINES) $(LIB_MACHINE)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(TEST_LIBS)
fuzz:
	$(MAKE) SAN=1 CC=clang BUILD=$(FUZZ_BUILD) CFLAGS=-fsanitize=fuzzer-no-link $(FUZZ_BUILD)/tests/fuzz/fuzz_target
	@mkdir -p $(FUZZ_BUILD)/corpus
	VIRTLAB_PROFILES=$(CURDIR)/profiles $(FUZZ_BUILD)/tests/fuzz/fuzz_target -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=4096 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus tests/fuzz/corpus
.PHONY: fuzz
