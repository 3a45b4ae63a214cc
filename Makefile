# Vigil build.
#
#   make            optimised build of every program into build/
#   make test       a debug build under ASan + UBSan into build/test/ and the
#                   release build, then the layering check, the unit
#                   (Criterion), integration and end-to-end tests, the
#                   hostile-peer tests again on the release build, and the
#                   fuzzers
#   make run        a local PostgreSQL under var/, a dev CA, and the server
#   make deps       install the Debian packages the project needs
#
# One object directory per mode, so a test build never mixes with a release
# build. Sources are found by directory; a new .c file needs no Makefile edit.

MODE  ?= release
BUILD ?= build

ifeq ($(MODE),test)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
  OPT := -O2 -g
endif

CC      ?= cc
PKGS    := openssl libpq jansson libuv libmicrohttpd jose
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-missing-field-initializers
LLHTTP_DIR     ?= /usr/share/llhttp
LLHTTP_INCLUDE ?= /usr/share/include/llhttp
CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(OPT) -I. \
           -I$(LLHTTP_INCLUDE) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS := $(filter -fsanitize=%,$(OPT))
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

CA_SRC       := $(wildcard cert-authority/*.c)
DB_SRC       := $(wildcard db/*.c) $(BUILD)/gen/db_migrations.c
PROTO_SRC    := $(wildcard protocol/*.c)
SERVER_SRC   := $(filter-out server/main.c,$(wildcard server/*/*.c)) $(BUILD)/gen/api_openapi.c
VIGILCTL_SRC := $(wildcard tools/vigilctl/*.c)
DEVICE_SRC   := $(wildcard tools/vigil-device/*.c)
BENCH_SRC    := $(wildcard tools/vigil-bench/*.c)
# llhttp is compiled from Debian's node-llhttp sources, never copied here.
LLHTTP_SRC   := $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c $(LLHTTP_DIR)/llhttp.c
LLHTTP_OBJ   := $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/obj/llhttp/%.o,$(LLHTTP_SRC))
UNIT_SRC     := $(shell find tests/unit -name '*.c')

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst $(BUILD)/%,%,$(1)))

PROGRAMS := $(BUILD)/vigilctl $(BUILD)/vigild $(if $(DEVICE_SRC),$(BUILD)/vigil-device) \
            $(if $(BENCH_SRC),$(BUILD)/vigil-bench)

.PHONY: all programs test unit integration check-layers run stop deps clean format bench bench-query
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory programs

programs: $(PROGRAMS)

$(BUILD)/libvigilca.a: $(call obj,$(CA_SRC))
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libvigildb.a: $(call obj,$(DB_SRC))
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libvigilproto.a: $(call obj,$(PROTO_SRC))
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libvigilserver.a: $(call obj,$(SERVER_SRC)) $(LLHTTP_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/vigild: $(call obj,server/main.c) $(BUILD)/libvigilserver.a $(BUILD)/libvigildb.a \
                 $(BUILD)/libvigilca.a $(BUILD)/libvigilproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vigil-device: $(call obj,$(DEVICE_SRC)) $(BUILD)/libvigilca.a $(BUILD)/libvigilproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vigil-bench: $(call obj,$(BENCH_SRC)) $(BUILD)/libvigildb.a $(BUILD)/libvigilca.a \
                      $(BUILD)/libvigilproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) $(filter-out -W%,$(CFLAGS)) -w -c $< -o $@

$(BUILD)/vigilctl: $(call obj,$(VIGILCTL_SRC)) $(BUILD)/libvigildb.a $(BUILD)/libvigilca.a \
                   $(BUILD)/libvigilproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# vigil-device's modules (not its main) are linked in for tests/unit/tools/.
$(BUILD)/unit-tests: $(call obj,$(UNIT_SRC)) $(call obj,$(filter-out %/main.c,$(DEVICE_SRC))) \
                     $(BUILD)/libvigilserver.a $(BUILD)/libvigildb.a \
                     $(BUILD)/libvigilca.a $(BUILD)/libvigilproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

# The migrations are compiled into the programs so that `vigilctl db migrate`
# needs nothing but the binary.
$(BUILD)/gen/db_migrations.c: db/embed-migrations.sh $(wildcard db/migrations/*.sql)
	@mkdir -p $(@D)
	sh db/embed-migrations.sh db/migrations > $@.tmp && mv $@.tmp $@

# The OpenAPI document is served from the binary (GET /v1/openapi.json).
$(BUILD)/gen/api_openapi.c: tools/dev/embed-text.sh docs/openapi.json
	@mkdir -p $(@D)
	sh tools/dev/embed-text.sh api_openapi_json docs/openapi.json > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- tests ----

TEST_BUILD := build/test

test: deps
	@$(MAKE) --no-print-directory MODE=test BUILD=$(TEST_BUILD) programs $(TEST_BUILD)/unit-tests
	@$(MAKE) --no-print-directory programs
	@VIGIL_BUILD=$(TEST_BUILD) VIGIL_RELEASE_BUILD=build bash tests/run.sh

unit: deps
	@$(MAKE) --no-print-directory MODE=test BUILD=$(TEST_BUILD) $(TEST_BUILD)/unit-tests
	@VIGIL_BUILD=$(TEST_BUILD) bash tests/run.sh unit

integration: deps
	@$(MAKE) --no-print-directory MODE=test BUILD=$(TEST_BUILD) programs
	@VIGIL_BUILD=$(TEST_BUILD) bash tests/run.sh integration

# Which folder may include which (tools/dev/check-layers.sh has the rules);
# tests/run.sh runs it first, so `make test` fails on a layering break.
check-layers:
	@bash tools/dev/check-layers.sh

# A benchmark, not a test: release build, vigild beside nginx and COPY.
bench: all
	@bash tools/vigil-bench/bench.sh

# The operator API's incident queries on 10 million seeded incidents while
# ingest runs (BENCH_QUERY_INCIDENTS, BENCH_QUERY_DEVICES for a quick run).
bench-query: all
	@bash tools/vigil-bench/bench_query.sh

# ---- operating ----

run: all
	@bash tools/dev/run.sh

stop:
	@bash tools/dev/pg.sh stop var/pg

deps:
	@bash tools/dev/deps.sh

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build
