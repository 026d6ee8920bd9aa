#!/usr/bin/env bash
# tests/docker_test.sh: builds the mmqd image from docker/Dockerfile and runs it for real.
#
# Checks: the image builds; mmqd (PID 1, not root) answers over HTTP; messages survive a restart
# and a new container on the same volume, with ids going on; `docker stop` ends it with exit
# code 0 in under 5 s; the health check turns healthy; the runtime image has no compiler; and
# docker/compose.yaml brings mmqd up with its volume, health check and restart policy.
#
# The engine: a running one if `docker info` reaches it; otherwise, as root, a private dockerd
# started here (installing Debian's docker.io if needed) and stopped at the end. Not root and no
# engine: the test says so and skips. The base image debian:bookworm-slim is pulled, or, where no
# registry is reachable, made with debootstrap from the host's Debian mirror and cached.
# Everything the test makes (containers, volumes, networks, its image) is removed at the end.
#
# Environment: MMQ_DOCKER_CACHE (cache directory, default /var/cache/mmq-docker-test),
# MMQ_DEBIAN_MIRROR / MMQ_DEBIAN_SECURITY_MIRROR (default: those of the host's apt sources).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${MMQ_DOCKER_CACHE:-/var/cache/mmq-docker-test}
BASE_IMAGE=debian:bookworm-slim
RUN_ID=$(date +%s)-$$
TAG=mmq-test:$RUN_ID
LABEL=mmq.docker-test=$RUN_ID
CACHE_TAG=mmq-docker-test-cache:build   # only in the private engine
PROJECT=mmqtest$$
WORK=
PRIVATE_PID=
IMPORTED_BASE=     # set when this run imported the base image into an engine it does not own
IMAGES_BEFORE=     # file listing the image ids that existed before the build, on such an engine
PASSED=0
FAILED=0
T0=$(date +%s)

log() { printf '[docker_test %3ds] %s\n' "$(($(date +%s) - T0))" "$*"; }
ok() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$*"; }
bad() { FAILED=$((FAILED + 1)); printf 'FAIL - %s\n' "$*"; }
die() { printf 'docker_test: error: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
# check NAME CMD...: one check, counted, never stops the run.
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

apt_install() {
	log "installing $*"
	{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } \
		>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get install $* failed"; }
}

# ---- engine -----------------------------------------------------------------------------------

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

# start_private_engine: dockerd on its own socket, exec root and pid file; its data root lives in
# the cache directory so the base image and the build stage's layers are kept between runs.
start_private_engine() {
	if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
		apt_install docker.io
	fi
	mkdir -p "$CACHE_DIR/engine" "$WORK/exec"
	echo '{}' >"$WORK/daemon.json"
	export DOCKER_HOST=unix://$WORK/docker.sock
	local attempt
	for attempt in 1 2; do
		setsid dockerd --config-file "$WORK/daemon.json" --host "$DOCKER_HOST" \
			--data-root "$CACHE_DIR/engine" --exec-root "$WORK/exec" --pidfile "$WORK/dockerd.pid" \
			--iptables=false --ip-masq=false --bridge=none --log-level warn \
			</dev/null >"$WORK/dockerd.log" 2>&1 &
		PRIVATE_PID=$!
		local _
		for _ in $(seq 120); do
			engine_up && { log "private dockerd up (pid $PRIVATE_PID, $DOCKER_HOST)"; return 0; }
			kill -0 "$PRIVATE_PID" 2>/dev/null || break
			sleep 0.5
		done
		tail -20 "$WORK/dockerd.log"
		stop_private_engine
		[ "$attempt" = 1 ] || break
		log "dockerd did not start; clearing its cached data root and trying once more"
		rm -rf --one-file-system "${CACHE_DIR:?}/engine"
		mkdir -p "$CACHE_DIR/engine"
	done
	die "could not start a private dockerd (log above)"
}

stop_private_engine() {
	[ -n "$PRIVATE_PID" ] || return 0
	local pid=$PRIVATE_PID _
	PRIVATE_PID=
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	if kill -0 "$pid" 2>/dev/null; then
		log "dockerd $pid did not stop in 30 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	# The containerd (and any shim) that this dockerd started runs from our exec root.
	local p
	for p in $(pgrep -f -- "$WORK/exec" || true); do
		log "stopping leftover process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80))"
		kill -KILL "$p" 2>/dev/null || true
	done
	# Anything it left mounted under the exec root or the data root.
	local m
	awk -v w="$WORK/" -v d="$CACHE_DIR/engine/" \
		'index($2, w) == 1 || index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# ---- base image -------------------------------------------------------------------------------

# apt_mirror SUFFIX: the first http(s) URI of the host's apt sources whose path ends in SUFFIX.
apt_mirror() {
	local suffix=$1
	{
		grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
			| sed -E 's/\[[^]]*\]//' | awk '{ print $2 }'
		grep -hsiE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources | cut -d: -f2- | tr ' ' '\n'
	} | grep -E "^https?://[^ ]*/${suffix}/?\$" | head -1 | sed 's:/*$::'
}

# make_base_tarball FILE: a Debian bookworm minbase root, trimmed like the official slim image.
make_base_tarball() {
	local out=$1 dir="$WORK/rootfs"
	[ "$(id -u)" = 0 ] || die "$BASE_IMAGE is missing, cannot be pulled, and only root can debootstrap it"
	command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
	local mirror security include=
	mirror=${MMQ_DEBIAN_MIRROR:-$(apt_mirror debian)}
	mirror=${mirror:-http://deb.debian.org/debian}
	security=${MMQ_DEBIAN_SECURITY_MIRROR:-$(apt_mirror debian-security)}
	security=${security:-${mirror%/debian}/debian-security}
	case "$mirror$security" in *https:*) include=--include=ca-certificates ;; esac
	log "debootstrap --variant=minbase bookworm from $mirror (about 30 s)"
	if ! debootstrap --variant=minbase $include bookworm "$dir" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
		tail -20 "$WORK/debootstrap.log"
		die "debootstrap failed"
	fi
	findmnt -rno TARGET | grep -q "^$dir/" && die "debootstrap left mounts under $dir"
	cat >"$dir/etc/apt/sources.list.d/debian.sources" <<-EOF
		Types: deb
		URIs: $mirror
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: $security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	rm -f "$dir/etc/apt/sources.list"
	# A mirror that the host reads without checking Release dates (a snapshot) is read so here too.
	if apt-config dump 2>/dev/null | grep -qi '^Acquire::Check-Valid-Until "false"'; then
		echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/90mmq-mirror"
	fi
	cat >"$dir/etc/dpkg/dpkg.cfg.d/90mmq-slim" <<-'EOF'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/man/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/locale/*
		path-exclude /usr/share/lintian/*
	EOF
	cat >"$dir/etc/apt/apt.conf.d/90mmq-slim" <<-'EOF'
		APT::Install-Recommends "false";
		Acquire::Languages "none";
		DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
	EOF
	find "$dir/usr/share/doc" -type f ! -name copyright -delete
	rm -rf "${dir:?}/usr/share/man/"* "${dir:?}/usr/share/info/"* "${dir:?}/usr/share/locale/"* \
		"${dir:?}/var/lib/apt/lists/"* "${dir:?}/var/cache/apt/"*.bin \
		"${dir:?}/var/cache/apt/archives/"*.deb "${dir:?}/dev/"* "${dir:?}/tmp/"* "${dir:?}/var/tmp/"*
	find "$dir/var/log" -type f -delete
	: >"$dir/etc/resolv.conf"
	: >"$dir/etc/hostname"
	[ ! -e "$dir/etc/machine-id" ] || : >"$dir/etc/machine-id"
	mkdir -p "$(dirname "$out")"
	tar --numeric-owner -C "$dir" -cf "$out.tmp.$$" . && mv "$out.tmp.$$" "$out"
	rm -rf --one-file-system "$dir"
	log "cached base root file system: $out ($(du -h "$out" | cut -f1))"
}

ensure_base_image() {
	if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
		log "base image $BASE_IMAGE: present"
		return 0
	fi
	if timeout 60 docker pull "$BASE_IMAGE" >"$WORK/pull.log" 2>&1; then
		log "base image $BASE_IMAGE: pulled"
		return 0
	fi
	log "cannot pull $BASE_IMAGE ($(tail -1 "$WORK/pull.log" | cut -c1-100)); making it"
	local tarball="$CACHE_DIR/bookworm-minbase.tar"
	if [ -s "$tarball" ]; then
		log "using cached $tarball"
	else
		make_base_tarball "$tarball"
	fi
	docker import --change 'CMD ["bash"]' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		- "$BASE_IMAGE" <"$tarball" >/dev/null
	[ -n "$PRIVATE_PID" ] || IMPORTED_BASE=1
	log "base image $BASE_IMAGE: imported from $tarball"
}

# ---- helpers for the running container ----------------------------------------------------------

# free_port: a loopback port that no socket uses, below the kernel's ephemeral range (a port in
# that range may be taken at any moment as the local end of an outgoing connection).
free_port() {
	local low p _
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$low" -gt 12000 ] 2>/dev/null || low=32768
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % (low - 10000)))
		if command -v ss >/dev/null 2>&1; then
			ss -Htuan "sport = :$p" 2>/dev/null | grep -q . && continue
		fi
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	die "no free port found"
}

# http METHOD URL [BODY]: prints "<status> <body>".
http() {
	local out status
	out=$(mktemp "$WORK/http.XXXXXX")
	if [ $# -ge 3 ]; then
		status=$(curl -sS -m 10 -o "$out" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
			--data-binary "$3" "$2" 2>/dev/null) || status=000
	else
		status=$(curl -sS -m 10 -o "$out" -w '%{http_code}' -X "$1" "$2" 2>/dev/null) || status=000
	fi
	printf '%s %s\n' "$status" "$(cat "$out")"
	rm -f "$out"
}

wait_http() {
	local url=$1 _
	for _ in $(seq 100); do
		[ "$(http GET "$url/healthz" | cut -d' ' -f1)" = 200 ] && return 0
		sleep 0.2
	done
	return 1
}

wait_healthy() { # wait_healthy CONTAINER [SECONDS]
	local c=$1 s='' _
	for _ in $(seq $((${2:-30} * 2))); do
		s=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>/dev/null || true)
		[ "$s" = healthy ] && return 0
		sleep 0.5
	done
	log "health of $c: '${s}'"
	docker inspect -f '{{json .State.Health}}' "$c" 2>/dev/null | cut -c1-600 || true
	return 1
}

# ids_of JSON: the message ids in a peek answer, one line, in order.
ids_of() { grep -o '"id":[0-9]*' <<<"$1" | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//'; }

enqueue() { # enqueue BASE_URL PAYLOAD -> id, or nothing
	local r
	r=$(http POST "$1/v1/queues/dockertest/messages" "$2")
	[ "${r%% *}" = 201 ] || { log "enqueue answered: $r" >&2; return 0; }
	grep -o '"id":[0-9]*' <<<"$r" | cut -d: -f2 || true
}

peek_ids() { ids_of "$(http GET "$1/v1/queues/dockertest/messages?limit=100")"; }

# stop_timed CONTAINER: docker stop; prints the milliseconds it took.
stop_timed() {
	local t
	t=$(now_ms)
	docker stop -t 10 "$1" >/dev/null || true
	echo $(($(now_ms) - t))
}

container_logs() { docker logs --tail 30 "$1" 2>&1 | sed 's/^/    | /' || true; }

# ---- cleanup ------------------------------------------------------------------------------------

COMPOSE=()
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [ -n "$WORK" ] && engine_up; then
		if [ ${#COMPOSE[@]} -gt 0 ]; then
			"${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1
		fi
		local found compose_label=label=com.docker.compose.project=$PROJECT
		mapfile -t found < <(docker ps -aq --filter "label=$LABEL"; docker ps -aq --filter "$compose_label")
		[ ${#found[@]} -eq 0 ] || docker rm -f -v "${found[@]}" >/dev/null
		mapfile -t found < <(docker volume ls -q --filter "label=$LABEL"; docker volume ls -q --filter "$compose_label")
		[ ${#found[@]} -eq 0 ] || docker volume rm -f "${found[@]}" >/dev/null
		mapfile -t found < <(docker network ls -q --filter "$compose_label")
		[ ${#found[@]} -eq 0 ] || docker network rm "${found[@]}" >/dev/null
		local t
		for t in "$TAG" "$TAG-compose"; do
			docker image inspect "$t" >/dev/null 2>&1 && docker rmi -f "$t" >/dev/null
		done
		# On an engine that is not ours, also drop what the classic builder left of this build's
		# stages (untagged images that did not exist before) and a base image imported here.
		# The private engine keeps the base image and the build stage of this run (tagged
		# $CACHE_TAG) as its cache, and drops older untagged stages.
		if [ -n "$PRIVATE_PID" ]; then
			docker image prune -f >/dev/null 2>&1
		elif [ -n "$IMAGES_BEFORE" ]; then
			mapfile -t found < <(docker images -q --no-trunc --filter dangling=true | sort -u |
				comm -13 "$IMAGES_BEFORE" -)
			[ ${#found[@]} -eq 0 ] || docker rmi "${found[@]}" >/dev/null 2>&1
		fi
		[ -z "$IMPORTED_BASE" ] || docker rmi "$BASE_IMAGE" >/dev/null 2>&1
	fi
	stop_private_engine
	[ -z "$WORK" ] || rm -rf --one-file-system "$WORK"
	exit "$rc"
}

# ---- main ---------------------------------------------------------------------------------------

if ! command -v docker >/dev/null 2>&1 || ! engine_up; then
	if [ "$(id -u)" != 0 ]; then
		echo "docker_test: no Docker engine reachable and not root: skipping the Docker test"
		exit 0
	fi
fi

WORK=$(mktemp -d /tmp/mmq-docker-test.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$CACHE_DIR"
# One run at a time per cache directory (the private engine's data root lives there).
exec 9>"$CACHE_DIR/lock"
flock -w 900 9 || die "another docker_test run holds $CACHE_DIR/lock"

if command -v docker >/dev/null 2>&1 && engine_up; then
	log "using the running Docker engine ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
else
	start_private_engine 9>&-
fi
command -v curl >/dev/null 2>&1 || apt_install curl
# Without the buildx plugin the docker CLI needs to be told to use the classic builder.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0

ensure_base_image
if [ -z "$PRIVATE_PID" ]; then
	IMAGES_BEFORE=$WORK/images-before
	docker images -aq --no-trunc | sort -u >"$IMAGES_BEFORE"
fi

log "docker build -f docker/Dockerfile -t $TAG . (about a minute when nothing is cached)"
t=$(now_ms)
if (cd "$ROOT" && docker build --network host --label "$LABEL" -f docker/Dockerfile -t "$TAG" .) \
	>"$WORK/build.log" 2>&1; then
	ok "image builds ($(( ($(now_ms) - t) / 1000 )) s)"
else
	tail -40 "$WORK/build.log"
	bad "image builds"
	echo "docker: $PASSED passed, $FAILED failed"
	exit 1
fi
if [ -n "$PRIVATE_PID" ]; then
	# Name the build stage (all its steps are cached now) so the next run starts from it.
	(cd "$ROOT" && docker build --network host --target build -f docker/Dockerfile -t "$CACHE_TAG" .) \
		>>"$WORK/build.log" 2>&1 || true
fi
SIZE=$(docker image ls "$TAG" --format '{{.Size}}')
log "image $TAG: $SIZE"

# -- image metadata
fmt='{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Volumes}}|{{.Config.StopSignal}}'
fmt+='|{{json .Config.ExposedPorts}}|{{json .Config.Healthcheck.Test}}'
cfg=$(docker image inspect -f "$fmt" "$TAG")
log "image config: $cfg"
IFS='|' read -r img_user img_entry img_vol img_stop img_ports img_health <<<"$cfg"
check "image runs as a non-root user ($img_user)" \
	test -n "$img_user" -a "${img_user%%:*}" != 0 -a "${img_user%%:*}" != root
check "entrypoint is mmqd in exec form" test "$img_entry" = '["mmqd"]'
check "/data is a volume" grep -q '"/data"' <<<"$img_vol"
check "stop signal is SIGTERM" test "$img_stop" = SIGTERM
check "port 8080 is exposed" grep -q '"8080/tcp"' <<<"$img_ports"
check "health check runs mmqd --healthcheck" test "$img_health" = '["CMD","mmqd","--healthcheck"]'
no_toolchain() {
	docker run --rm --network none --entrypoint /bin/sh "$TAG" -c \
		'! command -v gcc && ! command -v cc && ! command -v make && ! test -e /usr/include/stdio.h' \
		>/dev/null 2>&1
}
check "runtime image has no compiler, make or headers" no_toolchain

# -- first container: enqueue, restart, stop
VOL=mmq-test-$RUN_ID
docker volume create --label "$LABEL" "$VOL" >/dev/null
# start_mmqd NAME [DOCKER-RUN-OPTION...]: runs the image on the host network with the volume, on
# a free port (sets PORT and URL), and waits until it answers. A container that exits at once
# (its port was taken meanwhile, say) is tried again on another port, three times at most.
start_mmqd() {
	local name=$1 _
	shift
	for _ in 1 2 3; do
		PORT=$(free_port)
		URL=http://127.0.0.1:$PORT
		docker run -d --name "$name" --label "$LABEL" --network host -e "MMQ_LISTEN=127.0.0.1:$PORT" \
			-v "$VOL:/data" --health-interval 1s --health-timeout 3s --health-retries 3 \
			--health-start-period 30s "$@" "$TAG" >/dev/null
		wait_http "$URL" && return 0
		[ "$(docker inspect -f '{{.State.Running}}' "$name")" != true ] || return 1
		log "mmqd exited at once on port $PORT; trying another port"
		container_logs "$name"
		docker rm -f -v "$name" >/dev/null
	done
	return 1
}
C1=mmq-test-$RUN_ID-a
if ! start_mmqd "$C1"; then
	container_logs "$C1"
	bad "mmqd answers /healthz in the container"
	echo "docker: $PASSED passed, $FAILED failed"
	exit 1
fi
ok "mmqd answers /healthz in the container on 127.0.0.1:$PORT"
check "health status becomes healthy" wait_healthy "$C1"

pid=$(docker inspect -f '{{.State.Pid}}' "$C1")
check "PID 1 of the container is mmqd" test "$(cat "/proc/$pid/comm" 2>/dev/null)" = mmqd
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null || true)
log "mmqd host pid $pid, uids (real effective saved fs): $uids"
# no_root_uid "UIDS": none of the ids is 0, and there is at least one.
no_root_uid() { [ -n "$1" ] && ! grep -qw 0 <<<"$1"; }
check "mmqd runs as a non-root user" no_root_uid "$uids"
top_user() { docker top "$1" -o pid,uid,comm | awk 'NR > 1 && $3 == "mmqd" { print $2 }'; }
check "docker top shows mmqd as user 10001" test "$(top_user "$C1")" = 10001

ids=
for n in 1 2 3; do ids="$ids $(enqueue "$URL" "{\"n\":$n,\"text\":\"hello from docker\"}")"; done
ids=${ids# }
check "three messages enqueued (ids: $ids)" test "$(wc -w <<<"$ids")" = 3
check "peek shows them" test "$(peek_ids "$URL")" = "$ids"
peek=$(http GET "$URL/v1/queues/dockertest/messages?limit=1")
check "payload is returned as enqueued" grep -q '"text":"hello from docker"' <<<"$peek"

docker restart -t 10 "$C1" >/dev/null
check "mmqd answers again after docker restart" wait_http "$URL"
check "messages survive docker restart" test "$(peek_ids "$URL")" = "$ids"

ms=$(stop_timed "$C1")
code=$(docker inspect -f '{{.State.ExitCode}}' "$C1")
log "docker stop took $ms ms, exit code $code"
check "docker stop ends mmqd with exit code 0 ($code)" test "$code" = 0
check "docker stop takes under 5 s ($ms ms)" test "$ms" -lt 5000
[ "$code" = 0 ] || container_logs "$C1"
docker rm -v "$C1" >/dev/null

# -- second container on the same volume: the data lives in the volume
C2=mmq-test-$RUN_ID-b
new=
if start_mmqd "$C2"; then
	check "a new container on the same volume sees the messages" test "$(peek_ids "$URL")" = "$ids"
	new=$(enqueue "$URL" '{"n":4}')
	last=${ids##* }
	check "ids go on across containers ($last then ${new:-none})" test "${new:-0}" -gt "${last:-0}"
	ms=$(stop_timed "$C2")
	code=$(docker inspect -f '{{.State.ExitCode}}' "$C2")
	check "second container stops with exit code 0 in under 5 s ($code, $ms ms)" test "$code" = 0 -a "$ms" -lt 5000
else
	container_logs "$C2"
	bad "mmqd starts in a new container on the same volume"
fi
docker rm -v "$C2" >/dev/null

# -- with a bearer token from the environment: the health check still passes (/healthz is open)
C3=mmq-test-$RUN_ID-c
TOKEN=docker-test-$RUN_ID
if start_mmqd "$C3" -e "MMQ_AUTH_TOKEN=$TOKEN" -e MMQ_SYNC=interval; then
	code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$URL/v1/queues/dockertest/messages" || true)
	check "MMQ_AUTH_TOKEN: a request without the token gets 401 ($code)" test "$code" = 401
	authed=$(curl -s -m 10 -H "Authorization: Bearer $TOKEN" "$URL/v1/queues/dockertest/messages?limit=100" || true)
	check "MMQ_AUTH_TOKEN: with the token the messages are there" test -n "$ids" -a "$(ids_of "$authed")" = "$ids $new"
	check "MMQ_AUTH_TOKEN: health status still becomes healthy" wait_healthy "$C3"
	docker stop -t 10 "$C3" >/dev/null || true
else
	container_logs "$C3"
	bad "mmqd starts with MMQ_AUTH_TOKEN and MMQ_SYNC=interval"
fi
docker rm -f -v "$C3" >/dev/null

# -- docker/compose.yaml
if docker compose version >/dev/null 2>&1; then
	COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	COMPOSE=(docker-compose)
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	apt_install docker-compose
	COMPOSE=(docker-compose)
fi
if [ ${#COMPOSE[@]} -eq 0 ]; then
	log "no docker compose and not root: skipping the compose checks"
else
	COMPOSE+=(-p "$PROJECT" -f "$ROOT/docker/compose.yaml")
	export MMQ_IMAGE=$TAG-compose
	check "compose file is valid" "${COMPOSE[@]}" config -q
	# Its build section (context, Dockerfile); on the host network, as the build above.
	printf 'services:\n  mmqd:\n    build:\n      network: host\n' >"$WORK/compose.build.yaml"
	compose_build() {
		"${COMPOSE[@]}" -f "$WORK/compose.build.yaml" build >"$WORK/compose-build.log" 2>&1 ||
			{ tail -20 "$WORK/compose-build.log"; return 1; }
	}
	check "compose: build section builds the image" compose_build
	# compose_up: up -d, on another free port when the chosen one was taken meanwhile.
	compose_up() {
		local _
		for _ in 1 2 3; do
			CPORT=$(free_port)
			export MMQ_PUBLISH=127.0.0.1:$CPORT
			log "${COMPOSE[*]} up -d --no-build (published on $MMQ_PUBLISH)"
			"${COMPOSE[@]}" up -d --no-build >"$WORK/compose.log" 2>&1 && return 0
			grep -q 'address already in use' "$WORK/compose.log" || return 1
			"${COMPOSE[@]}" down -v >/dev/null 2>&1 || true
		done
		return 1
	}
	if compose_up; then
		ok "compose up starts mmqd"
		cid=$("${COMPOSE[@]}" ps -q mmqd || true)
		check "compose: mmqd answers on the published port" wait_http "http://127.0.0.1:$CPORT"
		# The file's interval is 10 s: the first check runs 10 s after the start.
		check "compose: health status becomes healthy" wait_healthy "$cid" 45
		check "compose: restart policy is unless-stopped" \
			test "$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$cid")" = unless-stopped
		check "compose: /data is a named volume" test "$(docker inspect -f \
			'{{range .Mounts}}{{if eq .Destination "/data"}}{{.Type}}{{end}}{{end}}' "$cid")" = volume
		cids=$(enqueue "http://127.0.0.1:$CPORT" '{"via":"compose"}')
		"${COMPOSE[@]}" restart >/dev/null 2>&1
		wait_http "http://127.0.0.1:$CPORT" || true
		check "compose: messages survive compose restart" \
			test -n "$cids" -a "$(peek_ids "http://127.0.0.1:$CPORT")" = "$cids"
		"${COMPOSE[@]}" stop >/dev/null 2>&1
		check "compose: stop ends mmqd with exit code 0" \
			test "$(docker inspect -f '{{.State.ExitCode}}' "$cid")" = 0
	else
		tail -20 "$WORK/compose.log"
		bad "compose up starts mmqd"
	fi
	"${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
fi

log "image size: $SIZE"
docker image ls "$TAG"
echo "docker: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
