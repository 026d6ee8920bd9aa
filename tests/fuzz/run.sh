#!/bin/sh
# run.sh BINARY SECONDS: runs one libFuzzer target from the repository root for SECONDS, on its
# committed seeds (tests/fuzz/corpus/NAME) plus a working corpus next to the binary, and prints
# its executions and coverage. Extra libFuzzer flags come from tests/fuzz/NAME.options. A crash,
# hang or broken invariant fails the run; the input is kept in BINARY's dir under artifacts-NAME/.
set -eu
bin=$1
secs=$2
name=$(basename "$bin")
dir=$(dirname "$bin")
work=$dir/corpus-$name
art=$dir/artifacts-$name
log=$dir/$name.log
opts=$(cat "tests/fuzz/$name.options" 2>/dev/null || true)
mkdir -p "$work" "$art"
# The targets' scratch directories go here, removed even when a crash skips their own cleanup.
MMQ_FUZZ_TMPDIR=$(mktemp -d /dev/shm/mmq-fuzz-XXXXXX 2>/dev/null || mktemp -d)
export MMQ_FUZZ_TMPDIR
trap 'rm -rf "$MMQ_FUZZ_TMPDIR"' EXIT
status=0
# shellcheck disable=SC2086 # the options are words on purpose
"$bin" -max_total_time="$secs" -timeout=30 -print_final_stats=1 -artifact_prefix="$art/" \
	$opts "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1 || status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -n 1 | sed -E 's/.* (cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/')
if [ "$status" -eq 0 ]; then
	echo "$name: ${execs:-?} executions in $secs s; $cov (log: $log)"
else
	echo "$name: ${execs:-?} executions until it failed; $cov (log: $log)"
	grep -E 'ERROR|SUMMARY|invariant broken|Test unit written|Base64' "$log" | head -n 20
	echo "$name: FAILED (exit $status); reproduce with: $bin $art/<file>" >&2
	exit 1
fi
