# guest/guest.mk — builds the one guest image build/guest/guest.elf
# (kernel + in-kernel workloads + the embedded user program). Included by
# the top Makefile. Always gcc: the image must be the same bytes whatever CC
# the host build uses.
GUEST_CC    ?= gcc
GUEST_DIR   := build/guest
GUEST_BASE  := -std=gnu17 -O2 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
  -mgeneral-regs-only -mno-red-zone -mno-sse -mno-mmx -mno-80387 -fno-asynchronous-unwind-tables \
  -fno-builtin -fno-tree-loop-distribute-patterns -fcf-protection=none -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude
GUEST_KCFLAGS := $(GUEST_BASE) -mcmodel=kernel
GUEST_UCFLAGS := $(GUEST_BASE) -mcmodel=small
GUEST_KSRC  := guest/main.c guest/pvops.c guest/trap.c guest/mm.c guest/proc.c guest/fmt.c workloads/kbench.c guest/pvmmu.c
GUEST_USRC  := workloads/user/uprog.c guest/fmt.c
GUEST_KOBJ  := $(patsubst %.c,$(GUEST_DIR)/k/%.o,$(GUEST_KSRC)) $(GUEST_DIR)/k/guest/boot.o $(GUEST_DIR)/k/embed.o
GUEST_UOBJ  := $(GUEST_DIR)/u/start.o $(patsubst %.c,$(GUEST_DIR)/u/%.o,$(GUEST_USRC))
GUEST_UELF  := $(GUEST_DIR)/uprog.elf
GUEST_HDRS  := $(wildcard guest/*.h) include/virtlab/guest_abi.h include/virtlab/workloads.def workloads/compute.h workloads/footprint.h

$(GUEST_DIR)/k/%.o: %.c $(GUEST_HDRS) guest/guest.mk
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_KCFLAGS) -c $< -o $@
$(GUEST_DIR)/k/guest/boot.o: guest/boot.S $(GUEST_HDRS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_KCFLAGS) -c $< -o $@
$(GUEST_DIR)/k/embed.o: workloads/user/embed.S $(GUEST_UELF)
	@mkdir -p $(dir $@)
	$(GUEST_CC) -c -DUSER_ELF='"$(GUEST_UELF)"' $< -o $@
$(GUEST_DIR)/u/%.o: %.c $(GUEST_HDRS) guest/guest.mk
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_UCFLAGS) -c $< -o $@
$(GUEST_DIR)/u/start.o: workloads/user/start.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_UCFLAGS) -c $< -o $@
$(GUEST_UELF): $(GUEST_UOBJ) workloads/user/user.ld
	$(GUEST_CC) -nostdlib -static -no-pie -Wl,-T,workloads/user/user.ld -Wl,--build-id=none -o $@ $(GUEST_UOBJ)
$(GUEST_ELF): $(GUEST_KOBJ) guest/link.ld
	$(GUEST_CC) -nostdlib -static -no-pie -Wl,-T,guest/link.ld -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,--no-warn-rwx-segments -o $@ $(GUEST_KOBJ)
.PHONY: guest
