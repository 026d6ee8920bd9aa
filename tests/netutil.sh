# netutil.sh: shell helpers shared by the shell tests and benchmarks: free 127.0.0.1 ports and
# waiting for a server's first HTTP answer. Source it from bash.

# free_port prints a 127.0.0.1 port nobody listens on, below the kernel's ephemeral range so that
# no outgoing connection holds it.
free_port() {
	local p low
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 100); do
		p=$((10000 + RANDOM % (low - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "free_port: no free port" >&2
	return 1
}

# wait_http PID URL waits until GET URL answers at all (any status); fails if PID dies first or
# after 10 s.
wait_http() {
	local pid=$1 url=$2
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || return 1
		if curl -s -o /dev/null --max-time 1 "$url"; then
			return 0
		fi
		sleep 0.05
	done
	echo "wait_http: $url never answered" >&2
	return 1
}
