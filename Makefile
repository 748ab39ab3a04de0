# motcua — one plain Makefile.
#
#   make            build build/motcua (warnings are errors)
#   make SANITIZE=1 build build/asan/motcua with AddressSanitizer + UBSan
#   make run        install what is missing, build, start a private Redis, serve the demo
#   make test       install what is missing, build both ways, run unit + integration + browser
#   make unit       build and run the cmocka unit tests only (add SANITIZE=1 for the ASan build)
#   make fmt        clang-format every C file
#   make clean

CC      ?= cc
PKGS    := libwebsockets libuv libcurl hiredis libpcre2-8 icu-uc icu-i18n jansson libcrypto inih
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-unused-parameter
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(SANITIZE),1)
O       := build/asan
OPT     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
O       := build
OPT     := -O2 -g
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
GW_SRC  := $(filter-out gateway/main.c,$(wildcard gateway/*.c))

VN_LIB  := $(O)/libvn.a
NLU_LIB := $(O)/libnlu.a
CH_LIB  := $(O)/libch.a
GW_LIB  := $(O)/libgw.a
LIBS_ALL := $(GW_LIB) $(CH_LIB) $(NLU_LIB) $(VN_LIB)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))

BIN := $(O)/motcua

.PHONY: all deps run test unit unit-bins fmt clean
all: $(BIN)

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

unit-bins: $(UNIT_BIN)

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
