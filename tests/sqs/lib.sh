# lib.sh: sourced by the bash SQS client tests; runs one mmqd on 127.0.0.1 and checks answers exactly.
#
# mmq_start [ARGS...] starts $MMQD --listen 127.0.0.1:PORT --data-dir $MMQ_TMP/data --sync always
# (PORT 0 the first time, the same port on a restart, so queue URLs stay valid) and sets MMQ_PID,
# MMQ_PORT and MMQ_URL. mmq_stop SIGNAL stops it by PID and checks how it ended. The EXIT trap
# stops a server still running and removes $MMQ_TMP. fail prints its message and the server's log
# and exits 1.

export LC_ALL=C
: "${MMQD:?set MMQD to the mmqd binary (make test-sqs does)}"
MMQ_TMP=$(mktemp -d /tmp/mmq-sqs-XXXXXX)
MMQ_PID= MMQ_PORT=0 MMQ_URL= MMQ_ARGS=()
MMQ_LOG=$MMQ_TMP/mmqd.log

mmq_cleanup() {
	if [ -n "$MMQ_PID" ]; then
		kill "$MMQ_PID" 2>/dev/null || true
		wait "$MMQ_PID" 2>/dev/null || true
	fi
	rm -rf "$MMQ_TMP"
}
trap mmq_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$MMQ_LOG" ]; then
		echo "--- mmqd log (last 20 lines)" >&2
		tail -n 20 "$MMQ_LOG" >&2
	fi
	exit 1
}

# mmq_start [ARGS...]: extra mmqd arguments; a restart without arguments reuses the last ones.
mmq_start() {
	[ $# -gt 0 ] && MMQ_ARGS=("$@")
	local n
	: >"$MMQ_LOG"
	"$MMQD" --listen "127.0.0.1:$MMQ_PORT" --data-dir "$MMQ_TMP/data" --sync always \
		"${MMQ_ARGS[@]}" 2>>"$MMQ_LOG" &
	MMQ_PID=$!
	for n in $(seq 600); do
		if grep -q 'event=listening' "$MMQ_LOG"; then
			MMQ_PORT=$(sed -n 's/.*event=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$MMQ_LOG")
			MMQ_URL=http://127.0.0.1:$MMQ_PORT
			return 0
		fi
		kill -0 "$MMQ_PID" 2>/dev/null || { MMQ_PID=; fail "mmqd did not start"; }
		sleep 0.05
	done
	fail "mmqd did not say it listens within 30 s"
}

# mmq_stop SIGNAL: TERM must end in exit status 0, KILL in 137.
mmq_stop() {
	local sig=$1 rc=0 want=0
	[ "$sig" = KILL ] && want=137
	kill -"$sig" "$MMQ_PID"
	wait "$MMQ_PID" 2>/dev/null || rc=$?  # no "Killed" line for the kill -9
	MMQ_PID=
	[ "$rc" = "$want" ] || fail "mmqd ended with status $rc after SIG$sig, expected $want"
}

# expect WHAT GOT WANT: exact string comparison.
expect() {
	[ "$2" == "$3" ] || fail "$1: got [$2], expected [$3]"
}

# u32 N prints N as 4 bytes, big-endian (printf escapes).
u32() {
	printf "\\\\x%02x\\\\x%02x\\\\x%02x\\\\x%02x" $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) \
		$(($1 >> 8 & 255)) $(($1 & 255))
}

# attr_md5 NAME TYPE VALUE ...: the MD5 SQS documents for message attributes: for each attribute,
# by name in byte order, the length-prefixed name, data type, transport byte (1 string, 2 binary)
# and length-prefixed value. VALUE is base64 for a Binary type. Arguments come sorted.
attr_md5() {
	local name type value len
	while [ $# -gt 0 ]; do
		name=$1 type=$2 value=$3
		shift 3
		printf "$(u32 ${#name})%s$(u32 ${#type})%s" "$name" "$type"
		if [ "${type%%.*}" = Binary ]; then
			len=$(base64 -d <<<"$value" | wc -c)
			printf "\\x02$(u32 "$len")"
			base64 -d <<<"$value"
		else
			len=$(printf %s "$value" | wc -c)
			printf "\\x01$(u32 "$len")%s" "$value"
		fi
	done | md5sum | cut -d' ' -f1
}

# md5 STRING: the hex MD5 of STRING's bytes.
md5() {
	printf %s "$1" | md5sum | cut -d' ' -f1
}
