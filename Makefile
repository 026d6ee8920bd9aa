# Makefile: builds mmqd, its engine library, the tests and the benchmarks. Hand-written on purpose.

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
SANITIZE ?=
LISTEN ?= 0.0.0.0:8080
DATA_DIR ?= ./data

comma := ,
BUILD ?= build$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))

# Dependencies are Debian packages, checked and installed by explicit targets, never while the
# Makefile is read: `make deps` for building mmqd, `make test-deps` for the test suites (their
# libraries and the tools they run: promtool and prometheus for metrics, openssl for TLS,
# systemd-analyze, and Node and Debian's Python as clients that send a whole body before
# reading the answer), `make bench-deps` for the SQLite baseline, `make fuzz-deps` for clang,
# `make cluster-deps` for nginx and the cluster test's tools.
# Every object and program depends on the right one (order-only), so `make`, `make run` and
# `make test` install what they miss as root, or print the exact apt-get command and stop.
DEPS_PKGS := pkg-config libmicrohttpd-dev libcjson-dev nettle-dev
DEPS_PC := libmicrohttpd libcjson nettle
TEST_DEPS_PKGS := libcriterion-dev libcurl4-openssl-dev prometheus openssl systemd nodejs python3
TEST_DEPS_PC := criterion libcurl
TEST_DEPS_TOOLS := promtool prometheus openssl systemd-analyze /usr/bin/node /usr/bin/python3
BENCH_DEPS_PKGS := libsqlite3-dev
BENCH_DEPS_PC := sqlite3

# $(call ensure,WHAT,CHECK,PACKAGES) is a recipe line that does nothing when the shell command
# CHECK succeeds; otherwise, as root on Debian or Ubuntu, it installs PACKAGES, else it prints
# the command that would and fails.
ensure = @if $(2); then :; \
  elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "make: installing missing $(1): $(3)"; \
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(3); \
  else echo "make: missing $(1); install them with:" >&2; \
    echo "  sudo apt-get install -y $(3)" >&2; exit 1; fi
# $(call have_pc,MODULES) and $(call have_tools,PROGRAMS) are such checks.
have_pc = command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $(1) 2>/dev/null
have_tools = for t in $(1); do command -v $$t >/dev/null 2>&1 || exit 1; done

# The SQS client tests (tests/sqs/) drive mmqd with Debian's aws CLI and boto3, and with the AWS
# SDK for JavaScript on node (npm ci installs it into tests/sqs/node_modules); jq reads the CLI's
# answers and ss (iproute2) sees a long poll's connection (make sqs-deps).
SQS_DEPS_PKGS := awscli python3-boto3 nodejs npm jq iproute2
SQS_DEPS_CHECK := [ -x /usr/bin/aws ] && /usr/bin/python3 -c 'import boto3' 2>/dev/null && \
  [ -x /usr/bin/node ] && command -v npm >/dev/null && command -v jq >/dev/null && command -v ss >/dev/null

# The cluster test and benchmark (tests/cluster/, bench/bench_cluster.sh) run Debian's nginx in
# front of mmqd nodes, with its njs module for SQS ListQueues; the test reads JSON with jq and YAML
# with python3-yaml, and checks the compose file with docker-compose, offline, so without the
# Docker engine it recommends (make cluster-deps; the benchmark adds wrk).
CLUSTER_DEPS_PKGS := --no-install-recommends nginx libnginx-mod-http-js curl jq python3-yaml prometheus \
  docker-compose
CLUSTER_DEPS_CHECK := [ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] && \
  command -v curl >/dev/null && command -v jq >/dev/null && \
  command -v promtool >/dev/null && python3 -c 'import yaml' 2>/dev/null && \
  { command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1; }

WARN := -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Werror
CFLAGS ?= -O2 -g
CFLAGS += $(WARN) -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -pthread -MMD -MP
LDFLAGS += -pthread
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# Recursively expanded (=), so pkg-config is asked after `make deps` has installed the packages.
pc_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pc_libs = $(shell pkg-config --libs $(1) 2>/dev/null)
MHD_CFLAGS = $(call pc_cflags,libmicrohttpd)
MHD_LIBS = $(call pc_libs,libmicrohttpd)
CJSON_CFLAGS = $(call pc_cflags,libcjson)
CJSON_LIBS = $(call pc_libs,libcjson)
# nettle: MD5 and base64 for the SQS endpoint (api/sqs_message.c); api/ only.
NETTLE_CFLAGS = $(call pc_cflags,nettle)
NETTLE_LIBS = $(call pc_libs,nettle)
CRITERION_CFLAGS = $(call pc_cflags,criterion)
CRITERION_LIBS = $(call pc_libs,criterion)
CURL_CFLAGS = $(call pc_cflags,libcurl)
CURL_LIBS = $(call pc_libs,libcurl)
SQLITE_CFLAGS = $(call pc_cflags,sqlite3)
SQLITE_LIBS = $(call pc_libs,sqlite3)

# queue/ is built without the HTTP and JSON include flags, so a wrong include fails the build.
QUEUE_SRC := $(wildcard queue/*.c)
API_SRC := $(wildcard api/*.c)
SERVER_SRC := $(wildcard server/*.c)
QUEUE_OBJ := $(QUEUE_SRC:%.c=$(BUILD)/%.o)
API_OBJ := $(API_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
QUEUE_LIB := $(BUILD)/libmmq_queue.a
API_LIB := $(BUILD)/libmmq_api.a
MMQD := $(BUILD)/mmqd

# Tests: test_queue_*.c use the engine alone; every other tests/test_*.c runs a real mmqd (over
# HTTP, or as a command: test_cli, test_verify, test_logs, test_systemd) and links the HTTP helpers.
TEST_UTIL_OBJ := $(BUILD)/tests/testutil.o
QUEUE_TEST_OBJ := $(BUILD)/tests/queuetest.o
HTTP_UTIL_OBJ := $(BUILD)/tests/httputil.o
HTTP_TEST_OBJ := $(BUILD)/tests/httptest.o
SQS_TEST_OBJ := $(BUILD)/tests/sqstest.o
QUEUE_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_queue_*.c))
HTTP_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(filter-out tests/test_queue_%,$(wildcard tests/test_*.c)))
BENCH_QUEUE := $(BUILD)/bench/bench_queue
BENCH_STUB := $(BUILD)/bench/stub_server
BENCH_FLOOR := $(BUILD)/bench/msync_floor

.PHONY: all deps test-deps bench-deps fuzz-deps cluster-deps sqs-deps tests test check-layers test-queue \
	test-http test-sqs test-concurrency test-crash test-docker test-cluster run bench bench-queue bench-http \
	bench-sqs bench-cluster \
	clean install install-systemd format fuzz fuzz-build test-valgrind test-http-tsan

all: $(MMQD)

# The test programs, built without running them (make test builds and runs them).
tests: $(QUEUE_TESTS) $(HTTP_TESTS)

deps:
	$(call ensure,build dependencies,$(call have_pc,$(DEPS_PC)),$(DEPS_PKGS))

TEST_DEPS_CHECK = $(call have_pc,$(TEST_DEPS_PC)) && ($(call have_tools,$(TEST_DEPS_TOOLS)))
test-deps: deps
	$(call ensure,test dependencies,$(TEST_DEPS_CHECK),$(TEST_DEPS_PKGS))

bench-deps: deps
	$(call ensure,benchmark dependencies,$(call have_pc,$(BENCH_DEPS_PC)),$(BENCH_DEPS_PKGS))

$(BUILD)/queue/%.o: queue/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/api/%.o: api/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MHD_CFLAGS) $(CJSON_CFLAGS) $(NETTLE_CFLAGS) -c $< -o $@

$(BUILD)/server/%.o: server/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MHD_CFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c | test-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CRITERION_CFLAGS) $(CURL_CFLAGS) $(CJSON_CFLAGS) $(MHD_CFLAGS) -c $< -o $@

$(BUILD)/bench/%.o: bench/%.c | bench-deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SQLITE_CFLAGS) $(MHD_CFLAGS) -c $< -o $@

$(QUEUE_LIB): $(QUEUE_OBJ)
	$(AR) rcs $@ $^

$(API_LIB): $(API_OBJ)
	$(AR) rcs $@ $^

$(MMQD): $(SERVER_OBJ) $(API_LIB) $(QUEUE_LIB)
	$(CC) $(LDFLAGS) $^ $(MHD_LIBS) $(CJSON_LIBS) $(NETTLE_LIBS) -o $@

$(QUEUE_TESTS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(QUEUE_TEST_OBJ) $(TEST_UTIL_OBJ) $(QUEUE_LIB)
	$(CC) $(LDFLAGS) $^ $(CRITERION_LIBS) -o $@

$(HTTP_TESTS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_UTIL_OBJ) $(HTTP_UTIL_OBJ) $(HTTP_TEST_OBJ) $(SQS_TEST_OBJ) $(API_LIB) $(QUEUE_LIB)
	$(CC) $(LDFLAGS) $^ $(CRITERION_LIBS) $(CURL_LIBS) $(CJSON_LIBS) $(MHD_LIBS) $(NETTLE_LIBS) -o $@

$(BENCH_QUEUE): $(BUILD)/bench/bench_queue.o $(BUILD)/bench/bench_sqlite.o $(QUEUE_LIB)
	$(CC) $(LDFLAGS) $^ $(SQLITE_LIBS) -o $@

$(BENCH_STUB): $(BUILD)/bench/stub_server.o
	$(CC) $(LDFLAGS) $^ $(MHD_LIBS) -o $@

$(BENCH_FLOOR): $(BUILD)/bench/msync_floor.o
	$(CC) $(LDFLAGS) $^ -o $@

# Every test binary runs on its own; the first failure fails the target.
test: check-layers test-queue test-http test-sqs

# Each file of queue/ and api/ calls only files below it (the order is in tests/check_layers.sh).
check-layers: $(QUEUE_OBJ) $(API_OBJ)
	@sh tests/check_layers.sh $(QUEUE_OBJ) $(API_OBJ)

test-queue: $(QUEUE_TESTS) | test-deps
	@set -e; for t in $(QUEUE_TESTS); do echo "== $$t"; $$t --jobs 2; done

test-http: $(MMQD) $(HTTP_TESTS) | test-deps
	@set -e; for t in $(HTTP_TESTS); do echo "== $$t"; MMQD=$(abspath $(MMQD)) $$t --jobs 2; done

# The real AWS clients against a real mmqd each (tests/sqs/): the aws CLI and boto3 speak the
# Query protocol, the JavaScript SDK the JSON protocol.
SQS_NODE_MODULES := tests/sqs/node_modules/.package-lock.json
$(SQS_NODE_MODULES): tests/sqs/package.json tests/sqs/package-lock.json | sqs-deps
	cd tests/sqs && npm ci --no-audit --no-fund --loglevel=error
	touch $@

sqs-deps:
	$(call ensure,SQS client test dependencies,$(SQS_DEPS_CHECK),$(SQS_DEPS_PKGS))

test-sqs: $(MMQD) $(SQS_NODE_MODULES) | sqs-deps
	@set -e; export MMQD=$(abspath $(MMQD)); \
	echo "== tests/sqs/test_awscli.sh"; bash tests/sqs/test_awscli.sh; \
	echo "== tests/sqs/test_boto3.py"; /usr/bin/python3 tests/sqs/test_boto3.py; \
	echo "== tests/sqs/test_sdk.mjs"; /usr/bin/node tests/sqs/test_sdk.mjs

# The concurrency suite as a plain program (Criterion cannot start under ThreadSanitizer),
# built against tests/plain/: make SANITIZE=thread test-concurrency
PLAIN_CONCURRENCY := $(BUILD)/tests/plain_concurrency
$(PLAIN_CONCURRENCY): tests/test_queue_concurrency.c tests/plain/plain_main.c tests/testutil.c $(QUEUE_LIB) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/plain $(filter %.c,$^) $(QUEUE_LIB) $(LDFLAGS) -o $@

test-concurrency: $(PLAIN_CONCURRENCY)
	$(PLAIN_CONCURRENCY)

# The HTTP suites with every mmqd they start under valgrind memcheck (tests/httputil.c reads
# MMQD_WRAPPER). An error or a definite leak makes mmqd exit 99, which fails the test.
VALGRIND := valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--track-fds=no -q
test-valgrind: $(MMQD) $(HTTP_TESTS) | test-deps
	$(call ensure,valgrind,command -v valgrind >/dev/null 2>&1,valgrind)
	@test -z "$(SANITIZE)" || { echo "test-valgrind needs a build without SANITIZE" >&2; exit 2; }
	@set -e; for t in $(HTTP_TESTS); do echo "== $$t (mmqd under valgrind)"; \
	  MMQD=$(abspath $(MMQD)) MMQD_WRAPPER="$(VALGRIND)" $$t --jobs 2; done

# The HTTP suites against an mmqd built with ThreadSanitizer in $(BUILD)-tsan-mmqd (the test
# programs stay uninstrumented): a race stops mmqd with status 99, which fails the test.
TSAN_MMQD := $(BUILD)-tsan-mmqd/mmqd
test-http-tsan: $(HTTP_TESTS) | test-deps
	$(MAKE) BUILD=$(BUILD)-tsan-mmqd SANITIZE=thread $(TSAN_MMQD)
	@set -e; for t in $(HTTP_TESTS); do echo "== $$t (mmqd under ThreadSanitizer)"; \
	  MMQD=$(abspath $(TSAN_MMQD)) TSAN_OPTIONS="halt_on_error=1 exitcode=99" $$t --jobs 2; done

test-docker:
	bash tests/docker_test.sh

# nginx in front of three mmqd on 127.0.0.1, configured from deploy/cluster/ (docs/CLUSTER.md).
cluster-deps:
	$(call ensure,cluster test tools,$(CLUSTER_DEPS_CHECK),$(CLUSTER_DEPS_PKGS))

test-cluster: $(MMQD) | cluster-deps
	MMQD=$(abspath $(MMQD)) bash tests/cluster/test_cluster.sh

# The crash tests (tests/crash/): mmqd SIGKILLed under HTTP load and checked after every restart,
# then simulated power cuts of the engine's files. CI size by default; full size with
# make test-crash CRASH_ROUNDS=500 POWERCUT_IMAGES=100000
CRASH_ROUNDS ?= 20
POWERCUT_IMAGES ?= 1000
CRASH_LOOP := $(BUILD)/tests/crash/crash_loop
POWERCUT := $(BUILD)/tests/crash/powercut
CRASH_LOOP_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(addprefix tests/crash/,crash_loop.c client.c journal.c check.c payload.c))
POWERCUT_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(addprefix tests/crash/,powercut.c scenario.c image.c payload.c))

$(CRASH_LOOP): $(CRASH_LOOP_OBJ) $(TEST_UTIL_OBJ) $(HTTP_UTIL_OBJ)
	$(CC) $(LDFLAGS) $^ $(CURL_LIBS) -o $@

# --wrap=msync lets the power-cut test hold the engine's background syncs (see tests/crash/scenario.c).
$(POWERCUT): $(POWERCUT_OBJ) $(TEST_UTIL_OBJ) $(QUEUE_LIB)
	$(CC) $(LDFLAGS) -Wl,--wrap=msync $^ -o $@

test-crash: $(MMQD) $(CRASH_LOOP) $(POWERCUT)
	MMQD=$(abspath $(MMQD)) $(CRASH_LOOP) $(CRASH_ROUNDS)
	$(POWERCUT) $(POWERCUT_IMAGES)

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang whatever CC is, engine and api
# included, under AddressSanitizer and UBSan. make fuzz runs each for FUZZ_SECONDS.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
# FUZZ_INVARIANTS=0 checks only for crashes, hangs and memory errors, not for lost data.
FUZZ_INVARIANTS ?= 1
# clang and its libFuzzer runtime are needed only here: as root on Debian they are installed.
fuzz-deps: deps
	$(call ensure,clang with libFuzzer,echo 'int LLVMFuzzerTestOneInput(void) { return 0; }' | \
	  $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1,clang libclang-rt-14-dev)

FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS := -O1 -g $(WARN) -D_GNU_SOURCE -pthread -MMD -MP -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_QUEUE_OBJ := $(QUEUE_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_API_OBJ := $(API_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_UTIL_OBJ := $(FUZZ_DIR)/tests/fuzz/fuzzutil.o
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard tests/fuzz/fuzz_*.c))

$(FUZZ_DIR)/%.o: %.c | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(if $(filter queue/%,$<),,$(MHD_CFLAGS) $(CJSON_CFLAGS)) \
		$(if $(filter queue/%,$<),,$(NETTLE_CFLAGS)) -c $< -o $@

$(FUZZ_DIR)/fuzz_recovery: $(FUZZ_DIR)/tests/fuzz/fuzz_recovery.o $(FUZZ_UTIL_OBJ) $(FUZZ_QUEUE_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@

$(FUZZ_DIR)/fuzz_request: $(FUZZ_DIR)/tests/fuzz/fuzz_request.o $(FUZZ_UTIL_OBJ) $(FUZZ_API_OBJ) \
		$(FUZZ_QUEUE_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ $(MHD_LIBS) $(CJSON_LIBS) $(NETTLE_LIBS) -o $@

fuzz-build: $(FUZZ_TARGETS)

fuzz: $(FUZZ_TARGETS)
	@rc=0; for t in $(FUZZ_TARGETS); do MMQ_FUZZ_NO_INVARIANTS=$(if $(filter 0,$(FUZZ_INVARIANTS)),1,) \
		sh tests/fuzz/run.sh $$t $(FUZZ_SECONDS) || rc=1; done; exit $$rc

run: $(MMQD)
	$(MMQD) --listen $(LISTEN) --data-dir $(DATA_DIR)

bench: bench-queue bench-http

bench-queue: $(BENCH_QUEUE)
	$(BENCH_QUEUE)

bench-http: $(MMQD) $(BENCH_STUB) $(BENCH_FLOOR)
	MMQD=$(abspath $(MMQD)) STUB=$(abspath $(BENCH_STUB)) FLOOR=$(abspath $(BENCH_FLOOR)) \
		bash bench/bench_http.sh
	$(MAKE) bench-sqs

# SendMessage, ReceiveMessage and DeleteMessage through the SQS endpoint against the v1 API.
bench-sqs: $(MMQD)
	MMQD=$(abspath $(MMQD)) bash bench/bench_sqs.sh

# 3 nodes behind nginx against 1 node direct and 1 node behind nginx, with wrk.
bench-cluster: $(MMQD) | cluster-deps
	$(call ensure,wrk,command -v wrk >/dev/null 2>&1,wrk)
	MMQD=$(abspath $(MMQD)) bash bench/bench_cluster.sh

install: $(MMQD)
	install -D -m 0755 $(MMQD) $(DESTDIR)$(PREFIX)/bin/mmqd

# The systemd unit (server/mmqd.service), its ExecStart pointing at $(PREFIX)/bin/mmqd.
install-systemd:
	install -d $(DESTDIR)/etc/systemd/system
	sed 's|^ExecStart=/usr/local/bin/mmqd$$|ExecStart=$(PREFIX)/bin/mmqd|' server/mmqd.service \
		>$(DESTDIR)/etc/systemd/system/mmqd.service
	chmod 0644 $(DESTDIR)/etc/systemd/system/mmqd.service

# clang-format with .clang-format; make format FORMAT_FILES="queue/ops.c api/http.c" formats only those.
FORMAT_FILES ?= $(wildcard queue/*.[ch] api/*.[ch] server/*.[ch] tests/*.[ch] bench/*.c)
format:
	$(call ensure,clang-format,command -v clang-format >/dev/null 2>&1,clang-format)
	clang-format -i $(FORMAT_FILES)

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
