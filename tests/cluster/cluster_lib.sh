# cluster_lib.sh: starts and stops an mmq cluster on 127.0.0.1 (mmqd nodes and nginx in front,
# configured from deploy/cluster/), for tests/cluster/test_cluster.sh and bench/bench_cluster.sh.
#
# Source it with MMQD set to the mmqd binary and CL_TMP to a fresh directory. Everything it
# starts is recorded in CL_PIDS; cl_stop_all stops each by PID. Node i of a cluster listens on
# CL_NODE_PORT[name], keeps its data in $CL_TMP/<name>/data; the proxy listens on CL_PROXY_PORT.

CL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/netutil.sh
source "$CL_ROOT/tests/netutil.sh"
CL_DEPLOY=$CL_ROOT/deploy/cluster
# Debian installs nginx in /usr/sbin, which a user's PATH may lack.
CL_NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
CL_PIDS=()
declare -A CL_NODE_PORT CL_NODE_PID

# cl_kill PID [SIGNAL]: signals PID (default TERM) and waits for it; forgets it in CL_PIDS.
cl_kill() {
	kill "-${2:-TERM}" "$1" 2>/dev/null || true
	cl_forget "$1"
}

# cl_forget PID: waits for PID to end and removes it from CL_PIDS.
cl_forget() {
	local keep=() p
	wait "$1" 2>/dev/null || true
	for p in "${CL_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	CL_PIDS=("${keep[@]}")
}

cl_stop_all() {
	local pid
	for pid in "${CL_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${CL_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	CL_PIDS=()
}

# cl_start_node NAME [MMQD OPTIONS...]: starts (or restarts, on the same port and data directory)
# node NAME; tries other ports while it dies at once on a fresh start.
cl_start_node() {
	local name=$1 dir=$CL_TMP/$1 port pid try
	shift
	mkdir -p "$dir"
	for try in 1 2 3 4 5; do
		port=${CL_NODE_PORT[$name]:-$(free_port)}
		"$MMQD" --listen "127.0.0.1:$port" --data-dir "$dir/data" "$@" 2>>"$dir/stderr" &
		pid=$!
		CL_PIDS+=("$pid")
		if wait_http "$pid" "http://127.0.0.1:$port/healthz"; then
			CL_NODE_PORT[$name]=$port
			CL_NODE_PID[$name]=$pid
			return 0
		fi
		cl_kill "$pid"
		echo "cluster: node $name failed to start on port $port (try $try):" >&2
		tail -5 "$dir/stderr" >&2
		[ -z "${CL_NODE_PORT[$name]:-}" ] || return 1
	done
	return 1
}

# cl_nginx_conf NODE...: prints deploy/cluster/nginx.conf for these nodes on 127.0.0.1: the
# node addresses and the listen port rewritten, its own temporary directories, no access log,
# and workers under the default user. With fewer nodes than the file names, the other nodes'
# server lines leave mmq_cluster (the listing still names them: they show as unavailable).
cl_nginx_conf() {
	local dir=$CL_TMP/nginx sed_args=() n
	for n in n1 n2 n3; do
		if [ -n "${CL_NODE_PORT[$n]:-}" ] && [[ " $* " == *" $n "* ]]; then
			sed_args+=(-e "s/\\bserver $n:8080\\b/server 127.0.0.1:${CL_NODE_PORT[$n]}/")
		else
			sed_args+=(-e "/^        server $n:8080/d" \
				-e "s/\\bserver $n:8080\\b/server 127.0.0.1:$(free_port)/")
		fi
	done
	sed "${sed_args[@]}" \
		-e "s/^\\( *listen\\) 8080;/\\1 127.0.0.1:$CL_PROXY_PORT;/" \
		-e "/^user /d" \
		-e "s|^\\( *access_log\\) .*;|\\1 off;|" \
		-e "s|^http {|http {\\n    client_body_temp_path $dir/body;\\n    proxy_temp_path $dir/proxy;\\n    fastcgi_temp_path $dir/fastcgi;\\n    uwsgi_temp_path $dir/uwsgi;\\n    scgi_temp_path $dir/scgi;|" \
		"$CL_DEPLOY/nginx.conf"
}

# cl_start_proxy NODE...: starts nginx in front of the named nodes (started already) on a free
# port; sets CL_PROXY_PORT and CL_PROXY_PID. The configuration is checked with nginx -t first.
cl_start_proxy() {
	local dir=$CL_TMP/nginx pid try
	mkdir -p "$dir"
	cp "$CL_DEPLOY"/mmq-*.conf "$CL_DEPLOY/mmq.js" "$dir/"
	for try in 1 2 3 4 5; do
		CL_PROXY_PORT=$(free_port)
		cl_nginx_conf "$@" >"$dir/nginx.conf"
		"$CL_NGINX" -q -t -p "$dir/" -c "$dir/nginx.conf" -g "pid $dir/nginx.pid;" 2>"$dir/stderr" ||
			{ cat "$dir/stderr" >&2; return 1; }
		"$CL_NGINX" -p "$dir/" -c "$dir/nginx.conf" -g "daemon off; pid $dir/nginx.pid;" 2>>"$dir/stderr" &
		pid=$!
		CL_PIDS+=("$pid")
		if wait_http "$pid" "http://127.0.0.1:$CL_PROXY_PORT/healthz"; then
			CL_PROXY_PID=$pid
			return 0
		fi
		cl_kill "$pid"
		echo "cluster: nginx failed to start (try $try):" >&2
		tail -5 "$dir/stderr" >&2
	done
	return 1
}
