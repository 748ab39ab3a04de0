# motcua — one plain Makefile.
#
#   make            build build/motcua (warnings are errors)
#   make SANITIZE=1 build build/asan/motcua with AddressSanitizer + UBSan
#   make run        install what is missing, build, start a private Redis, serve the demo
#   make test       install what is missing, build both ways, run unit + integration + browser
#   make unit       build and run the cmocka unit tests only (add SANITIZE=1 for the ASan build)
#   make eval       intent and entity accuracy of the whole pipeline on intents/data/dev.tsv
#   make bench      install what is missing, build, scripts/bench.sh: measured figures, the
#                   cost per unit (callgrind) and the goals of issue 16
#   make fuzz       libFuzzer (clang) on every tests/fuzz/fuzz_*.c for FUZZ_SECONDS each (60);
#                   FUZZ_TARGETS="zalo webchat" picks some
#   make fmt        clang-format every C file
#   make clean

CC      ?= cc
PKGS    := libwebsockets libuv libcurl hiredis libpcre2-8 icu-uc icu-i18n jansson libcrypto inih \
           libargon2 liboath libqrencode
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-unused-parameter
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(SANITIZE),1)
O       := build/asan
OPT     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else ifeq ($(SANITIZE),fuzz)
# `make fuzz`: clang with libFuzzer's coverage instrumentation, ASan and UBSan.
O       := build/fuzz
CC      := clang
OPT     := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
O       := build
OPT     := -O3 -g
LDSAN   :=
endif

# pkg-config is asked lazily: `make deps` must work before the libraries exist.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS  += $(CSTD) $(WARN) $(OPT) -I. -MMD -MP -DMOTCUA_VERSION='"$(VERSION)"'
LDFLAGS += $(LDSAN)

# One static library per folder; the dependency direction of DESIGN.md is
# vi-nlp <- intents <- gateway, channels <- gateway.
VN_SRC  := $(wildcard vi-nlp/*.c)
NLU_SRC := $(wildcard intents/*.c)
CH_SRC  := $(wildcard channels/*.c)
GW_SRC  := $(wildcard gateway/*/*.c) $(filter-out gateway/main.c,$(wildcard gateway/*.c))

VN_LIB  := $(O)/libvn.a
NLU_LIB := $(O)/libnlu.a
CH_LIB  := $(O)/libch.a
GW_LIB  := $(O)/libgw.a
LIBS_ALL := $(GW_LIB) $(CH_LIB) $(NLU_LIB) $(VN_LIB)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))

BIN := $(O)/motcua

# The trained intent model, rebuilt whenever the corpus, the normalizer's tables or the
# binary change, so that `make`, `make run` and `make test` always have a fresh one.
TRAIN_TSV := intents/data/train.tsv
MODEL     := $(O)/nlu.model
EVAL      := $(O)/eval

# Fuzz targets, one entry per tests/fuzz/fuzz_<name>.c: "name:libraries" (library names
# joined by '+', in link order; each is $(O)/lib<name>.a). Adding a target is adding an
# entry. Each becomes build/fuzz/fuzz_<name> (clang libFuzzer, `make fuzz`, working corpus
# build/fuzz/corpus/<name>/) and $(O)/tests/fuzz_<name>_corpus (tests/fuzz/driver.c,
# which `make test` runs over the seed corpus tests/fuzz/corpus/<name>/).
FUZZ_TABLE   := nlu:nlu+vn zalo:ch facebook:ch twilio:ch kannel:ch webchat:ch api:gw+ch+nlu+vn
FUZZ_ALL     := $(foreach e,$(FUZZ_TABLE),$(firstword $(subst :, ,$(e))))
fuzz_libs     = $(patsubst %,$(O)/lib%.a,$(subst +, ,$(lastword $(subst :, ,$(filter $(1):%,$(FUZZ_TABLE))))))
FUZZ_RUN     := $(patsubst %,$(O)/tests/fuzz_%_corpus,$(FUZZ_ALL))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 60
# Longest input in bytes: past nlu's 8192-byte cap and the web chat's 4 KiB frame.
FUZZ_MAX_LEN ?= 9000
# Seconds one input may take before libFuzzer reports it as a hang.
FUZZ_TIMEOUT ?= 10

.PHONY: all deps run test unit unit-bins fmt clean eval bench fuzz
all: $(BIN) $(if $(wildcard $(TRAIN_TSV)),$(MODEL))

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(VN_LIB): $(call obj,$(VN_SRC))
$(NLU_LIB): $(call obj,$(NLU_SRC))
$(CH_LIB): $(call obj,$(CH_SRC))
$(GW_LIB): $(call obj,$(GW_SRC))
$(O)/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(call obj,gateway/main.c) $(LIBS_ALL)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_ALL) $(PKG_LIBS) -lm

$(O)/tests/%: $(O)/obj/tests/unit/%.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_ALL) $(PKG_LIBS) $(CMOCKA_LIBS) -lm

$(MODEL): $(BIN) $(TRAIN_TSV) $(wildcard vi-nlp/data/*)
	@$(BIN) train --data $(TRAIN_TSV) --out $@ >$(O)/nlu-train.log 2>&1 || \
		{ cat $(O)/nlu-train.log; exit 1; }
	@grep -E '^(cv accuracy|calibration|wrote)' $(O)/nlu-train.log

$(EVAL): $(O)/obj/tests/eval/eval.o $(LIBS_ALL)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS_ALL) $(PKG_LIBS) -lm

define fuzz_rules
$(O)/tests/fuzz_$(1)_corpus: $(O)/obj/tests/fuzz/fuzz_$(1).o $(O)/obj/tests/fuzz/driver.o $(call fuzz_libs,$(1))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) -lm

$(O)/fuzz_$(1): $(O)/obj/tests/fuzz/fuzz_$(1).o $(call fuzz_libs,$(1))
	$$(CC) $$(LDFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(PKG_LIBS) -lm
endef
$(foreach t,$(FUZZ_ALL),$(eval $(call fuzz_rules,$(t))))

eval: $(EVAL) $(MODEL)
	$(EVAL) --data intents/data/dev.tsv --model $(MODEL)

bench: deps
	@$(MAKE) --no-print-directory all $(EVAL)
	@bash scripts/bench.sh

# libFuzzer, one target after the other: each keeps what it finds in
# build/fuzz/corpus/<name>/ (seeded from tests/fuzz/corpus/<name>/), crashing inputs in
# build/fuzz/artifacts/<name>/ and its output in build/fuzz/fuzz_<name>.log. nlu uses the
# normal build's model. clang is not installed by `make deps`: this is a developer's tool.
fuzz:
	@command -v clang >/dev/null || { echo "make fuzz needs clang (Debian package clang)" >&2; exit 1; }
	@$(if $(filter-out $(FUZZ_ALL),$(FUZZ_TARGETS)),echo "unknown fuzz target(s): $(filter-out $(FUZZ_ALL),$(FUZZ_TARGETS)) (known: $(FUZZ_ALL))" >&2; exit 1)
	@$(if $(filter nlu,$(FUZZ_TARGETS)),$(MAKE) --no-print-directory all)
	@$(MAKE) --no-print-directory SANITIZE=fuzz $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t build/fuzz/artifacts/$$t; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s, output in build/fuzz/fuzz_$$t.log"; \
		MOTCUA_NLU_MODEL=build/nlu.model build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-max_len=$(FUZZ_MAX_LEN) -timeout=$(FUZZ_TIMEOUT) \
			-artifact_prefix=build/fuzz/artifacts/$$t/ \
			build/fuzz/corpus/$$t tests/fuzz/corpus/$$t >build/fuzz/fuzz_$$t.log 2>&1; \
		rc=$$?; \
		grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done ' build/fuzz/fuzz_$$t.log; \
		if [ $$rc -ne 0 ]; then tail -n 40 build/fuzz/fuzz_$$t.log; exit 1; fi; \
	done

unit-bins: $(UNIT_BIN) $(FUZZ_RUN)

unit: $(UNIT_BIN)
	@rc=0; for t in $(UNIT_BIN); do $$t || rc=1; done; exit $$rc

deps:
	@bash scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/run-demo.sh

test: deps
	@bash scripts/test.sh

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
