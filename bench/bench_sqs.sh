#!/usr/bin/env bash
# bench_sqs.sh: the same work through mmqd's SQS endpoint and through its v1 API, in one run, with the ratio.
#
# Usage: MMQD=path/to/mmqd bash bench/bench_sqs.sh (make bench-sqs and make bench-http run it).
# For --sync always and none, one fresh mmqd each, wrk -t2 -c64 runs, BENCH_SECONDS (default 5)
# times BENCH_SCALE (default 1) each:
#   send:            v1 enqueue_512.lua (POST /v1/queues/bench/messages, 512-byte JSON)
#                    against SQS sqs_send.lua (SendMessage of a 512-byte body, JSON protocol);
#   receive+delete:  v1 lease_ack.lua (lease one, then ack it) against SQS
#                    sqs_receive_delete.lua (ReceiveMessage of one, then DeleteMessage),
#                    each on its queue prefilled by batches for the same time.
# The queues are checked to still hold messages after the receive runs (no empty receives).
# mmqd listens on 127.0.0.1 port 0 with a data directory under /tmp; both go when it exits.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MMQD:?set MMQD to the mmqd binary}"
secs=$(awk -v s="${BENCH_SECONDS:-5}" -v k="${BENCH_SCALE:-1}" 'BEGIN { d = int(s * k + 0.5); print (d < 1 ? 1 : d) }')
conns=64

if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk curl >&2
	else
		echo "bench_sqs: needs wrk and curl: sudo apt-get install -y wrk curl" >&2
		exit 1
	fi
fi

tmp=$(mktemp -d /tmp/mmq-bench-sqs-XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_mmqd MODE: a fresh mmqd on port 0 with --sync MODE; sets pid and url.
start_mmqd() {
	local log=$tmp/mmqd-$1.log port=
	: >"$log"
	"$MMQD" --listen 127.0.0.1:0 --data-dir "$tmp/data-$1" --sync "$1" --threads "$(nproc)" 2>>"$log" &
	pid=$!
	for _ in $(seq 300); do
		port=$(sed -n 's/.*event=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
		sleep 0.05
	done
	[ -n "$port" ] || { echo "bench_sqs: mmqd did not start" >&2; exit 1; }
	url=http://127.0.0.1:$port
}

stop_mmqd() {
	kill "$pid"
	wait "$pid" || true
	pid=
}

# sqs ACTION JSON: one SQS call (JSON protocol) that must answer 200.
sqs() {
	curl -sf -o /dev/null -X POST "$url/" -H "X-Amz-Target: AmazonSQS.$1" \
		-H 'Content-Type: application/x-amz-json-1.0' -d "$2" ||
		{ echo "bench_sqs: SQS $1 failed" >&2; exit 1; }
}

# depth QUEUE prints the queue's deliverable messages (v1 stats).
depth() {
	curl -sf "$url/v1/queues/$1" | sed -n 's/.*"depth":\([0-9]*\).*/\1/p'
}

declare -A RPS MPS
# run KEY SCRIPT: wrk with SCRIPT for $secs at $conns connections; keeps req/s and msgs/s.
run() {
	local out line w_requests w_msgs w_empty w_errors w_duration_us w_p50_us w_p99_us
	out=$(wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s "$here/$2" "$url")
	line=$(grep '^BENCH ' <<<"$out") || { echo "$out" >&2; exit 1; }
	eval "$(sed 's/^BENCH //; s/\([a-z0-9_]*\)=/w_\1=/g' <<<"$line")"
	RPS[$1]=$(awk -v n="$w_requests" -v d="$w_duration_us" 'BEGIN { printf "%.0f", n * 1e6 / d }')
	MPS[$1]=$(awk -v n="$w_msgs" -v d="$w_duration_us" 'BEGIN { printf "%.0f", n * 1e6 / d }')
	[ "$w_errors" = 0 ] || echo "  note: $1: $w_errors failed requests" >&2
	printf '  %-28s %8s req/s %8s msgs/s  p50 %6.2f ms  p99 %6.2f ms\n' "$1" "${RPS[$1]}" "${MPS[$1]}" \
		"$(awk -v u="$w_p50_us" 'BEGIN { print u / 1000 }')" "$(awk -v u="$w_p99_us" 'BEGIN { print u / 1000 }')" >&2
}

bench_mode() {
	local m=$1 q
	echo "mmqd --sync $m, $conns connections, ${secs}s per run" >&2
	start_mmqd "$m"
	sqs CreateQueue '{"QueueName":"sqsbench"}'
	run "v1 send $m" enqueue_512.lua
	run "sqs send $m" sqs_send.lua
	wrk -t2 -c8 -d"${secs}s" -s "$here/batch_100.lua" "$url" >/dev/null
	SQS_BATCH=10 wrk -t2 -c8 -d"${secs}s" -s "$here/sqs_send.lua" "$url" >/dev/null
	run "v1 receive+delete $m" lease_ack.lua
	run "sqs receive+delete $m" sqs_receive_delete.lua
	for q in bench sqsbench; do
		[ "$(depth "$q")" -gt 0 ] || echo "  note: queue $q ran empty: its receive figure counts empty answers" >&2
	done
	stop_mmqd
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

start=$SECONDS
for mode in always none; do
	bench_mode "$mode"
done
printf '\n%-15s %-7s %10s %10s %8s %10s %10s %8s\n' workload sync 'v1 req/s' 'sqs req/s' 'x v1' \
	'v1 msg/s' 'sqs msg/s' 'x v1'
for work in send receive+delete; do
	for mode in always none; do
		printf '%-15s %-7s %10s %10s %8s %10s %10s %8s\n' "$work" "$mode" "${RPS[v1 $work $mode]}" \
			"${RPS[sqs $work $mode]}" "$(ratio "${RPS[sqs $work $mode]}" "${RPS[v1 $work $mode]}")" \
			"${MPS[v1 $work $mode]}" "${MPS[sqs $work $mode]}" \
			"$(ratio "${MPS[sqs $work $mode]}" "${MPS[v1 $work $mode]}")"
	done
done
cat <<'NOTE'
"x v1" is the SQS endpoint's figure over the v1 API's for the same work in the same run. A
receive+delete is two requests per message on both sides (lease+ack, ReceiveMessage+DeleteMessage).
NOTE
echo "(bench_sqs took $((SECONDS - start)) s)"
