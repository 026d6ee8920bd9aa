#!/bin/sh
# check_layers.sh: proves that each file of queue/ and api/ calls only files below it in the order below.
#
# Usage: tests/check_layers.sh OBJECT...  (the queue/*.o and api/*.o of one build; make test runs it)
#
# It reads every object's defined and undefined symbols with nm, maps each symbol to the file that
# defines it, and fails when a file uses a symbol of a file that is not below it in its directory's
# order, or when an object is missing from the order (a new file must be given its place here).
# Bottom first; a file may call any file listed before it, never one listed after it.
QUEUE_ORDER="crc32c record meta segment index names registry watches apply qlog replay qsync qfile
	admin enqueue qmove ops store"
API_ORDER="json_out prom errors body payload metrics_store metrics respond longpoll linger
	handlers_queues handlers_messages sqs_errors sqs_query sqs_message sqs_sigv4 sqs_call sqs_attrs
	sqs_send sqs_leases sqs_receive sqs_queues sqs_router router http"

set -eu
export LC_ALL=C
if [ $# -eq 0 ]; then
	echo "usage: $0 OBJECT..." >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# rank DIR FILE prints FILE's position in DIR's order, or nothing when it has none.
rank() {
	case $1 in
	queue) order=$QUEUE_ORDER ;;
	api) order=$API_ORDER ;;
	*) return 0 ;;
	esac
	i=0
	for f in $order; do
		i=$((i + 1))
		if [ "$f" = "$2" ]; then
			echo $i
			return 0
		fi
	done
}

status=0
for o in "$@"; do
	dir=$(basename "$(dirname "$o")")
	file=$(basename "$o" .o)
	if [ -z "$(rank "$dir" "$file")" ]; then
		echo "check_layers: $dir/$file.c has no place in the layer order (tests/check_layers.sh)" >&2
		status=1
	fi
	nm -P --defined-only "$o" | awk -v f="$dir/$file" '$2 ~ /^[A-TV-Z]$/ { print $1, f }' >>"$tmp/defs"
	nm -P --undefined-only "$o" | awk -v f="$dir/$file" '{ print $1, f }' >>"$tmp/uses"
done
sort -u "$tmp/defs" >"$tmp/defs.sorted"
sort -u "$tmp/uses" >"$tmp/uses.sorted"
# Each line: symbol, the file that uses it, the file that defines it.
join "$tmp/uses.sorted" "$tmp/defs.sorted" >"$tmp/calls"
calls=0
while read -r sym from to; do
	[ "$from" = "$to" ] && continue
	calls=$((calls + 1))
	fdir=${from%%/*} tdir=${to%%/*}
	if [ "$fdir" != "$tdir" ]; then
		# Across directories the arrows point server -> api -> queue only.
		if [ "$fdir" = queue ]; then
			echo "check_layers: $from.c uses $sym of $to.c: queue/ must not call api/" >&2
			status=1
		fi
		continue
	fi
	rf=$(rank "$fdir" "${from#*/}") rt=$(rank "$tdir" "${to#*/}")
	if [ -n "$rf" ] && [ -n "$rt" ] && [ "$rt" -ge "$rf" ]; then
		echo "check_layers: $from.c calls $sym of $to.c, which is not below it" >&2
		status=1
	fi
done <"$tmp/calls"
if [ "$status" -eq 0 ]; then
	echo "check_layers: $# objects, $calls symbols used across files, every use downward"
fi
exit $status
