#!/usr/bin/env bash
# bench_http.sh: load-tests mmqd over HTTP with wrk, against a no-op server (the ceiling), Redis and one msync (the floor).
#
# Usage: MMQD=path/to/mmqd STUB=path/to/stub_server FLOOR=path/to/msync_floor bash bench/bench_http.sh
# (make bench-http sets all three). BENCH_SECONDS (default 5) is the length of
# each wrk run; BENCH_SCALE (default 1) multiplies it and the Redis request
# counts. BENCH_FULL=1 adds batches at 1 connection and --sync interval.
# Every server listens on a free 127.0.0.1 port with a fresh data directory in
# a temporary directory; all are stopped, by PID, and the directory removed on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MMQD:?set MMQD to the mmqd binary}"
: "${STUB:?set STUB to the stub_server binary}"
: "${FLOOR:?set FLOOR to the msync_floor binary}"
full=${BENCH_FULL:-0}
scale=${BENCH_SCALE:-1}
secs=$(awk -v s="${BENCH_SECONDS:-5}" -v k="$scale" 'BEGIN { d = int(s * k + 0.5); print (d < 1 ? 1 : d) }')
cores=$(nproc)
wrk_threads=2

# ---- tools ----

need_tools() {
	local missing=()
	command -v wrk >/dev/null || missing+=(wrk)
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v redis-benchmark >/dev/null || missing+=(redis-tools)
	command -v curl >/dev/null || missing+=(curl)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench_http: installing ${missing[*]}" >&2
		apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
		return 0
	fi
	echo "bench_http: missing ${missing[*]}; install them with:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
}

# ---- servers ----

tmp=$(mktemp -d /tmp/mmq-bench-http-XXXXXX)
pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port and wait_http come from tests/netutil.sh.
# shellcheck source=tests/netutil.sh
source "$here/../tests/netutil.sh"

# start_server LOG PATH CMD...: runs CMD (where @PORT@ stands for a free port) until it
# answers GET PATH, trying other ports if it dies at once; sets srv_pid and srv_url.
start_server() {
	local log=$1 path=$2 port try
	shift 2
	for try in 1 2 3 4 5; do
		port=$(free_port)
		"${@//@PORT@/$port}" 2>"$log" &
		srv_pid=$!
		pids+=("$srv_pid")
		srv_url="http://127.0.0.1:$port"
		wait_http "$srv_pid" "$srv_url$path" && return 0
		stop_server "$srv_pid"
		echo "bench_http: $1 failed to start (try $try):" >&2
		cat "$log" >&2
	done
	exit 1
}

# stop_server kills pid and waits for it.
stop_server() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# start_mmqd MODE starts a fresh mmqd; sets srv_pid and srv_url.
start_mmqd() {
	local dir
	dir=$(mktemp -d "$tmp/mmqd-$1-XXXX")
	start_server "$dir/stderr" /healthz "$MMQD" --listen "127.0.0.1:@PORT@" --data-dir "$dir/data" \
		--sync "$1" --threads "$cores"
}

start_stub() {
	start_server "$tmp/stub.stderr" / "$STUB" --listen "127.0.0.1:@PORT@" --threads "$cores"
}

# ---- the disk and mmqd's own counters ----

# The block device under the data directories, for its write and flush counters.
dev_stat=/sys/dev/block/$(stat -c '%Hd:%Ld' "$tmp")/stat
[ -r "$dev_stat" ] || dev_stat=

# dev_counts prints the device's completed writes and flushes so far ("0 0" when unknown).
dev_counts() {
	if [ -n "$dev_stat" ]; then
		awk '{ print $5, (NF >= 16 ? $16 : 0) }' "$dev_stat"
	else
		echo "0 0"
	fi
}

# metric NAME prints counter NAME of the running mmqd's /metrics (0 when absent).
metric() {
	curl -s "$srv_url/metrics" | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}

declare -A RPM WPS FPS
c_syncs=0 c_waiters=0 c_w=0 c_f=0

# commit_begin and commit_end KEY bracket one run against mmqd --sync always: requests per
# msync (changes made durable per sync pass) and device writes and flushes per msync.
commit_begin() {
	c_syncs=$(metric mmq_syncs_total)
	c_waiters=$(metric mmq_sync_waiters_total)
	read -r c_w c_f < <(dev_counts)
}

commit_end() {
	local key=$1 syncs waiters w f
	syncs=$(metric mmq_syncs_total)
	waiters=$(metric mmq_sync_waiters_total)
	read -r w f < <(dev_counts)
	syncs=$((syncs - c_syncs))
	RPM[$key]=$(ratio "$((waiters - c_waiters))" "$syncs")
	WPS[$key]=$(ratio "$((w - c_w))" "$syncs")
	FPS[$key]=$(ratio "$((f - c_f))" "$syncs")
}

FLOOR_P50=() FLOOR_W=() FLOOR_F=()

# measure_floor times 1000 msyncs of one freshly dirtied page in a file made like a segment.
measure_floor() {
	local out
	out=$("$FLOOR" "$tmp" 1000) || { echo "bench_http: msync_floor failed" >&2; return 0; }
	echo "  floor: $out" >&2
	FLOOR_P50+=("$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <<<"$out")")
	FLOOR_W+=("$(sed -n 's/.*writes_per_sync=\([0-9.]*\).*/\1/p' <<<"$out")")
	FLOOR_F+=("$(sed -n 's/.*flushes_per_sync=\([0-9.]*\).*/\1/p' <<<"$out")")
}

# median prints the median of its arguments (empty ones skipped).
median() {
	printf '%s\n' "$@" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit; print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# ---- measuring ----

declare -A RPS MPS P50 P99 CPU
rows=()

# cpu_ticks prints the machine's busy and total CPU ticks so far (/proc/stat; iowait is idle).
cpu_ticks() {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# cpu_busy B0 T0: the percentage of the machine's CPU time busy since cpu_ticks printed B0 T0.
cpu_busy() {
	local b t
	read -r b t < <(cpu_ticks)
	awk -v b="$((b - $1))" -v t="$((t - $2))" 'BEGIN { if (t > 0) printf "%.0f", 100 * b / t; else print "-" }'
}

# wrk_run KEY URL SCRIPT CONNS SECONDS: runs wrk, keeps req/s, msgs/s, p50, p99 (ms) under KEY;
# against mmqd --sync always also the group-commit figures (commit_begin/commit_end).
wrk_run() {
	local key=$1 url=$2 script=$3 conns=$4 seconds=$5 out line commit=0
	local w_requests w_msgs w_empty w_errors w_duration_us w_p50_us w_p99_us b0 t0
	[[ $key == "mmqd "*" always "* ]] && commit=1
	[ "$commit" = 1 ] && commit_begin
	read -r b0 t0 < <(cpu_ticks)
	# wrk needs at least one connection per thread.
	out=$(wrk -t"$((conns < wrk_threads ? conns : wrk_threads))" -c"$conns" -d"${seconds}s" --timeout 10s --latency \
		-s "$here/$script" "$url")
	CPU[$key]=$(cpu_busy "$b0" "$t0")
	line=$(grep '^BENCH ' <<<"$out") || { echo "$out" >&2; return 1; }
	eval "$(sed 's/^BENCH //; s/\([a-z0-9_]*\)=/w_\1=/g' <<<"$line")"
	[ "$commit" = 1 ] && commit_end "$key"
	RPS[$key]=$(awk -v n="$w_requests" -v d="$w_duration_us" 'BEGIN { printf "%.0f", n * 1e6 / d }')
	MPS[$key]=$(awk -v n="$w_msgs" -v d="$w_duration_us" 'BEGIN { printf "%.0f", n * 1e6 / d }')
	P50[$key]=$(awk -v u="$w_p50_us" 'BEGIN { printf "%.2f", u / 1000 }')
	P99[$key]=$(awk -v u="$w_p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
	if [ "$w_errors" != 0 ] || [ "$w_empty" != 0 ]; then
		echo "  note: $key: $w_errors failed requests, $w_empty came back empty" >&2
	fi
	rows+=("$key")
	printf '  %-28s %10s req/s %10s msgs/s  p50 %7s ms  p99 %7s ms\n' "$key" "${RPS[$key]}" \
		"${MPS[$key]}" "${P50[$key]}" "${P99[$key]}" >&2
}

# prefill URL SECONDS: fills queue "bench" with batches so that pop and lease have work.
prefill() {
	wrk -t"$wrk_threads" -c8 -d"${2}s" --timeout 10s -s "$here/batch_100.lua" "$1" >/dev/null
}

# bench_mmqd MODE: every workload against a fresh mmqd in sync mode MODE.
bench_mmqd() {
	local m=$1 c
	echo "mmqd --sync $m" >&2
	start_mmqd "$m"
	wrk_run "mmqd enqueue $m 64" "$srv_url" enqueue_512.lua 64 "$secs"
	wrk_run "mmqd enqueue $m 1" "$srv_url" enqueue_512.lua 1 "$secs"
	if [ "$m" != interval ]; then
		wrk_run "mmqd batch $m 64" "$srv_url" batch_100.lua 64 "$secs"
		[ "$full" = 1 ] && wrk_run "mmqd batch $m 1" "$srv_url" batch_100.lua 1 "$secs"
		for c in 64 1; do
			prefill "$srv_url" "$((c == 64 ? secs : (secs + 1) / 2))"
			wrk_run "mmqd pop $m $c" "$srv_url" pop.lua "$c" "$secs"
		done
		for c in 64 1; do
			prefill "$srv_url" "$((c == 64 ? secs : (secs + 1) / 2))"
			wrk_run "mmqd lease+ack $m $c" "$srv_url" lease_ack.lua "$c" "$secs"
		done
	fi
	stop_server "$srv_pid"
}

bench_stub() {
	echo "stub_server (the ceiling)" >&2
	start_stub
	wrk_run "stub enqueue - 64" "$srv_url" enqueue_512.lua 64 "$secs"
	wrk_run "stub enqueue - 1" "$srv_url" enqueue_512.lua 1 "$secs"
	wrk_run "stub batch - 64" "$srv_url" batch_100.lua 64 "$secs"
	[ "$full" = 1 ] && wrk_run "stub batch - 1" "$srv_url" batch_100.lua 1 "$secs"
	wrk_run "stub pop - 64" "$srv_url" pop.lua 64 "$secs"
	wrk_run "stub pop - 1" "$srv_url" pop.lua 1 "$secs"
	stop_server "$srv_pid"
}

# bench_redis FSYNC N: LPUSH then RPOP, N requests each, 64 clients, 512-byte values.
bench_redis() {
	local fsync=$1 n=$2 port dir pid out
	echo "redis-server --appendfsync $fsync" >&2
	port=$(free_port)
	dir=$(mktemp -d "$tmp/redis-$fsync-XXXX")
	redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly yes \
		--appendfsync "$fsync" --daemonize no --logfile "$dir/log" &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	redis-cli -p "$port" ping >/dev/null 2>&1 || { cat "$dir/log" >&2; exit 1; }
	local b0 t0 cpu
	read -r b0 t0 < <(cpu_ticks)
	out=$(redis-benchmark -h 127.0.0.1 -p "$port" -t lpush,rpop -c 64 -P 1 -d 512 -n "$n" --csv)
	cpu=$(cpu_busy "$b0" "$t0")
	while IFS=, read -r test rps _ _ p50 _ p99 _; do
		test=${test//\"/}
		[ "$test" = test ] && continue
		local key="redis ${test,,} $fsync 64"
		RPS[$key]=$(awk -v r="${rps//\"/}" 'BEGIN { printf "%.0f", r }')
		MPS[$key]=${RPS[$key]}
		CPU[$key]=$cpu
		P50[$key]=${p50//\"/}
		P99[$key]=${p99//\"/}
		rows+=("$key")
		printf '  %-28s %10s req/s  p50 %s ms  p99 %s ms\n' "$key" "${RPS[$key]}" \
			"${P50[$key]}" "${P99[$key]}" >&2
	done <<<"$out"
	stop_server "$pid"
}

declare -A SYSC CTXSW

# count_syscalls CONNS: a separate short run of durable enqueues at CONNS connections with
# mmqd under perf stat, for its system calls and context switches (wake-ups) per request.
count_syscalls() {
	local conns=$1 dir perf_pid mmqd_pid out requests port
	command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1 || {
		echo "  (perf is missing or cannot count system calls here: skipped)" >&2
		return 0
	}
	dir=$(mktemp -d "$tmp/perf-XXXX")
	port=$(free_port)
	perf stat -x, -o "$dir/perf" -e raw_syscalls:sys_enter,context-switches -- "$MMQD" \
		--listen "127.0.0.1:$port" --data-dir "$dir/data" --sync always --threads "$cores" 2>"$dir/log" &
	perf_pid=$!
	pids+=("$perf_pid")
	srv_url="http://127.0.0.1:$port"
	wait_http "$perf_pid" "$srv_url/healthz" || return 0
	mmqd_pid=$(pgrep -P "$perf_pid" | head -1)
	out=$(wrk -t"$((conns < wrk_threads ? conns : wrk_threads))" -c"$conns" -d"$(((secs + 1) / 2 + 1))s" \
		--timeout 10s -s "$here/enqueue_512.lua" "$srv_url" | grep '^BENCH ')
	kill -INT "$mmqd_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$out")
	SYSC[$conns]=$(awk -F, -v r="$requests" '/raw_syscalls/ && r > 0 { printf "%.1f", $1 / r }' "$dir/perf")
	CTXSW[$conns]=$(awk -F, -v r="$requests" '/context-switches/ && r > 0 { printf "%.2f", $1 / r }' "$dir/perf")
	echo "  durable enqueue, $conns connections, under perf: ${SYSC[$conns]:-?} syscalls and" \
		"${CTXSW[$conns]:-?} context switches per request" >&2
}

# ---- the report ----

# ratio A B prints A/B with two decimals, or - when either is missing.
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

# verdict A OP B prints "met" when A OP B holds numerically, "NOT MET" otherwise (or when missing).
verdict() {
	awk -v a="${1:-}" -v b="${3:-}" -v op="$2" 'BEGIN {
		if (a == "" || b == "" || a == "-" || b == "-") { print "not measured"; exit }
		ok = op == ">=" ? a + 0 >= b + 0 : a + 0 <= b + 0; print ok ? "met" : "NOT MET" }'
}

declare -A REDIS_FSYNC=([always]=always [interval]=everysec [none]=no)
declare -A STUB_OF=([enqueue]=enqueue [batch]=batch [pop]=pop [lease+ack]=pop)
declare -A REDIS_OF=([enqueue]=lpush [batch]=lpush [pop]=rpop [lease+ack]=rpop)

print_report() {
	local key target work mode conns ceil red
	printf '\n%-6s %-10s %-9s %5s %10s %10s %8s %8s %5s %7s %7s %8s %8s %8s\n' target workload sync conns \
		'req/s' 'msgs/s' 'p50 ms' 'p99 ms' 'cpu%' 'x ceil' 'x redis' 'req/sync' 'wr/sync' 'fl/sync'
	for key in "${rows[@]}"; do
		read -r target work mode conns <<<"$key"
		ceil=- red=-
		if [ "$target" = mmqd ]; then
			ceil=$(ratio "${RPS[$key]}" "${RPS[stub ${STUB_OF[$work]} - $conns]:-}")
			red=$(ratio "${MPS[$key]}" "${RPS[redis ${REDIS_OF[$work]} ${REDIS_FSYNC[$mode]} $conns]:-}")
		fi
		printf '%-6s %-10s %-9s %5s %10s %10s %8s %8s %5s %7s %7s %8s %8s %8s\n' "$target" "$work" "$mode" \
			"$conns" "${RPS[$key]}" "${MPS[$key]}" "${P50[$key]}" "${P99[$key]}" "${CPU[$key]:--}" "$ceil" "$red" \
			"${RPM[$key]:--}" "${WPS[$key]:--}" "${FPS[$key]:--}"
	done
	cat <<-'NOTE'
	req/s counts HTTP requests; msgs/s counts messages stored, delivered, or leased and acked
	(a lease+ack pair is two requests and one message). "x ceil" is mmqd's req/s over the
	stub's for the same kind of request and connections; "x redis" is mmqd's msgs/s over Redis
	LPUSH (enqueue, batch) or RPOP (pop, lease+ack) with appendfsync always / everysec / no for
	mmqd's --sync always / interval / none. cpu% is how busy the machine's cores were during
	the run (wrk or redis-benchmark included; iowait counts as idle). For --sync always,
	req/sync is the changes made durable per msync (group commit), wr/sync and fl/sync the writes and flushes the data
	disk completed per msync (the whole machine's, so other I/O counts too). wrk, the
	servers and Redis share this machine's cores and disk with whatever else runs on it.
	NOTE
}

# goal TEXT A OP B: prints one goal line with its verdict.
goal() {
	printf '  %-78s %s\n' "$1" "$(verdict "$2" "$3" "$4")"
}

print_goals() {
	local ceil=${RPS[stub enqueue - 64]:-} pceil=${RPS[stub pop - 64]:-}
	local lpush=${RPS[redis lpush always 64]:-} rpop=${RPS[redis rpop always 64]:-}
	local e=${RPS[mmqd enqueue always 64]:-} p=${MPS[mmqd pop always 64]:-}
	local la=${MPS[mmqd lease+ack always 64]:-} n=${RPS[mmqd enqueue none 64]:-}
	local floor lat1 floor13
	floor=$(median "${FLOOR_P50[@]}")
	lat1=$(awk -v m="${P50[mmqd enqueue always 1]:-}" 'BEGIN { if (m != "") printf "%.1f", m * 1000 }')
	floor13=$(awk -v f="$floor" 'BEGIN { if (f != "") printf "%.1f", f * 1.3 }')
	echo
	echo "Floor: one msync of a freshly dirtied page in a file made like a segment, median of" \
		"${#FLOOR_P50[@]} runs of 1000: p50 ${floor:-?} us (runs: ${FLOOR_P50[*]:-none});" \
		"$(median "${FLOOR_W[@]}") writes and $(median "${FLOOR_F[@]}") flushes per msync."
	echo "Goals (same run; 64 connections unless said):"
	goal "durable enqueue $e req/s >= Redis LPUSH always ${lpush:-?} ($(ratio "$e" "$lpush")x)" "$(ratio "$e" "$lpush")" '>=' 1
	goal "durable enqueue $e req/s >= 0.5 of the ceiling ${ceil:-?} ($(ratio "$e" "$ceil"))" "$(ratio "$e" "$ceil")" '>=' 0.5
	goal "durable pop $p msgs/s >= Redis RPOP always ${rpop:-?} ($(ratio "$p" "$rpop")x)" "$(ratio "$p" "$rpop")" '>=' 1
	goal "durable lease+ack $la msgs/s >= Redis RPOP always ${rpop:-?} ($(ratio "$la" "$rpop")x)" "$(ratio "$la" "$rpop")" '>=' 1
	goal "durable pop ${RPS[mmqd pop always 64]:-?} req/s >= 0.5 of the pop ceiling ${pceil:-?} ($(ratio "${RPS[mmqd pop always 64]:-}" "$pceil"))" \
		"$(ratio "${RPS[mmqd pop always 64]:-}" "$pceil")" '>=' 0.5
	goal "durable lease+ack ${RPS[mmqd lease+ack always 64]:-?} req/s >= 0.5 of the pop ceiling ($(ratio "${RPS[mmqd lease+ack always 64]:-}" "$pceil"))" \
		"$(ratio "${RPS[mmqd lease+ack always 64]:-}" "$pceil")" '>=' 0.5
	goal "enqueue --sync none $n req/s >= 0.8 of the ceiling ($(ratio "$n" "$ceil"))" "$(ratio "$n" "$ceil")" '>=' 0.8
	goal "1 connection: durable enqueue p50 ${lat1:-?} us <= 1.3 x floor = ${floor13:-?} us ($(ratio "$lat1" "$floor")x)" "$lat1" '<=' "$floor13"
	echo "Group commit: ${RPM[mmqd enqueue always 64]:-?} requests per msync (enqueue, 64 connections)," \
		"${WPS[mmqd enqueue always 64]:-?} device writes and ${FPS[mmqd enqueue always 64]:-?} flushes per msync."
	echo "System calls per durable enqueue: ${SYSC[64]:-?} at 64 connections, ${SYSC[1]:-?} at 1;" \
		"context switches (wake-ups) per request: ${CTXSW[64]:-?} and ${CTXSW[1]:-?} (perf stat over mmqd)."
	print_why "$ceil" "$e" "$n" "$rpop"
}

# print_why CEIL DURABLE NONE RPOP: the measured facts that bound the goals on this machine.
print_why() {
	local ceil=$1 e=$2 n=$3 rpop=$4
	echo "What bounds them here (same run):"
	echo "  - cores busy: stub ${CPU[stub enqueue - 64]:-?}%, mmqd enqueue always ${CPU[mmqd enqueue always 64]:-?}%," \
		"none ${CPU[mmqd enqueue none 64]:-?}%, Redis LPUSH always ${CPU[redis lpush always 64]:-?}%:" \
		"near 100% the shared cores (client, server, kernel writeback), not the disk, set the pace."
	echo "  - mmqd without syncing (--sync none) reaches $(ratio "$n" "$ceil") of the ceiling: the parse," \
		"append and index work the stub does not do. The durable path adds the msync and the wait" \
		"for it, and runs at $(ratio "$e" "$n") of --sync none."
	echo "  - lease+ack is two requests per message and RPOP one: matching RPOP's ${rpop:-?} msgs/s" \
		"takes $(awk -v r="${rpop:-0}" 'BEGIN { printf "%.0f", 2 * r }') req/s of lease+ack, against" \
		"${RPS[mmqd lease+ack none 64]:-?} req/s of lease+ack with no sync at all."
}

main() {
	local start=$SECONDS m modes=(always none)
	need_tools
	[ "$full" = 1 ] && modes=(always interval none)
	echo "bench_http: ${secs}s per wrk run (wrk -t$wrk_threads), $cores cores, $(uname -sr)," \
		"$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(redis-server --version | cut -d' ' -f1-3)"
	measure_floor
	bench_stub
	for m in "${modes[@]}"; do
		bench_mmqd "$m"
		measure_floor
	done
	bench_redis always "$(awk -v s="$secs" 'BEGIN { print int(40000 * s) }')"
	if [ "$full" = 1 ]; then
		bench_redis everysec "$(awk -v s="$secs" 'BEGIN { print int(60000 * s) }')"
		bench_redis no "$(awk -v s="$secs" 'BEGIN { print int(60000 * s) }')"
	fi
	echo "system calls and wake-ups (perf stat)" >&2
	count_syscalls 64
	count_syscalls 1
	print_report
	print_goals
	echo "(bench_http took $((SECONDS - start)) s)"
}

main "$@"
