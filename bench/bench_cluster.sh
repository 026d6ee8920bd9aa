#!/usr/bin/env bash
# bench_cluster.sh: enqueue throughput of 3 mmqd behind nginx against 1 mmqd direct and 1 behind nginx.
#
# Usage: MMQD=path/to/mmqd bash bench/bench_cluster.sh (make bench-cluster). BENCH_SECONDS
# (default 5) is the length of each wrk run, BENCH_QUEUES (default 64) the number of queues the
# load is spread over (enqueue_spread.lua). Each setup starts on fresh data directories, with
# the nginx configuration of deploy/cluster/ (tests/cluster/cluster_lib.sh). Everything runs on
# this machine: wrk, nginx and the nodes share its cores, which the report says.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MMQD:?set MMQD to the mmqd binary}"
secs=${BENCH_SECONDS:-5}
conns=64
cores=$(nproc)
CL_TMP=$(mktemp -d /tmp/mmq-bench-cluster-XXXXXX)
# shellcheck source=tests/cluster/cluster_lib.sh
source "$here/../tests/cluster/cluster_lib.sh"

cleanup() {
	cl_stop_all
	rm -rf "$CL_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A RPS P50 P99

# run KEY URL: wrk with enqueue_spread.lua against URL; keeps req/s and latencies under KEY.
run() {
	local key=$1 out line w_requests w_msgs w_empty w_errors w_duration_us w_p50_us w_p99_us
	out=$(wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s "$here/enqueue_spread.lua" "$2")
	line=$(grep '^BENCH ' <<<"$out") || { echo "$out" >&2; return 1; }
	eval "$(sed 's/^BENCH //; s/\([a-z0-9_]*\)=/w_\1=/g' <<<"$line")"
	RPS[$key]=$(awk -v n="$w_requests" -v e="$w_errors" -v d="$w_duration_us" \
		'BEGIN { printf "%.0f", (n - e) * 1e6 / d }')
	P50[$key]=$(awk -v u="$w_p50_us" 'BEGIN { printf "%.2f", u / 1000 }')
	P99[$key]=$(awk -v u="$w_p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
	[ "$w_errors" = 0 ] || echo "  note: $key: $w_errors failed requests (not counted)" >&2
	printf '  %-26s %9s req/s  p50 %7s ms  p99 %7s ms\n' "$key" "${RPS[$key]}" "${P50[$key]}" \
		"${P99[$key]}" >&2
}

# fresh NODE...: stops everything and starts the named nodes on new data directories.
fresh() {
	local n
	cl_stop_all
	CL_NODE_PORT=()
	CL_NODE_PID=()
	rm -rf "${CL_TMP:?}"/n[0-9] "$CL_TMP/nginx"
	for n in "$@"; do
		cl_start_node "$n" --sync "$mode" --threads "$cores"
	done
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

main() {
	local mode start=$SECONDS
	echo "bench_cluster: ${secs}s per wrk run (wrk -t2 -c$conns), $cores cores, $(uname -sr)," \
		"$("$CL_NGINX" -v 2>&1 | cut -d' ' -f3), load spread over ${BENCH_QUEUES:-64} queues"
	for mode in always none; do
		echo "mmqd --sync $mode, enqueue 512 B" >&2
		fresh n1
		run "1 node direct $mode" "http://127.0.0.1:${CL_NODE_PORT[n1]}"
		cl_start_proxy n1
		run "1 node nginx $mode" "http://127.0.0.1:$CL_PROXY_PORT"
		fresh n1 n2 n3
		cl_start_proxy n1 n2 n3
		run "3 nodes nginx $mode" "http://127.0.0.1:$CL_PROXY_PORT"
	done
	cl_stop_all
	printf '\n%-6s %12s %12s %12s %14s %14s %14s\n' sync '1 direct' '1 nginx' '3 nginx' \
		'1 nginx/direct' '3 nginx/direct' '3 nginx/1 nginx'
	for mode in always none; do
		printf '%-6s %12s %12s %12s %14s %14s %14s\n' "$mode" "${RPS[1 node direct $mode]}" \
			"${RPS[1 node nginx $mode]}" "${RPS[3 nodes nginx $mode]}" \
			"$(ratio "${RPS[1 node nginx $mode]}" "${RPS[1 node direct $mode]}")" \
			"$(ratio "${RPS[3 nodes nginx $mode]}" "${RPS[1 node direct $mode]}")" \
			"$(ratio "${RPS[3 nodes nginx $mode]}" "${RPS[1 node nginx $mode]}")"
	done
	cat <<-NOTE
	req/s of successful enqueues (201), $conns connections. wrk, nginx ($(nproc) workers: auto) and
	every mmqd (--threads $cores) share this machine's $cores cores, so a ratio here shows the
	proxy's cost and how the cores are shared out, not how a cluster of machines scales.
	NOTE
	echo "(bench_cluster took $((SECONDS - start)) s)"
}

main "$@"
