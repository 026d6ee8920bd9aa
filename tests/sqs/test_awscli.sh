#!/usr/bin/env bash
# test_awscli.sh: Debian's aws CLI (Query protocol) runs the whole SQS loop against a real mmqd, restarts included.
#
# Usage: MMQD=path/to/mmqd bash tests/sqs/test_awscli.sh (make test-sqs runs it). Needs
# /usr/bin/aws (Debian's awscli) and jq. Every answer is checked exactly; any mismatch exits 1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

AWS=/usr/bin/aws
export AWS_ACCESS_KEY_ID=mmqtest AWS_SECRET_ACCESS_KEY=mmqtestsecret AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$MMQ_TMP/aws-config AWS_SHARED_CREDENTIALS_FILE=$MMQ_TMP/aws-credentials
export AWS_PAGER= AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true
checks=0

# sqs ARGS...: one aws sqs call; prints its JSON answer ({} when it prints nothing).
sqs() {
	local out
	echo "$1" >>"$MMQ_TMP/calls" # a file: this runs in a subshell
	out=$("$AWS" --endpoint-url "$MMQ_URL" --output json sqs "$@" 2>"$MMQ_TMP/aws.err") ||
		fail "aws sqs $1 failed: $(cat "$MMQ_TMP/aws.err")"
	printf '%s\n' "${out:-{\}}"
}

# sqs_error CODE ARGS...: the call must fail with that error code (the Query protocol's code).
sqs_error() {
	local code=$1 rc=0
	shift
	echo "$1" >>"$MMQ_TMP/calls"
	"$AWS" --endpoint-url "$MMQ_URL" --output json sqs "$@" >"$MMQ_TMP/aws.out" 2>"$MMQ_TMP/aws.err" || rc=$?
	[ "$rc" != 0 ] || fail "aws sqs $1 succeeded, expected error $code: $(cat "$MMQ_TMP/aws.out")"
	grep -qF "An error occurred ($code) when calling" "$MMQ_TMP/aws.err" ||
		fail "aws sqs $1: expected error $code, got: $(cat "$MMQ_TMP/aws.err")"
	checks=$((checks + 1))
}

# check WHAT JSON JQ WANT: the jq filter's raw output must equal WANT.
check() {
	expect "$1" "$(jq -r "$3" <<<"$2")" "$4"
	checks=$((checks + 1))
}

b64bin=$(printf '\000\001\002\377binary' | base64)
attrs='{"color":{"DataType":"String","StringValue":"blue"},"count":{"DataType":"Number","StringValue":"42"},"raw":{"DataType":"Binary","BinaryValue":"'$b64bin'"}}'
attrs_md5=$(attr_md5 color String blue count Number 42 raw Binary "$b64bin")

loop() {
	local out main dlq arn m h1 h2 h3 h4 id1 hw hk idr1 idk1 idk2 rx pid big

	# Queues: create, idempotent create, conflicting create, URL, list.
	check "list on a fresh server" "$(sqs list-queues)" '.QueueUrls // [] | length' 0
	out=$(sqs create-queue --queue-name cli-dlq)
	dlq=$MMQ_URL/000000000000/cli-dlq
	check "dlq url" "$out" .QueueUrl "$dlq"
	arn=$(sqs get-queue-attributes --queue-url "$dlq" --attribute-names QueueArn | jq -r .Attributes.QueueArn)
	expect "dlq arn" "${arn%%:us-east-1:*}:${arn##*:}" "arn:aws:sqs:cli-dlq"
	local redrive='{"deadLetterTargetArn":"'$arn'","maxReceiveCount":"3"}'
	local qattrs
	qattrs=$(jq -nc --arg r "$redrive" '{VisibilityTimeout:"30",RedrivePolicy:$r}')
	out=$(sqs create-queue --queue-name cli-main --attributes "$qattrs")
	main=$MMQ_URL/000000000000/cli-main
	check "main url" "$out" .QueueUrl "$main"
	check "create again, same attributes" "$(sqs create-queue --queue-name cli-main --attributes "$qattrs")" \
		.QueueUrl "$main"
	sqs_error QueueAlreadyExists create-queue --queue-name cli-main --attributes VisibilityTimeout=31
	check "get-queue-url" "$(sqs get-queue-url --queue-name cli-main)" .QueueUrl "$main"
	sqs_error AWS.SimpleQueueService.NonExistentQueue get-queue-url --queue-name cli-nope
	check "list with prefix" "$(sqs list-queues --queue-name-prefix cli-)" '.QueueUrls | sort | join(" ")' \
		"$dlq $main"

	# Send one with attributes of all three types, then a batch of three.
	out=$(sqs send-message --queue-url "$main" --message-body 'first body' --message-attributes "$attrs")
	check "send body md5" "$out" .MD5OfMessageBody "$(md5 'first body')"
	check "send attributes md5" "$out" .MD5OfMessageAttributes "$attrs_md5"
	id1=$(jq -r .MessageId <<<"$out")
	out=$(sqs send-message-batch --queue-url "$main" --entries \
		'[{"Id":"b1","MessageBody":"second <&> \"quoted\""},{"Id":"b2","MessageBody":"third é ü 日本"},{"Id":"b3","MessageBody":"{\"json\":[1,2]}"}]')
	check "batch successful ids" "$out" '[.Successful[].Id] | sort | join(",")' b1,b2,b3
	check "batch failed" "$out" '.Failed // [] | length' 0
	check "batch md5 b1" "$out" '.Successful[] | select(.Id == "b1") | .MD5OfMessageBody' \
		"$(md5 'second <&> "quoted"')"
	check "batch md5 b2" "$out" '.Successful[] | select(.Id == "b2") | .MD5OfMessageBody' "$(md5 'third é ü 日本')"
	check "batch md5 b3" "$out" '.Successful[] | select(.Id == "b3") | .MD5OfMessageBody' "$(md5 '{"json":[1,2]}')"
	check "batch ids distinct from the first" "$out" "[.Successful[].MessageId, \"$id1\"] | unique | length" 4

	out=$(sqs get-queue-attributes --queue-url "$main" --attribute-names All)
	check "visible after sends" "$out" .Attributes.ApproximateNumberOfMessages 4
	check "in flight after sends" "$out" .Attributes.ApproximateNumberOfMessagesNotVisible 0
	check "visibility timeout" "$out" .Attributes.VisibilityTimeout 30
	check "redrive policy" "$out" '.Attributes.RedrivePolicy | fromjson | "\(.deadLetterTargetArn) \(.maxReceiveCount)"' \
		"$arn 3"
	check "queue arn" "$out" .Attributes.QueueArn "${arn%cli-dlq}cli-main"

	# Receive all four, in order, with their attributes and digests.
	m=$(sqs receive-message --queue-url "$main" --max-number-of-messages 10 --attribute-names All \
		--message-attribute-names All)
	check "received bodies" "$m" '[.Messages[].Body] | join("|")' \
		'first body|second <&> "quoted"|third é ü 日本|{"json":[1,2]}'
	check "received md5s" "$m" '[.Messages[] | .MD5OfBody] | join(" ")' \
		"$(md5 'first body') $(md5 'second <&> "quoted"') $(md5 'third é ü 日本') $(md5 '{"json":[1,2]}')"
	check "first message id" "$m" '.Messages[0].MessageId' "$id1"
	check "attributes md5" "$m" '.Messages[0].MD5OfMessageAttributes' "$attrs_md5"
	check "attribute values" "$m" '.Messages[0].MessageAttributes | "\(.color.StringValue) \(.count.DataType) \(.count.StringValue) \(.raw.DataType) \(.raw.BinaryValue)"' \
		"blue Number 42 Binary $b64bin"
	check "no attributes on the others" "$m" '[.Messages[1:][] | .MessageAttributes // {} | length] | add' 0
	check "receive counts" "$m" '[.Messages[].Attributes.ApproximateReceiveCount] | join(",")' 1,1,1,1
	check "sent timestamps are milliseconds" "$m" '[.Messages[].Attributes.SentTimestamp | test("^[0-9]{13}$")] | all' true
	h1=$(jq -r '.Messages[0].ReceiptHandle' <<<"$m") h2=$(jq -r '.Messages[1].ReceiptHandle' <<<"$m")
	h3=$(jq -r '.Messages[2].ReceiptHandle' <<<"$m") h4=$(jq -r '.Messages[3].ReceiptHandle' <<<"$m")
	check "nothing visible while in flight" "$(sqs receive-message --queue-url "$main")" '.Messages // [] | length' 0

	# Visibility: back at once, received again with a new handle.
	sqs change-message-visibility --queue-url "$main" --receipt-handle "$h1" --visibility-timeout 0 >/dev/null
	m=$(sqs receive-message --queue-url "$main" --max-number-of-messages 10 --attribute-names ApproximateReceiveCount)
	check "visible again" "$m" '[.Messages[] | "\(.MessageId) \(.Attributes.ApproximateReceiveCount)"] | join(",")' "$id1 2"
	h1=$(jq -r '.Messages[0].ReceiptHandle' <<<"$m")
	out=$(sqs change-message-visibility-batch --queue-url "$main" --entries \
		"$(jq -nc --arg a "$h1" --arg b "$h2" '[{Id:"a",ReceiptHandle:$a,VisibilityTimeout:0},{Id:"b",ReceiptHandle:$b,VisibilityTimeout:0},{Id:"bad",ReceiptHandle:"not-a-handle",VisibilityTimeout:0}]')")
	check "visibility batch successful" "$out" '[.Successful[].Id] | sort | join(",")' a,b
	check "visibility batch failed" "$out" '[.Failed[] | "\(.Id) \(.Code) \(.SenderFault)"] | join(",")' \
		"bad ReceiptHandleIsInvalid true"
	sqs delete-message --queue-url "$main" --receipt-handle "$h3" >/dev/null
	m=$(sqs receive-message --queue-url "$main" --max-number-of-messages 10)
	check "two back" "$m" '[.Messages[].Body] | join("|")' 'first body|second <&> "quoted"'
	out=$(sqs delete-message-batch --queue-url "$main" --entries \
		"$(jq -c '[.Messages[] | {Id: (.MessageId | gsub("[^A-Za-z0-9_-]"; "")), ReceiptHandle}] + [{Id:"bad",ReceiptHandle:"not-a-handle"}]' <<<"$m")")
	check "delete batch successful" "$out" '.Successful | length' 2
	check "delete batch failed" "$out" '[.Failed[] | "\(.Id) \(.Code) \(.SenderFault)"] | join(",")' \
		"bad ReceiptHandleIsInvalid true"
	out=$(sqs get-queue-attributes --queue-url "$main" --attribute-names ApproximateNumberOfMessages \
		ApproximateNumberOfMessagesNotVisible)
	check "one left, in flight" "$out" '.Attributes | "\(.ApproximateNumberOfMessages) \(.ApproximateNumberOfMessagesNotVisible)"' "0 1"
	sqs delete-message --queue-url "$main" --receipt-handle "$h4" >/dev/null

	# Redrive: received three times and made visible again, the fourth receive finds it in the DLQ.
	sqs send-message --queue-url "$main" --message-body poison >/dev/null
	for rx in 1 2 3; do
		m=$(sqs receive-message --queue-url "$main" --attribute-names ApproximateReceiveCount)
		check "poison receive $rx" "$m" '.Messages[0] | "\(.Body) \(.Attributes.ApproximateReceiveCount)"' "poison $rx"
		sqs change-message-visibility --queue-url "$main" --visibility-timeout 0 \
			--receipt-handle "$(jq -r '.Messages[0].ReceiptHandle' <<<"$m")" >/dev/null
	done
	check "poison gone from main" "$(sqs receive-message --queue-url "$main")" '.Messages // [] | length' 0
	m=$(sqs receive-message --queue-url "$dlq")
	check "poison in the dlq" "$m" '[.Messages[].Body] | join(",")' poison
	sqs delete-message --queue-url "$dlq" --receipt-handle "$(jq -r '.Messages[0].ReceiptHandle' <<<"$m")" >/dev/null

	# Long polls: one woken by a send from another process, one that runs out.
	"$AWS" --endpoint-url "$MMQ_URL" --output json sqs receive-message --queue-url "$main" \
		--wait-time-seconds 20 >"$MMQ_TMP/poll.out" 2>"$MMQ_TMP/poll.err" &
	pid=$!
	wait_connected "$pid"
	kill -0 "$pid" 2>/dev/null || fail "the long poll ended before anything was sent: $(cat "$MMQ_TMP/poll.err")"
	sqs send-message --queue-url "$main" --message-body wake >/dev/null
	wait "$pid" || fail "the long poll failed: $(cat "$MMQ_TMP/poll.err")"
	m=$(cat "$MMQ_TMP/poll.out")
	check "long poll woken by a send" "$m" '[.Messages[].Body] | join(",")' wake
	hw=$(jq -r '.Messages[0].ReceiptHandle' <<<"$m")
	local t0=$SECONDS
	check "long poll that runs out" "$(sqs receive-message --queue-url "$main" --wait-time-seconds 1)" \
		'.Messages // [] | length' 0
	[ $((SECONDS - t0)) -ge 1 ] || fail "a 1 s long poll answered in under a second"

	# SIGTERM restart: one message visible, one in flight; both come back as they were.
	idr1=$(sqs send-message --queue-url "$main" --message-body r1 | jq -r .MessageId)
	mmq_stop TERM
	mmq_start
	out=$(sqs get-queue-attributes --queue-url "$main" --attribute-names All)
	check "after SIGTERM: counts" "$out" '.Attributes | "\(.ApproximateNumberOfMessages) \(.ApproximateNumberOfMessagesNotVisible)"' "1 1"
	check "after SIGTERM: redrive kept" "$out" '.Attributes.RedrivePolicy | fromjson | .deadLetterTargetArn' "$arn"
	m=$(sqs receive-message --queue-url "$main")
	check "after SIGTERM: message and id" "$m" '.Messages[0] | "\(.MessageId) \(.Body)"' "$idr1 r1"
	out=$(sqs delete-message-batch --queue-url "$main" --entries \
		"$(jq -nc --arg a "$hw" --arg b "$(jq -r '.Messages[0].ReceiptHandle' <<<"$m")" '[{Id:"w",ReceiptHandle:$a},{Id:"r",ReceiptHandle:$b}]')")
	check "after SIGTERM: handles from before and after delete" "$out" '[.Successful[].Id] | sort | join(",")' r,w

	# kill -9 (with --sync always): an in-flight message and a visible one survive.
	idk1=$(sqs send-message --queue-url "$main" --message-body k1 | jq -r .MessageId)
	hk=$(sqs receive-message --queue-url "$main" | jq -r '.Messages[0].ReceiptHandle')
	idk2=$(sqs send-message --queue-url "$main" --message-body k2 | jq -r .MessageId)
	mmq_stop KILL
	mmq_start
	m=$(sqs receive-message --queue-url "$main" --max-number-of-messages 10)
	check "after kill -9: the visible one" "$m" '[.Messages[] | "\(.MessageId) \(.Body)"] | join(",")' "$idk2 k2"
	sqs change-message-visibility --queue-url "$main" --receipt-handle "$hk" --visibility-timeout 0 >/dev/null
	out=$(sqs receive-message --queue-url "$main" --attribute-names ApproximateReceiveCount)
	check "after kill -9: the in-flight one, released by its old handle" "$out" \
		'.Messages[0] | "\(.MessageId) \(.Body) \(.Attributes.ApproximateReceiveCount)"' "$idk1 k1 2"
	sqs delete-message --queue-url "$main" --receipt-handle "$(jq -r '.Messages[0].ReceiptHandle' <<<"$out")" >/dev/null
	sqs delete-message --queue-url "$main" --receipt-handle "$(jq -r '.Messages[0].ReceiptHandle' <<<"$m")" >/dev/null

	# Settings, size limit, purge, delete.
	sqs set-queue-attributes --queue-url "$main" --attributes \
		VisibilityTimeout=45,MaximumMessageSize=1024,DelaySeconds=0,ReceiveMessageWaitTimeSeconds=1 >/dev/null
	out=$(sqs get-queue-attributes --queue-url "$main" --attribute-names All)
	check "set attributes" "$out" '.Attributes | "\(.VisibilityTimeout) \(.MaximumMessageSize) \(.DelaySeconds) \(.ReceiveMessageWaitTimeSeconds) \(.ApproximateNumberOfMessages)"' \
		"45 1024 0 1 0"
	big=$(head -c 1025 /dev/zero | tr '\0' x)
	sqs_error InvalidParameterValue send-message --queue-url "$main" --message-body "$big"
	# Exactly MaximumMessageSize fits.
	sqs send-message --queue-url "$main" --message-body "${big:1}" >/dev/null
	sqs send-message --queue-url "$main" --message-body p2 >/dev/null
	sqs purge-queue --queue-url "$main" >/dev/null
	check "purged" "$(sqs get-queue-attributes --queue-url "$main" --attribute-names ApproximateNumberOfMessages)" \
		.Attributes.ApproximateNumberOfMessages 0
	sqs delete-queue --queue-url "$main" >/dev/null
	sqs delete-queue --queue-url "$dlq" >/dev/null
	check "list after delete" "$(sqs list-queues --queue-name-prefix cli-)" '.QueueUrls // [] | length' 0
	sqs_error AWS.SimpleQueueService.NonExistentQueue get-queue-url --queue-name cli-main
}

# wait_connected PID: waits until process PID has a TCP connection to mmqd open, then a moment
# more for its request to arrive (if it arrives later, the test still checks the right thing).
wait_connected() {
	local n
	for n in $(seq 400); do
		if ss -tnpH state established "( dport = :$MMQ_PORT )" 2>/dev/null | grep -q "pid=$1,"; then
			sleep 0.5
			return 0
		fi
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
}

# The auth token: the configured access key gets in, another one gets the SQS auth error; with a
# secret key too, signatures are verified.
auth() {
	printf 'mmqtest\n' >"$MMQ_TMP/token"
	mmq_stop TERM
	mmq_start --auth-token-file "$MMQ_TMP/token"
	check "right access key" "$(sqs create-queue --queue-name cli-auth)" .QueueUrl "$MMQ_URL/000000000000/cli-auth"
	AWS_ACCESS_KEY_ID=wrongkey sqs_error InvalidClientTokenId list-queues
	# With --sqs-secret-key the SigV4 signature is verified: the right secret in, another out.
	mmq_stop TERM
	mmq_start --auth-token-file "$MMQ_TMP/token" --sqs-secret-key mmqtestsecret
	check "signed with the secret" "$(sqs get-queue-url --queue-name cli-auth)" .QueueUrl "$MMQ_URL/000000000000/cli-auth"
	AWS_SECRET_ACCESS_KEY=wrongsecret sqs_error SignatureDoesNotMatch list-queues
	mmq_stop TERM
}

start=$SECONDS
mmq_start
loop
auth
echo "test_awscli: $checks checks over $(wc -l <"$MMQ_TMP/calls") aws calls passed in $((SECONDS - start)) s"
