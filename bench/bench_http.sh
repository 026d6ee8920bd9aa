#!/usr/bin/env bash
# bench_http.sh: load-tests mmqd over HTTP with wrk, against a no-op server (the ceiling) and Redis.
#
# Usage: MMQD=path/to/mmqd STUB=path/to/stub_server bash bench/bench_http.sh
# (make bench-http sets both). BENCH_SECONDS (default 5) is the length of each
# wrk run; BENCH_SCALE (default 1) multiplies it and the Redis request counts.
# Every server listens on a free 127.0.0.1 port with a fresh data directory in
# a temporary directory; all are stopped, by PID, and the directory removed on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MMQD:?set MMQD to the mmqd binary}"
: "${STUB:?set STUB to the stub_server binary}"
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

# ---- measuring ----

declare -A RPS MPS P50 P99
rows=()

# wrk_run KEY URL SCRIPT CONNS SECONDS: runs wrk, keeps req/s, msgs/s, p50, p99 (ms) under KEY.
wrk_run() {
	local key=$1 url=$2 script=$3 conns=$4 seconds=$5 out line
	local w_requests w_msgs w_empty w_errors w_duration_us w_p50_us w_p99_us
	# wrk needs at least one connection per thread.
	out=$(wrk -t"$((conns < wrk_threads ? conns : wrk_threads))" -c"$conns" -d"${seconds}s" --timeout 10s --latency \
		-s "$here/$script" "$url")
	line=$(grep '^BENCH ' <<<"$out") || { echo "$out" >&2; return 1; }
	eval "$(sed 's/^BENCH //; s/\([a-z0-9_]*\)=/w_\1=/g' <<<"$line")"
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
	local m=$1
	echo "mmqd --sync $m" >&2
	start_mmqd "$m"
	wrk_run "mmqd enqueue $m 64" "$srv_url" enqueue_512.lua 64 "$secs"
	wrk_run "mmqd enqueue $m 1" "$srv_url" enqueue_512.lua 1 "$secs"
	if [ "$m" != interval ]; then
		wrk_run "mmqd batch $m 64" "$srv_url" batch_100.lua 64 "$secs"
		wrk_run "mmqd batch $m 1" "$srv_url" batch_100.lua 1 "$secs"
		prefill "$srv_url" "$secs"
		wrk_run "mmqd pop $m 64" "$srv_url" pop.lua 64 "$secs"
		wrk_run "mmqd pop $m 1" "$srv_url" pop.lua 1 "$secs"
		prefill "$srv_url" "$secs"
		wrk_run "mmqd lease+ack $m 64" "$srv_url" lease_ack.lua 64 "$secs"
		wrk_run "mmqd lease+ack $m 1" "$srv_url" lease_ack.lua 1 "$secs"
	fi
	stop_server "$srv_pid"
}

bench_stub() {
	echo "stub_server (the ceiling)" >&2
	start_stub
	wrk_run "stub enqueue - 64" "$srv_url" enqueue_512.lua 64 "$secs"
	wrk_run "stub enqueue - 1" "$srv_url" enqueue_512.lua 1 "$secs"
	wrk_run "stub batch - 64" "$srv_url" batch_100.lua 64 "$secs"
	wrk_run "stub batch - 1" "$srv_url" batch_100.lua 1 "$secs"
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
	out=$(redis-benchmark -h 127.0.0.1 -p "$port" -t lpush,rpop -c 64 -P 1 -d 512 -n "$n" --csv)
	while IFS=, read -r test rps _ _ p50 _ p99 _; do
		test=${test//\"/}
		[ "$test" = test ] && continue
		local key="redis ${test,,} $fsync 64"
		RPS[$key]=$(awk -v r="${rps//\"/}" 'BEGIN { printf "%.0f", r }')
		MPS[$key]=${RPS[$key]}
		P50[$key]=${p50//\"/}
		P99[$key]=${p99//\"/}
		rows+=("$key")
		printf '  %-28s %10s req/s  p50 %s ms  p99 %s ms\n' "$key" "${RPS[$key]}" \
			"${P50[$key]}" "${P99[$key]}" >&2
	done <<<"$out"
	stop_server "$pid"
}

# ---- the report ----

# ratio A B prints A/B with two decimals, or - when either is missing.
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

# verdict A OP B prints "yes" when A OP B holds numerically, "no" otherwise (or when missing).
verdict() {
	awk -v a="${1:-}" -v b="${3:-}" -v op="$2" 'BEGIN {
		if (a == "" || b == "") { print "no (not measured)"; exit }
		ok = op == ">=" ? a + 0 >= b + 0 : 0; print ok ? "yes" : "no" }'
}

declare -A REDIS_FSYNC=([always]=always [interval]=everysec [none]=no)
declare -A STUB_OF=([enqueue]=enqueue [batch]=batch [pop]=pop [lease+ack]=pop)
declare -A REDIS_OF=([enqueue]=lpush [batch]=lpush [pop]=rpop)

print_report() {
	local key target work mode conns ceil red
	printf '\n%-6s %-10s %-9s %5s %10s %10s %8s %8s %8s %8s\n' target workload sync conns \
		'req/s' 'msgs/s' 'p50 ms' 'p99 ms' 'x ceil' 'x redis'
	for key in "${rows[@]}"; do
		read -r target work mode conns <<<"$key"
		ceil=- red=-
		if [ "$target" = mmqd ]; then
			ceil=$(ratio "${RPS[$key]}" "${RPS[stub ${STUB_OF[$work]} - $conns]:-}")
			if [ -n "${REDIS_OF[$work]:-}" ]; then
				red=$(ratio "${MPS[$key]}" \
					"${RPS[redis ${REDIS_OF[$work]} ${REDIS_FSYNC[$mode]} $conns]:-}")
			fi
		fi
		printf '%-6s %-10s %-9s %5s %10s %10s %8s %8s %8s %8s\n' "$target" "$work" "$mode" \
			"$conns" "${RPS[$key]}" "${MPS[$key]}" "${P50[$key]}" "${P99[$key]}" "$ceil" "$red"
	done
	cat <<-'NOTE'
	req/s counts HTTP requests; msgs/s counts messages stored, delivered, or leased and acked
	(a lease+ack pair is two requests and one message). "x ceil" is mmqd's req/s over the
	stub's for the same kind of request and connections; "x redis" is mmqd's msgs/s over Redis
	LPUSH (enqueue, batch) or RPOP (pop) with appendfsync always / everysec / no for mmqd's
	--sync always / interval / none. wrk, the server and Redis share this machine's cores.
	NOTE
}

print_goals() {
	local durable=${RPS[mmqd enqueue always 64]:-} none=${RPS[mmqd enqueue none 64]:-}
	local ceil=${RPS[stub enqueue - 64]:-} redis=${RPS[redis lpush always 64]:-}
	local half three
	half=$(awk -v c="${ceil:-0}" 'BEGIN { printf "%.0f", c * 0.5 }')
	three=$(awk -v c="${ceil:-0}" 'BEGIN { printf "%.0f", c * 0.75 }')
	echo
	echo "Goals (64 connections):"
	echo "  durable enqueue (--sync always) ${durable:-?} req/s >= 50% of ceiling ($half):" \
		"$(verdict "$durable" '>=' "$half")"
	echo "  durable enqueue ${durable:-?} req/s >= Redis LPUSH appendfsync always (${redis:-?}):" \
		"$(verdict "$durable" '>=' "$redis")"
	echo "  enqueue --sync none ${none:-?} req/s >= 75% of ceiling ($three):" \
		"$(verdict "$none" '>=' "$three")"
	echo "  batches of 100 x 512 B (--sync always) ${MPS[mmqd batch always 64]:-?} msgs/s >= 300000:" \
		"$(verdict "${MPS[mmqd batch always 64]:-}" '>=' 300000)"
	echo "  batches of 100 x 512 B (--sync none) ${MPS[mmqd batch none 64]:-?} msgs/s >= 300000:" \
		"$(verdict "${MPS[mmqd batch none 64]:-}" '>=' 300000)"
}

main() {
	local start=$SECONDS m
	need_tools
	echo "bench_http: ${secs}s per wrk run (wrk -t$wrk_threads), $cores cores, $(uname -sr)," \
		"$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(redis-server --version | cut -d' ' -f1-3)"
	bench_stub
	for m in always interval none; do
		bench_mmqd "$m"
	done
	bench_redis always "$(awk -v s="$secs" 'BEGIN { print int(40000 * s) }')"
	bench_redis everysec "$(awk -v s="$secs" 'BEGIN { print int(60000 * s) }')"
	bench_redis no "$(awk -v s="$secs" 'BEGIN { print int(60000 * s) }')"
	print_report
	print_goals
	echo "(bench_http took $((SECONDS - start)) s)"
}

main "$@"
