# workloads/host/host.mk — builds the host twins build/host/vl-twin (one
# program, the workload chosen by argv). Included by the top Makefile.
# Always optimised and never sanitized: it is a measurement, like the guest.
TWIN      := build/host/vl-twin
TWIN_SRC  := workloads/host/twin.c engines/host/hpc.c
TWIN_DEPS := $(TWIN_SRC) include/virtlab/hpc.h workloads/compute.h workloads/host/host.mk
TWIN_CC   ?= $(CC)

$(TWIN): $(TWIN_DEPS)
	@mkdir -p $(dir $@)
	$(TWIN_CC) -std=gnu17 -O2 -g $(WARN) -Iinclude -D_GNU_SOURCE -o $@ $(TWIN_SRC) -lpapi -lpfm

twin: $(TWIN)
.PHONY: twin
all: twin
test-bins: twin
