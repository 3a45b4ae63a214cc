# Vigil build.
#
#   make            optimised build of every program into build/
#   make test       a debug build under ASan + UBSan into build/test/ and the
#                   release build, then the layering check, the unit
#                   (Criterion), integration and end-to-end tests, the
#                   hostile-peer tests again on the release build, and the
#                   fuzzers
#   make docker-test  the Docker image and compose file, built and run with
#                   podman (README.md, "Run it in Docker")
#   make run        a local PostgreSQL under var/, a dev CA, and the server
#                   (VIGIL_DEVICE_PORT, VIGIL_API_PORT: other ports)
#   make status     what `make run` started: PIDs, ports, /readyz
#   make stop       stops what `make run` started (vigild, then PostgreSQL)
#   make install    vigild, vigilctl and vigil-device into $(PREFIX)/bin, a
#                   sample /etc/vigil/vigild.conf and a systemd unit (PREFIX,
#                   DESTDIR, SYSCONFDIR); `make uninstall` removes them
#   make deps       install the Debian packages the project needs
#
# One object directory per mode, so a test build never mixes with a release
# build. Sources are found by directory; a new .c file needs no Makefile edit.
# Compiles run in parallel on every core unless -j is given (-j1: one at a
# time); each prints a short `CC file` line, and V=1 prints whole commands.

MODE  ?= release
BUILD ?= build

# The top-level make uses every core; a -j on the command line wins, and a
# sub-make shares its parent's job slots. Not with `clean` among the goals
# (`make clean all` must not build while it deletes).
ifeq ($(MAKELEVEL)$(filter clean,$(MAKECMDGOALS)),0)
  MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
# Q hides a command; `show` prints its short form instead (nothing with -s).
ifeq ($(V),1)
  Q :=
  show = :
else
  Q := @
  show = printf '  %-4s %s\n' '$(1)' '$(2)'
endif
ifneq ($(findstring s,$(firstword -$(MAKEFLAGS))),)
  show = :
endif

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
PROTO_SRC    := $(wildcard protocol/*.c) $(BUILD)/gen/version.c
SERVER_SRC   := $(filter-out server/main.c,$(wildcard server/*/*.c)) $(BUILD)/gen/api_openapi.c
VIGILCTL_SRC := $(wildcard tools/vigilctl/*.c)
DEVICE_SRC   := $(wildcard tools/vigil-device/*.c)
BENCH_SRC    := $(wildcard tools/vigil-bench/*.c)
# llhttp is compiled from Debian's node-llhttp sources, never copied here.
LLHTTP_SRC   := $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c $(LLHTTP_DIR)/llhttp.c
LLHTTP_OBJ   := $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/obj/llhttp/%.o,$(LLHTTP_SRC))
UNIT_SRC     := $(shell find tests/unit -name '*.c' 2>/dev/null)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst $(BUILD)/%,%,$(1)))

PROGRAMS := $(BUILD)/vigilctl $(BUILD)/vigild $(if $(DEVICE_SRC),$(BUILD)/vigil-device) \
            $(if $(BENCH_SRC),$(BUILD)/vigil-bench)

.PHONY: all programs test unit integration check-layers run stop status install uninstall deps clean \
        format bench bench-query docker-test
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory programs

programs: $(PROGRAMS)

$(BUILD)/libvigilca.a: $(call obj,$(CA_SRC))
	@mkdir -p $(@D)
	@rm -f $@
	@$(call show,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/libvigildb.a: $(call obj,$(DB_SRC))
	@mkdir -p $(@D)
	@rm -f $@
	@$(call show,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/libvigilproto.a: $(call obj,$(PROTO_SRC))
	@mkdir -p $(@D)
	@rm -f $@
	@$(call show,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/libvigilserver.a: $(call obj,$(SERVER_SRC)) $(LLHTTP_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	@$(call show,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/vigild: $(call obj,server/main.c) $(BUILD)/libvigilserver.a $(BUILD)/libvigildb.a \
                 $(BUILD)/libvigilca.a $(BUILD)/libvigilproto.a
	@$(call show,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vigil-device: $(call obj,$(DEVICE_SRC)) $(BUILD)/libvigilca.a $(BUILD)/libvigilproto.a
	@$(call show,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vigil-bench: $(call obj,$(BENCH_SRC)) $(BUILD)/libvigildb.a $(BUILD)/libvigilca.a \
                      $(BUILD)/libvigilproto.a
	@$(call show,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	@$(call show,CC,$<)
	$(Q)$(CC) $(filter-out -W%,$(CFLAGS)) -w -c $< -o $@

$(BUILD)/vigilctl: $(call obj,$(VIGILCTL_SRC)) $(BUILD)/libvigildb.a $(BUILD)/libvigilca.a \
                   $(BUILD)/libvigilproto.a
	@$(call show,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# vigil-device's modules (not its main) are linked in for tests/unit/tools/.
$(BUILD)/unit-tests: $(call obj,$(UNIT_SRC)) $(call obj,$(filter-out %/main.c,$(DEVICE_SRC))) \
                     $(BUILD)/libvigilserver.a $(BUILD)/libvigildb.a \
                     $(BUILD)/libvigilca.a $(BUILD)/libvigilproto.a
	@$(call show,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

# The version every program's --version prints, set here and nowhere else.
# The commit is added when the tree is a git checkout (a Docker build
# context is not); VIGIL_COMMIT= overrides it. version.c is rewritten only
# when the string changes, so a rebuild relinks only then.
VIGIL_VERSION := 0.13.0
VIGIL_COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
VERSION_TEXT  := $(VIGIL_VERSION)$(if $(VIGIL_COMMIT), (commit $(VIGIL_COMMIT)))
$(BUILD)/gen/version.c: FORCE
	@mkdir -p $(@D)
	@printf '/* generated by the Makefile */\n#include "protocol/version.h"\nconst char vigil_version[] = "%s";\n' \
	    '$(VERSION_TEXT)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

.PHONY: FORCE
FORCE:

# The migrations are compiled into the programs so that `vigilctl db migrate`
# needs nothing but the binary.
$(BUILD)/gen/db_migrations.c: db/embed-migrations.sh $(wildcard db/migrations/*.sql)
	@mkdir -p $(@D)
	@$(call show,GEN,$@)
	$(Q)sh db/embed-migrations.sh db/migrations > $@.tmp && mv $@.tmp $@

# The OpenAPI document is served from the binary (GET /v1/openapi.json).
$(BUILD)/gen/api_openapi.c: tools/dev/embed-text.sh docs/openapi.json
	@mkdir -p $(@D)
	@$(call show,GEN,$@)
	$(Q)sh tools/dev/embed-text.sh api_openapi_json docs/openapi.json > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	@$(call show,CC,$<)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(call show,CC,$<)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

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

# The Docker image and compose file, built and run with podman (tests/docker;
# as root: it installs podman and makes the base images once).
docker-test:
	@bash tests/run.sh docker

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
	@bash tools/dev/run.sh stop

# run.sh status exits 3 when something is not running: an answer, not an error.
status:
	@bash tools/dev/run.sh status || [ $$? -eq 3 ]

# ---- installing (tools/dist/ has the sample config and the systemd unit) ----

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALLED   := vigild vigilctl vigil-device
# The files in tools/dist name /usr/local/bin and /etc/vigil; they are
# installed with the BINDIR and SYSCONFDIR given.
dist_paths  := sed -e 's|/usr/local/bin|$(BINDIR)|g' -e 's|/etc/vigil|$(SYSCONFDIR)/vigil|g'

install: programs
	@$(call show,INST,$(DESTDIR)$(BINDIR): $(INSTALLED))
	$(Q)install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/vigil
	$(Q)install -m 0755 $(addprefix $(BUILD)/,$(INSTALLED)) $(DESTDIR)$(BINDIR)/
	@$(call show,INST,$(DESTDIR)$(UNITDIR)/vigild.service)
	$(Q)$(dist_paths) tools/dist/vigild.service > $(DESTDIR)$(UNITDIR)/vigild.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/vigild.service
	$(Q)install -m 0644 tools/dist/vigil.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/vigil.conf
	$(Q)$(dist_paths) tools/dist/vigild.conf > $(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf.sample
	$(Q)chmod 0644 $(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf.sample
	$(Q)if [ -e $(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf ]; then \
	    echo "  kept $(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf (the new sample: vigild.conf.sample)"; \
	else \
	    $(call show,INST,$(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf); \
	    cp -p $(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf.sample $(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf; \
	fi

# Leaves /etc/vigil/vigild.conf and everything else under /etc/vigil alone.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALLED)) $(DESTDIR)$(UNITDIR)/vigild.service \
	    $(DESTDIR)$(SYSUSERSDIR)/vigil.conf $(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf.sample

deps:
	@bash tools/dev/deps.sh

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build
