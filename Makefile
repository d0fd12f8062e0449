# ft: fine-tune language models from the shell.
#
#   make                 lib/libft.a and every program in bin/
#   make check           every test; the last line is "N passed, N failed"
#   make SANITIZE=1 check  the same under AddressSanitizer and UBSan
#   make install PREFIX=/usr/local
#   make bench           the benchmarks of bench/ (long)

VERSION = 0.1.0
PREFIX ?= /usr/local
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra
PKGS = msgpack libarchive libpcre2-8 jansson libutf8proc openblas libxxhash zlib

ifeq ($(SANITIZE),1)
BUILD = build-san
LIBFT = $(BUILD)/libft.a
BINDIR = $(BUILD)/bin
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD = build
LIBFT = lib/libft.a
BINDIR = bin
SAN =
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=gnu11 $(CFLAGS) $(WARN) $(SAN) -fopenmp -Ilib -Itools/common \
	$(PKG_CFLAGS) -DFT_VERSION='"$(VERSION)"' -DFT_SHARE_DIR='"$(PREFIX)/share/ft"' -MMD -MP
LDLIBS = $(PKG_LIBS) -lwordnet -lm -lpthread
ALL_LDFLAGS = $(LDFLAGS) $(SAN) -fopenmp

LIB_SRC := $(sort $(shell find lib -name '*.c'))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
COMMON_SRC := $(sort $(wildcard tools/common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(sort $(wildcard tools/ft-*.c))
TOOLS := $(TOOL_SRC:tools/%.c=$(BINDIR)/%)
UNIT_SRC := $(sort $(wildcard tests/unit/test-*.c))
UNITS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HEADERS := $(shell find lib -name '*.h')

all: $(LIBFT) $(TOOLS)

# V=1 shows the commands.
Q = $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBFT): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/libftprog.a: $(COMMON_OBJ)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BINDIR)/%: $(BUILD)/tools/%.o $(BUILD)/libftprog.a $(LIBFT)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBFT)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

check: all $(UNITS)
	@FT_BIN=$(CURDIR)/$(BINDIR) FT_UNITS=$(CURDIR)/$(BUILD)/tests FT_SANITIZE=$(filter 1,$(SANITIZE)) \
	  FT_ROOT=$(CURDIR) sh tests/run $(TESTS)

bench: all
	$(MAKE) -C bench

# The main job at a small budget: the spam pipeline (pipelines/spam.mk),
# about five minutes on two cores (4 min 22 s measured); results in results/demo.md and plots.
DEMO = GOLD=200 POOL=1000 BUDGET=2000 STEPS=300 ROUNDS=1
demo: all
	$(MAKE) -f pipelines/spam.mk -j2 OUT=results/demo $(DEMO) all plots

# The same end to end at a reduced budget, checked (tests/cli/demo.sh runs
# it inside make check): every stage's output, and a test accuracy whose
# bootstrap interval lies above the majority rate.
CHECK_DEMO_OUT = build/check-demo
CHECK_DEMO = GOLD=200 POOL=200 BUDGET=150 STEPS=100 ROUNDS=1
check-demo: all
	$(MAKE) -f pipelines/spam.mk -j2 OUT=$(CHECK_DEMO_OUT) $(CHECK_DEMO) all plots
	BIN=$(or $(BIN),$(CURDIR)/bin) sh pipelines/check-demo.sh $(CHECK_DEMO_OUT)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)$(PREFIX)/include/ft $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/ft
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIBFT) $(DESTDIR)$(PREFIX)/lib
	for h in $(HEADERS); do \
	  install -D -m 644 $$h $(DESTDIR)$(PREFIX)/include/ft/$${h#lib/}; done
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5
	if [ -d share ]; then cp -r share/. $(DESTDIR)$(PREFIX)/share/ft/; fi

clean:
	rm -rf build build-san bin lib/libft.a

format:
	clang-format -i $(LIB_SRC) $(HEADERS) $(TOOL_SRC) $(COMMON_SRC) tools/common/*.h

.PHONY: all check bench demo check-demo install clean format
.SECONDARY:

-include $(LIB_OBJ:.o=.d) $(COMMON_OBJ:.o=.d) $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%.d)
-include $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%.d)
