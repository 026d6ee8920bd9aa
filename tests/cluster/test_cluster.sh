#!/usr/bin/env bash
# test_cluster.sh: the cluster of deploy/cluster/ (nginx in front of 3 mmqd) run for real on 127.0.0.1.
#
# Checks, each with exact values: 100 queues enqueued through nginx each live on exactly one node
# (asked directly) and come back in order through nginx; the aggregated GET /v1/queues lists
# every node's queues; SQS requests (JSON 1.0 and Query protocol) reach the node that holds
# their queue; a node killed with SIGKILL makes its queues answer 503 node_unavailable in mmq's
# error shape while the other queues keep working and the listing marks it; after its restart
# nothing acknowledged is lost and ids go on; the Prometheus example passes promtool and the
# compose file parses with the expected services.
#
# Usage: MMQD=build/mmqd bash tests/cluster/test_cluster.sh (make test-cluster). Every process it
# starts is stopped by PID and its temporary directory removed, whatever happens.
set -euo pipefail

: "${MMQD:?set MMQD to the mmqd binary}"
CL_TMP=$(mktemp -d /tmp/mmq-cluster-test-XXXXXX)
# shellcheck source=tests/cluster/cluster_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster_lib.sh"

NODES=(n1 n2 n3)
QUEUES=()
for i in $(seq 0 99); do
	QUEUES+=("$(printf 'q%02d' "$i")")
done
PER_QUEUE=5
JSON_TYPE="application/json; charset=utf-8"
UNAVAILABLE='{"error":{"code":"node_unavailable","message":"The node that holds this queue is unavailable; retry later."}}'
PASSED=0
FAILED=0
T0=$SECONDS
declare -A OWNER

cleanup() {
	cl_stop_all
	rm -rf "$CL_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[test_cluster %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
ok() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$*"; }
bad() { FAILED=$((FAILED + 1)); printf 'FAIL - %s\n' "$*"; }

# expect NAME ACTUAL EXPECTED: one counted check of two strings.
expect() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		bad "$1"
		printf '  expected: %s\n  actual:   %s\n' "$3" "$2"
	fi
}

# http METHOD URL [BODY [HEADER]]: one request; sets ST (status), CT (Content-Type), RA
# (Retry-After), ALLOW (Allow) and BODY.
http() {
	local args=(-s -o "$CL_TMP/body" -D "$CL_TMP/headers" -w '%{http_code}' -X "$1")
	[ $# -lt 3 ] || args+=(--data-binary "$3")
	[ $# -lt 4 ] || args+=(-H "$4")
	ST=$(curl "${args[@]}" "$2") || ST=000
	BODY=$(cat "$CL_TMP/body")
	CT=$(header Content-Type)
	RA=$(header Retry-After)
	ALLOW=$(header Allow)
}

header() {
	sed -n "s/^$1: *//Ip" "$CL_TMP/headers" | tr -d '\r' | tail -1
}

proxy() { echo "http://127.0.0.1:$CL_PROXY_PORT"; }
node() { echo "http://127.0.0.1:${CL_NODE_PORT[$1]}"; }

# enqueue_all Q FIRST LAST URL: enqueues {"q":Q,"i":FIRST..LAST} to queue Q at URL over one
# keep-alive connection; prints one "<answer> <status>" line per message.
enqueue_all() {
	local q=$1 i args=()
	for i in $(seq "$2" "$3"); do
		[ "$i" = "$2" ] || args+=(--next)
		args+=(-s -w ' %{http_code}\n' --data-binary "{\"q\":\"$q\",\"i\":$i}" "$4/v1/queues/$q/messages")
	done
	curl "${args[@]}"
}

# expected_ids FIRST LAST: what enqueue_all prints when every message got its id.
expected_ids() {
	local i
	for i in $(seq "$1" "$2"); do
		echo "{\"id\":$i} 201"
	done
}

# node_queues NAME: the names of the queues node NAME holds, one a line, asked directly.
node_queues() {
	curl -s "$(node "$1")/v1/queues" | jq -r '.queues[].name'
}

# ---- the cluster ------------------------------------------------------------------------------

start_cluster() {
	local n
	for n in "${NODES[@]}"; do
		cl_start_node "$n" || { echo "test_cluster: node $n did not start" >&2; exit 1; }
	done
	cl_start_proxy "${NODES[@]}" || { echo "test_cluster: nginx did not start" >&2; exit 1; }
	log "nodes ${NODES[*]} on ports ${CL_NODE_PORT[n1]} ${CL_NODE_PORT[n2]} ${CL_NODE_PORT[n3]}," \
		"nginx on $CL_PROXY_PORT"
}

# ---- checks -----------------------------------------------------------------------------------

check_enqueue() {
	local q bad_answers=0
	for q in "${QUEUES[@]}"; do
		if [ "$(enqueue_all "$q" 1 "$PER_QUEUE" "$(proxy)")" != "$(expected_ids 1 "$PER_QUEUE")" ]; then
			bad_answers=$((bad_answers + 1))
		fi
	done
	expect "100 queues x $PER_QUEUE messages through nginx: every answer 201 with ids 1..$PER_QUEUE" \
		"$bad_answers queues answered otherwise" "0 queues answered otherwise"
}

# check_placement: each queue on exactly one node (asked directly), every node holding some, and
# each queue's depth on its node is PER_QUEUE. Fills OWNER.
check_placement() {
	local n q all counts=() depth_bad=0
	for n in "${NODES[@]}"; do
		for q in $(node_queues "$n"); do
			all+="$q"$'\n'
			OWNER[$q]=$n
		done
		counts+=("$n=$(node_queues "$n" | wc -l)")
		depth_bad=$((depth_bad + $(curl -s "$(node "$n")/v1/queues" |
			jq --argjson d "$PER_QUEUE" '[.queues[] | select(.depth != $d)] | length')))
	done
	expect "the nodes together hold each of the 100 queues exactly once" \
		"$(sort <<<"${all%$'\n'}" | uniq -c | awk '{ print $1 }' | sort | uniq -c | xargs)" "100 1"
	expect "the nodes hold exactly the queues enqueued" \
		"$(sort <<<"${all%$'\n'}" | tr '\n' ' ')" "$(printf '%s\n' "${QUEUES[@]}" | sort | tr '\n' ' ')"
	expect "every node holds some of the queues (${counts[*]})" \
		"$(for c in "${counts[@]}"; do [ "${c#*=}" -gt 0 ] && echo yes || echo "no ($c)"; done | sort -u)" "yes"
	expect "each queue holds its $PER_QUEUE messages on its node" "$depth_bad" 0
}

# check_order_through_proxy VERB LAST [LAST_DOWN DOWN]: each queue's messages through nginx, in
# order, by VERB peek (GET .../messages) or pop: 1..LAST, and 1..LAST_DOWN on node DOWN's queues.
check_order_through_proxy() {
	local verb=$1 last=$2 last_down=${3:-$2} down=${4:-} q want got wrong=0 url
	for q in "${QUEUES[@]}"; do
		want=$last
		[ "${OWNER[$q]}" != "$down" ] || want=$last_down
		url="$(proxy)/v1/queues/$q/messages"
		if [ "$verb" = pop ]; then
			got=$(curl -s -X POST "$url/pop?limit=100" | jq -c --arg q "$q" '[.messages[].payload | select(.q == $q) | .i]')
		else
			got=$(curl -s "$url?limit=100" | jq -c --arg q "$q" '[.messages[].payload | select(.q == $q) | .i]')
		fi
		[ "$got" = "$(seq 1 "$want" | jq -sc .)" ] || { wrong=$((wrong + 1)); echo "  $q: $got"; }
	done
	expect "$verb through nginx returns every queue's messages in order" "$wrong" 0
}

# listing_through_proxy: node=names lines from the aggregated GET /v1/queues, or the node's error.
listing_through_proxy() {
	jq -r '.nodes[] | .node + "=" + (if .response.queues then ([.response.queues[].name] | join(","))
		else .response.error.code end)' <<<"$BODY"
}

# listing_expected [DOWN]: what listing_through_proxy should print, from the direct listings.
listing_expected() {
	local n
	for n in "${NODES[@]}"; do
		if [ "$n" = "${1:-}" ]; then
			echo "$n=node_unavailable"
		else
			echo "$n=$(node_queues "$n" | paste -sd, -)"
		fi
	done
}

check_listing() {
	http GET "$(proxy)/v1/queues"
	expect "GET /v1/queues through nginx${1:+ with $1 down}: 200 JSON" "$ST $CT" "200 $JSON_TYPE"
	expect "GET /v1/queues through nginx${1:+ with $1 down}: each node's own listing, by name" \
		"$(listing_through_proxy)" "$(listing_expected "${1:-}")"
}

check_proxy_routes() {
	http GET "$(proxy)/healthz"
	expect "GET /healthz is answered by nginx" "$ST $CT $BODY" "200 $JSON_TYPE {\"status\":\"ok\"}"
	http GET "$(proxy)/metrics"
	expect "GET /metrics through nginx is 404 not_found (metrics are per node)" \
		"$ST $(jq -r .error.code <<<"$BODY")" "404 not_found"
	http PUT "$(proxy)/v1/queues" '{}'
	expect "PUT /v1/queues through nginx: a node's 405 with its Allow header" \
		"$ST $ALLOW $(jq -r .error.code <<<"$BODY")" "405 GET method_not_allowed"
	http GET "$(proxy)/_mmq/node/n1/v1/queues"
	expect "the listing's internal location is not reachable from outside" \
		"$ST $CT $BODY" "404 $JSON_TYPE {\"error\":{\"code\":\"not_found\",\"message\":\"No such route.\"}}"
	http GET "$(proxy)/v1/queues/no.such/messages"
	expect "an invalid queue name through nginx: the node's 400 invalid_queue_name" \
		"$ST $(jq -r .error.code <<<"$BODY")" "400 invalid_queue_name"
}

# holders Q: "node:depth" of each node that holds queue Q, asked directly.
holders() {
	local n out=""
	for n in "${NODES[@]}"; do
		http GET "$(node "$n")/v1/queues/$1"
		[ "$ST" != 200 ] || out+="$n:$(jq -r .depth <<<"$BODY") "
	done
	echo "${out% }"
}

# check_names_that_hash_alike: "jobs" and its dead-letter queue "jobs--dead" are on one node, so
# dead letters work through nginx; a percent-encoded name reaches the node of its decoded name.
check_names_that_hash_alike() {
	local id tok owner
	http PUT "$(proxy)/v1/queues/jobs" '{"max_deliveries":1,"dead_letter":"jobs--dead"}'
	http POST "$(proxy)/v1/queues/jobs/messages" '{"job":1}'
	http POST "$(proxy)/v1/queues/jobs/messages/lease"
	id=$(jq -r '.messages[0].id' <<<"$BODY")
	tok=$(jq -r '.messages[0].lease' <<<"$BODY")
	http POST "$(proxy)/v1/queues/jobs/messages/$id/release?lease=$tok"
	http GET "$(proxy)/v1/queues/jobs--dead/messages"
	expect "a message released past max_deliveries is in jobs--dead through nginx" \
		"$ST $(jq -c '[.messages[].payload]' <<<"$BODY")" '200 [{"job":1}]'
	owner=$(holders jobs)
	expect "jobs and jobs--dead are on the same node (key: the name up to --)" \
		"$(holders jobs--dead)" "${owner%:*}:1"
	http POST "$(proxy)/v1/queues/esc/messages" '1'
	http POST "$(proxy)/v1/queues/%65s%63/messages" '2'
	expect "esc and its percent-encoded form %65s%63 reach the same node" "$(holders esc | cut -d: -f2)" 2
}

# sqs_json ACTION BODY: one AWS JSON 1.0 request through nginx.
sqs_json() {
	http POST "$(proxy)/" "$2" "X-Amz-Target: AmazonSQS.$1"
}

# sqs_url Q: the queue URL of Q as mmqd builds it behind nginx: on the proxy's host and port.
sqs_url() { echo "http://127.0.0.1:$CL_PROXY_PORT/000000000000/$1"; }

# SQS queues s00..s19, the even ones made and used with the JSON protocol, the odd ones with the
# Query protocol; SQS_QUEUES lists them.
SQS_QUEUES=()

check_sqs_routing() {
	local q i wrong_make=0 wrong_place=0 wrong_recv=0 wrong_v1=0 where got
	for i in $(seq 0 19); do
		q=$(printf 's%02d' "$i")
		SQS_QUEUES+=("$q")
		if [ $((i % 2)) = 0 ]; then
			sqs_json CreateQueue "{\"QueueName\":\"$q\"}"
			got="$ST $(jq -r .QueueUrl <<<"$BODY")"
			sqs_json SendMessage "{\"QueueUrl\":\"$(sqs_url "$q")\",\"MessageBody\":\"m-$q\"}"
		else
			http POST "$(proxy)/" "Action=CreateQueue&QueueName=$q&Version=2012-11-05"
			got="$ST $(grep -o '<QueueUrl>[^<]*' <<<"$BODY" | cut -c11-)"
			http POST "$(proxy)/" "Action=SendMessage&QueueUrl=$(jq -rn --arg u "$(sqs_url "$q")" '$u|@uri')&MessageBody=m-$q&Version=2012-11-05"
		fi
		[ "$got $ST" = "200 $(sqs_url "$q") 200" ] || { wrong_make=$((wrong_make + 1)); echo "  $q: $got $ST"; }
	done
	expect "SQS CreateQueue (queue URL on the proxy's host) and SendMessage through nginx, 10 queues per protocol" \
		"$wrong_make" 0
	for q in "${SQS_QUEUES[@]}"; do
		where=$(holders "$q")
		[[ "$where" =~ ^n[0-9]:1$ ]] || { wrong_place=$((wrong_place + 1)); echo "  $q on: $where"; }
		OWNER[$q]=${where%%:*}
		http GET "$(proxy)/v1/queues/$q"
		[ "$ST $(jq -r .depth <<<"$BODY")" = "200 1" ] || wrong_v1=$((wrong_v1 + 1))
	done
	expect "each SQS queue lives on exactly one node, with its one message" "$wrong_place" 0
	expect "each SQS queue is found by the v1 API through nginx" "$wrong_v1" 0
	for i in "${!SQS_QUEUES[@]}"; do
		q=${SQS_QUEUES[$i]}
		if [ $((i % 2)) = 0 ]; then
			sqs_json ReceiveMessage "{\"QueueUrl\":\"$(sqs_url "$q")\",\"VisibilityTimeout\":0}"
			got="$ST $(jq -r '.Messages[0].Body' <<<"$BODY")"
		else
			# The Query protocol sent to the queue URL's own path, as older SDKs do.
			http POST "$(proxy)/000000000000/$q" "Action=ReceiveMessage&VisibilityTimeout=0&Version=2012-11-05"
			got="$ST $(grep -o '<Body>[^<]*' <<<"$BODY" | cut -c7-)"
		fi
		[ "$got" = "200 m-$q" ] || { wrong_recv=$((wrong_recv + 1)); echo "  $q: $got"; }
	done
	expect "SQS ReceiveMessage through nginx (JSON body, Query to the queue URL path) gets each queue's message" \
		"$wrong_recv" 0
}

# sqs_pages PROTOCOL MAX: pages of ListQueues (prefix s) through nginx with MaxResults=MAX (none
# when 0), following NextToken: one line per page, "<status> <names of the page> [token]".
sqs_pages() {
	local token="" names max_json="" max_query=""
	[ "$2" = 0 ] || { max_json=",\"MaxResults\":$2"; max_query="&MaxResults=$2"; }
	while :; do
		if [ "$1" = json ]; then
			sqs_json ListQueues "{\"QueueNamePrefix\":\"s\"$max_json${token:+,\"NextToken\":\"$token\"}}"
			names=$(jq -r '[(.QueueUrls // [])[] | split("/") | last] | join(",")' <<<"$BODY")
			token=$(jq -r '.NextToken // empty' <<<"$BODY")
		else
			http POST "$(proxy)/" "Action=ListQueues&QueueNamePrefix=s$max_query${token:+&NextToken=$token}"
			names=$(grep -o '<QueueUrl>[^<]*' <<<"$BODY" | sed 's|.*/||' | paste -sd, -)
			token=$(grep -o '<NextToken>[^<]*' <<<"$BODY" | cut -c12-)
		fi
		echo "$ST $names${token:+ $token}"
		[ -n "$token" ] && [ "$ST" = 200 ] || break
	done
}

# check_sqs_list: ListQueues through nginx lists every node's queues (mmq.js), page by page.
check_sqs_list() {
	local all want p
	all=$(printf '%s\n' "${SQS_QUEUES[@]}" | paste -sd, -)
	for p in json query; do
		expect "SQS ListQueues ($p) through nginx lists the queues of every node, sorted" \
			"$(sqs_pages $p 0)" "200 $all"
		want=$(printf '200 %s s06\n200 %s s13\n200 %s' "$(cut -d, -f1-7 <<<"$all")" \
			"$(cut -d, -f8-14 <<<"$all")" "$(cut -d, -f15- <<<"$all")")
		expect "SQS ListQueues ($p) through nginx, MaxResults=7: pages of 7, 7 and 6 names, NextToken the last name" \
			"$(sqs_pages $p 7)" "$want"
	done
	expect "SQS ListQueues through nginx: the queue URLs point at the proxy" \
		"$(sqs_json ListQueues '{"QueueNamePrefix":"s00"}'; jq -c .QueueUrls <<<"$BODY")" "[\"$(sqs_url s00)\"]"
	sqs_json ListQueues '{"MaxResults":0}'
	expect "SQS ListQueues through nginx with MaxResults=0: the nodes' 400 InvalidParameterValue" \
		"$ST $(jq -r '.__type' <<<"$BODY")" "400 com.amazonaws.sqs#InvalidParameterValue"
}

# check_node_down NODE: requests through nginx to every queue while NODE is down.
check_node_down() {
	local down=$1 q wrong_down=0 wrong_up=0
	for q in "${QUEUES[@]}"; do
		if [ "${OWNER[$q]}" = "$down" ]; then
			http POST "$(proxy)/v1/queues/$q/messages" '{"late":true}'
			[ "$ST|$CT|$RA|$BODY" = "503|$JSON_TYPE|5|$UNAVAILABLE" ] || { wrong_down=$((wrong_down + 1)); echo "  $q: $ST $CT $BODY"; }
			http GET "$(proxy)/v1/queues/$q/messages"
			[ "$ST|$BODY" = "503|$UNAVAILABLE" ] || wrong_down=$((wrong_down + 1))
		else
			[ "$(enqueue_all "$q" $((PER_QUEUE + 1)) $((PER_QUEUE + 1)) "$(proxy)")" = \
				"$(expected_ids $((PER_QUEUE + 1)) $((PER_QUEUE + 1)))" ] || wrong_up=$((wrong_up + 1))
		fi
	done
	for q in "${SQS_QUEUES[@]}"; do
		sqs_json SendMessage "{\"QueueUrl\":\"$(sqs_url "$q")\",\"MessageBody\":\"late\"}"
		if [ "${OWNER[$q]}" = "$down" ]; then
			[ "$ST|$BODY" = "503|$UNAVAILABLE" ] || { wrong_down=$((wrong_down + 1)); echo "  $q: $ST $BODY"; }
		else
			[ "$ST" = 200 ] || wrong_up=$((wrong_up + 1))
		fi
	done
	sqs_json ListQueues '{}'
	expect "with $down killed, SQS ListQueues through nginx answers 503 node_unavailable rather than a partial list" \
		"$ST $(jq -r .error.code <<<"$BODY")" "503 node_unavailable"
	expect "with $down killed, enqueue and peek (v1) and SendMessage (SQS) to its queues answer 503 node_unavailable (JSON, Retry-After: 5)" \
		"$wrong_down" 0
	expect "with $down killed, the other nodes' queues take message $((PER_QUEUE + 1)) (v1) or a SendMessage (SQS)" \
		"$wrong_up" 0
}

# writer Q FILE: enqueues i = 1, 2, ... to queue Q through nginx until an answer is not 201
# (or 2000 messages), appending each acknowledged i to FILE.
writer() {
	local q=$1 i
	for i in $(seq 1 2000); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --data-binary "{\"q\":\"$q\",\"i\":$i}" \
			"$(proxy)/v1/queues/$q/messages")" = 201 ] || return 0
		echo "$i" >>"$2"
	done
}

main() {
	local down q acked popped writer_pid target
	start_cluster

	log "enqueue"
	check_enqueue
	check_placement
	check_order_through_proxy peek "$PER_QUEUE"
	check_listing
	check_proxy_routes
	check_names_that_hash_alike
	check_sqs_routing
	check_sqs_list

	down=${OWNER[q00]}
	log "SIGKILL $down under load, then requests to every queue"
	# A queue of the node about to die, written to until the kill cuts it off.
	for q in $(seq 0 200); do
		target="w$q"
		[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$(proxy)/v1/queues/$target")" = 201 ] || continue
		[ "$(node_queues "$down" | grep -cx "$target")" = 1 ] && break
	done
	OWNER[$target]=$down
	writer "$target" "$CL_TMP/acked" &
	writer_pid=$!
	CL_PIDS+=("$writer_pid")
	sleep 1
	cl_kill "${CL_NODE_PID[$down]}" KILL
	# The writer stops by itself at its first answer that is not 201.
	cl_forget "$writer_pid"
	acked=$(wc -l <"$CL_TMP/acked")
	expect "the writer had messages acknowledged before the kill" "$([ "$acked" -gt 0 ] && echo yes)" yes
	check_node_down "$down"
	check_listing "$down"

	log "restart $down"
	cl_start_node "$down" || { echo "test_cluster: $down did not restart" >&2; exit 1; }
	check_order_through_proxy pop $((PER_QUEUE + 1)) "$PER_QUEUE" "$down"
	popped=$(curl -s -X POST "$(proxy)/v1/queues/$target/messages/pop?limit=1000" | jq -r '.messages[].payload.i')
	expect "after the restart, all $acked messages acknowledged by nginx before the kill are there, in order" \
		"$(head -n "$acked" <<<"$popped" | paste -sd, -)" "$(paste -sd, "$CL_TMP/acked")"
	q=""
	for q in "${QUEUES[@]}"; do
		[ "${OWNER[$q]}" = "$down" ] && break
	done
	expect "after the restart, ids on $down's queue $q go on past $PER_QUEUE" \
		"$(enqueue_all "$q" 1 1 "$(proxy)" | jq -R --argjson last "$PER_QUEUE" \
			'split(" ") | [(.[0] | fromjson | .id > $last), .[1]] | map(tostring) | join(" ")')" "\"true 201\""
	check_listing

	log "configuration examples"
	expect "promtool check config deploy/cluster/prometheus.yml" \
		"$(promtool check config "$CL_DEPLOY/prometheus.yml" >/dev/null 2>&1 && echo valid)" valid
	expect "prometheus.yml scrapes n1, n2 and n3, each with its node label" \
		"$(python3 -c 'import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
for job in c["scrape_configs"]:
    for sc in job.get("static_configs", []):
        for t in sc["targets"]:
            print(t, sc["labels"]["node"])' "$CL_DEPLOY/prometheus.yml" | sort | paste -sd, -)" \
		"n1:8080 n1,n2:8080 n2,n3:8080 n3"
	expect "compose.yaml: nodes n1, n2, n3 each with its own volume, nginx in front of them" \
		"$(python3 -c 'import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
for n in ("n1", "n2", "n3"):
    print(n, s[n]["volumes"][0].split(":")[0], s[n]["build"]["dockerfile"])
print("nginx", sorted(s["nginx"]["depends_on"]), s["nginx"]["ports"][0])' "$CL_DEPLOY/compose.yaml" | paste -sd, -)" \
		"n1 n1-data docker/Dockerfile,n2 n2-data docker/Dockerfile,n3 n3-data docker/Dockerfile,nginx ['n1', 'n2', 'n3'] \${MMQ_PUBLISH:-8080}:8080"
	# Compose's own schema check, offline: the v2 plugin where there is one, else Debian's
	# docker-compose (which make test-cluster installs).
	local compose=(docker-compose)
	! docker compose version >/dev/null 2>&1 || compose=(docker compose)
	expect "${compose[*]} config accepts compose.yaml, with and without the metrics profile" \
		"$("${compose[@]}" -f "$CL_DEPLOY/compose.yaml" config -q 2>&1 &&
			"${compose[@]}" -f "$CL_DEPLOY/compose.yaml" --profile metrics config --services 2>&1 |
			sort | paste -sd, -)" "n1,n2,n3,nginx,prometheus"

	cl_stop_all
	log "done"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

main "$@"
