/* sqs_router.c: the Amazon SQS endpoint's entry: the action table, auth, and the parameters of either protocol. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sqs.h"

#define TARGET_PREFIX "AmazonSQS."

/* Every action, by name; the Query answer's batch entry element and whether it has a Result. */
static const struct sqs_action actions[] = {
	{ "CreateQueue", sqs_create_queue, NULL, true },
	{ "GetQueueUrl", sqs_get_queue_url, NULL, true },
	{ "ListQueues", sqs_list_queues, NULL, true },
	{ "DeleteQueue", sqs_delete_queue, NULL, false },
	{ "PurgeQueue", sqs_purge_queue, NULL, false },
	{ "GetQueueAttributes", sqs_get_queue_attributes, NULL, true },
	{ "SetQueueAttributes", sqs_set_queue_attributes, NULL, false },
	{ "ListDeadLetterSourceQueues", sqs_list_dead_letter_sources, NULL, true },
	{ "SendMessage", sqs_send_message, NULL, true },
	{ "SendMessageBatch", sqs_send_message_batch, "SendMessageBatchResultEntry", true },
	{ "ReceiveMessage", sqs_receive_message, NULL, true },
	{ "DeleteMessage", sqs_delete_message, NULL, false },
	{ "DeleteMessageBatch", sqs_delete_message_batch, "DeleteMessageBatchResultEntry", true },
	{ "ChangeMessageVisibility", sqs_change_visibility, NULL, false },
	{ "ChangeMessageVisibilityBatch", sqs_change_visibility_batch,
	  "ChangeMessageVisibilityBatchResultEntry", true },
};

/* Actions SQS has and mmqd does not: answered UnsupportedOperation rather than as unknown. */
static const char *const unsupported[] = {
	"TagQueue",	      "UntagQueue",	  "ListQueueTags",
	"AddPermission",      "RemovePermission", "StartMessageMoveTask",
	"CancelMessageMoveTask", "ListMessageMoveTasks",
};

#define ACTION_COUNT (sizeof(actions) / sizeof(actions[0]))
#define UNSUPPORTED_COUNT (sizeof(unsupported) / sizeof(unsupported[0]))

size_t api_sqs_action_count(void)
{
	return ACTION_COUNT;
}

const char *api_sqs_action_name(size_t i)
{
	return i < ACTION_COUNT ? actions[i].name : "unknown";
}

static const struct sqs_action *action_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < ACTION_COUNT; i++) {
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	}
	return NULL;
}

static bool action_unsupported(const char *name)
{
	for (size_t i = 0; name != NULL && i < UNSUPPORTED_COUNT; i++) {
		if (strcmp(unsupported[i], name) == 0)
			return true;
	}
	return false;
}

/* header returns request header name of req, NULL when absent. */
static const char *header(struct api_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/*
 * access_key finds the access key of an "AWS4-HMAC-SHA256 Credential=KEY/date/..."
 * Authorization header; false when the header has no such credential.
 */
static bool access_key(const char *h, const char **key, size_t *len)
{
	const char *p;

	if (h == NULL || strncmp(h, "AWS4-HMAC-SHA256", 16) != 0)
		return false;
	p = strstr(h, "Credential=");
	if (p == NULL)
		return false;
	p += 11;
	*key = p;
	*len = strcspn(p, "/, ");
	return *len > 0 && p[*len] == '/';
}

bool api_sqs_auth_ok(struct api_req *req)
{
	const struct api_server *srv = req->srv;
	const char *key = NULL;
	size_t len = 0, want = strlen(srv->sqs_access_key);
	unsigned diff;

	if (!access_key(header(req, MHD_HTTP_HEADER_AUTHORIZATION), &key, &len))
		return false;
	/* Constant time over the configured key, whatever was given. */
	diff = len != want;
	for (size_t i = 0; i < want; i++)
		diff |= (unsigned char)srv->sqs_access_key[i] ^ (i < len ? (unsigned char)key[i] : 0u);
	return diff == 0;
}

/* What a NUL in a request answers: no SQS parameter may hold one. */
#define NUL_MESSAGE "Invalid characters found. A request may not hold the character #x0."

/*
 * escaped_nul says whether the JSON text (n bytes at p) has a \u0000 escape:
 * cJSON would end the string there, so it is refused instead of cut short.
 */
static bool escaped_nul(const char *p, size_t n)
{
	for (const char *q = p; (q = memmem(q, n - (size_t)(q - p), "\\u0000", 6)) != NULL; q++) {
		size_t slashes = 0;
		while ((size_t)(q - p) > slashes && q[-1 - (ptrdiff_t)slashes] == '\\')
			slashes++;
		/* An even run of backslashes before it escapes one another, not the u. */
		if (slashes % 2 == 0)
			return true;
	}
	return false;
}

/* parse_in reads the request's parameters in its protocol, and its action. */
static enum sqs_err parse_in(struct sqs_call *c, const char **action)
{
	struct api_req *req = c->req;
	const char *body = req->body.data != NULL ? req->body.data : "";
	enum sqs_err e;

	if (c->proto == SQS_JSON) {
		const char *target = header(req, "X-Amz-Target");
		if (escaped_nul(body, req->body.len)) {
			c->message = NUL_MESSAGE;
			return SQS_E_INVALID_MESSAGE_CONTENTS;
		}
		c->in = req->body.len > 0 ? cJSON_ParseWithLength(body, req->body.len)
					  : cJSON_CreateObject();
		if (c->in == NULL || !cJSON_IsObject(c->in)) {
			c->message = "The request body is not a JSON object.";
			return SQS_E_INVALID_PARAMETER_VALUE;
		}
		*action = target != NULL && strncmp(target, TARGET_PREFIX, strlen(TARGET_PREFIX)) == 0
				  ? target + strlen(TARGET_PREFIX)
				  : target;
		return SQS_OK;
	}
	c->in = sqs_query_parse(req, body, req->body.len, &e);
	if (c->in == NULL)
		return SQS_E_INTERNAL;
	if (e == SQS_E_INVALID_PARAMETER_VALUE)
		c->message = "The request has more parameters than any SQS action takes.";
	if (e == SQS_E_INVALID_MESSAGE_CONTENTS)
		c->message = NUL_MESSAGE;
	if (e != SQS_OK)
		return e;
	*action = sqs_str(c->in, "Action");
	return SQS_OK;
}

enum api_step api_h_sqs(struct api_req *req)
{
	struct sqs_call *c = sqs_call_new(req);
	const char *name = NULL;
	enum sqs_err e;

	if (c == NULL)
		return api_sqs_error(req, API_E_INTERNAL);
	/* The access key was checked with the headers; the signature needs the body too. */
	if (req->srv->auth_token != NULL && req->srv->sqs_secret_key != NULL &&
	    !sqs_sigv4_ok(c, req->srv->sqs_secret_key))
		return sqs_fail(c, SQS_E_SIGNATURE_MISMATCH, NULL);
	e = parse_in(c, &name);
	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	c->action = action_find(name);
	if (c->action != NULL) {
		req->sqs_action = (int)(c->action - actions);
		return c->action->fn(c);
	}
	if (action_unsupported(name))
		return sqs_failf(c, SQS_E_UNSUPPORTED_OPERATION, "mmqd does not support %s.", name);
	if (name == NULL)
		return sqs_fail(c, SQS_E_MISSING_PARAMETER,
				"The request must contain the parameter Action.");
	return sqs_fail(c, SQS_E_INVALID_ACTION, "The action or operation requested is invalid.");
}

