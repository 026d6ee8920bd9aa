/* sqs_receive.c: ReceiveMessage: a lease with the api's long poll, answered as SQS messages. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs.h"

/* The message system attributes mmqd answers, in the order "All" lists them. */
enum sys_attr { SYS_SENDER, SYS_SENT, SYS_RECEIVE_COUNT, SYS_FIRST_RECEIVE, SYS_COUNT };

static const char *const sys_names[SYS_COUNT] = {
	[SYS_SENDER] = "SenderId",
	[SYS_SENT] = "SentTimestamp",
	[SYS_RECEIVE_COUNT] = "ApproximateReceiveCount",
	[SYS_FIRST_RECEIVE] = "ApproximateFirstReceiveTimestamp",
};

/* listed says whether array names holds s or "All". */
static bool listed(const cJSON *names, const char *s)
{
	const cJSON *n;

	cJSON_ArrayForEach(n, names)
	{
		if (cJSON_IsString(n) && (strcmp(n->valuestring, "All") == 0 || strcmp(n->valuestring, s) == 0))
			return true;
	}
	return false;
}

/* attribute_wanted says whether message attribute name matches MessageAttributeNames (All, .*, prefix.*, exact). */
static bool attribute_wanted(const cJSON *names, const char *name)
{
	const cJSON *n;

	cJSON_ArrayForEach(n, names)
	{
		const char *w = cJSON_IsString(n) ? n->valuestring : "";
		size_t len = strlen(w);
		if (strcmp(w, "All") == 0 || strcmp(w, ".*") == 0 || strcmp(w, name) == 0)
			return true;
		if (len > 2 && strcmp(w + len - 2, ".*") == 0 && strncmp(name, w, len - 1) == 0)
			return true;
	}
	return false;
}

/* add_system adds the Attributes the request asked for of message m. */
static void add_system(struct sqs_call *c, cJSON *obj, const struct queue_msg *m)
{
	cJSON *attrs = NULL;
	char v[32];

	for (int a = 0; a < SYS_COUNT; a++) {
		uint64_t x = 0;
		if (!listed(c->attribute_names, sys_names[a]))
			continue;
		switch ((enum sys_attr)a) {
		case SYS_SENDER: snprintf(v, sizeof(v), "%s", SQS_ACCOUNT); break;
		case SYS_SENT: x = m->enqueued_ms; break;
		case SYS_RECEIVE_COUNT: x = m->deliveries; break;
		/* Only the current receive's time is known: exact on the first one. */
		case SYS_FIRST_RECEIVE: x = m->deliveries <= 1 ? api_now_ms() : m->enqueued_ms; break;
		default: break;
		}
		if (a != SYS_SENDER)
			snprintf(v, sizeof(v), "%" PRIu64, x);
		if (attrs == NULL)
			attrs = cJSON_AddObjectToObject(obj, "Attributes");
		cJSON_AddStringToObject(attrs, sys_names[a], v);
	}
}

/* add_message_attributes adds the MessageAttributes asked for and their digest. */
static void add_message_attributes(struct sqs_call *c, cJSON *obj, cJSON *attrs)
{
	cJSON *shown = cJSON_CreateObject(), *a, *next;
	char md5[33];

	for (a = attrs != NULL ? attrs->child : NULL; a != NULL; a = next) {
		next = a->next;
		if (attribute_wanted(c->message_attribute_names, a->string))
			cJSON_AddItemToObject(shown, a->string, cJSON_DetachItemViaPointer(attrs, a));
	}
	if (sqs_attributes_md5(shown, md5)) {
		cJSON_AddStringToObject(obj, "MD5OfMessageAttributes", md5);
		cJSON_AddItemToObject(obj, "MessageAttributes", shown);
	} else {
		cJSON_Delete(shown);
	}
}

/* add_message appends message m to the list; false when out of memory. */
static bool add_message(struct sqs_call *c, cJSON *list, const struct queue_msg *m)
{
	cJSON *obj = cJSON_CreateObject(), *attrs = NULL;
	char *body = NULL, id[37], md5[33], handle[200];

	if (obj == NULL || !sqs_unwrap(m->payload, m->len, &body, &attrs)) {
		cJSON_Delete(obj);
		return false;
	}
	sqs_message_id(c->queue, m->id, id);
	sqs_handle_make(c->queue, m->id, m->lease, handle, sizeof(handle));
	sqs_md5_hex(body, strlen(body), md5);
	cJSON_AddStringToObject(obj, "MessageId", id);
	cJSON_AddStringToObject(obj, "ReceiptHandle", handle);
	cJSON_AddStringToObject(obj, "MD5OfBody", md5);
	cJSON_AddStringToObject(obj, "Body", body);
	add_system(c, obj, m);
	add_message_attributes(c, obj, attrs);
	cJSON_AddItemToArray(list, obj);
	free(body);
	cJSON_Delete(attrs);
	return true;
}

/*
 * receive_finish answers the long poll's messages (m may be NULL: none), once
 * the leases are durable. With VisibilityTimeout 0 each is released again at
 * once, so the next receive may take it.
 */
static enum api_step receive_finish(struct api_req *req, struct queue_msgs *m,
				    struct queue_ticket *ticket)
{
	struct sqs_call *c = req->sqs;
	struct sqs_tickets k = { .n = 0 };
	cJSON *list = NULL;
	bool ok = true;

	/* The leases' ticket comes first: the releases that follow cover it, as any later change. */
	sqs_ticket_keep(&k, ticket);
	c->out = cJSON_CreateObject();
	for (size_t i = 0; m != NULL && i < m->count && c->out != NULL && ok; i++) {
		if (list == NULL)
			list = cJSON_AddArrayToObject(c->out, "Messages");
		ok = add_message(c, list, &m->items[i]);
		if (ok && c->visible_now) {
			struct queue_ticket t = sqs_ticket(c, &k, i + 1 == m->count);
			if (queue_release(req->srv->store, c->queue, m->items[i].id, m->items[i].lease, 0,
					  &t) == QUEUE_OK)
				sqs_ticket_keep(&k, &t);
			else
				api_ticket_drop(&t);
		}
	}
	queue_msgs_free(m);
	if (c->out == NULL || !ok)
		return sqs_internal_durable(c, k.t, k.n);
	return sqs_ok_durable(c, k.t, k.n);
}

/* names_of returns the array parameter name of c (NULL when absent or not an array). */
static cJSON *names_of(struct sqs_call *c, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(c->in, name);

	return cJSON_IsArray(v) ? v : NULL;
}

enum api_step sqs_receive_message(struct sqs_call *c)
{
	int64_t max, vis, wait;
	cJSON *sys;
	enum sqs_err e = sqs_resolve(c);

	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	if (!sqs_int(c->in, "MaxNumberOfMessages", 1, SQS_BATCH_MAX, 1, &max))
		return sqs_fail(c, SQS_E_INVALID_PARAMETER_VALUE,
				"Value for parameter MaxNumberOfMessages is invalid. Reason: Must be "
				"between 1 and 10, if provided.");
	if (!sqs_int(c->in, "VisibilityTimeout", 0, QUEUE_LEASE_SECONDS_MAX, c->settings.lease_seconds,
		     &vis))
		return sqs_fail(c, SQS_E_INVALID_PARAMETER_VALUE,
				"Value for parameter VisibilityTimeout is invalid. Reason: Must be "
				"between 0 and 43200, if provided.");
	if (!sqs_int(c->in, "WaitTimeSeconds", 0, SQS_WAIT_MAX, c->settings.receive_wait_seconds,
		     &wait))
		return sqs_fail(c, SQS_E_INVALID_PARAMETER_VALUE,
				"Value for parameter WaitTimeSeconds is invalid. Reason: Must be "
				"between 0 and 20, if provided.");
	/* AttributeNames and MessageSystemAttributeNames ask for the same attributes. */
	c->attribute_names = cJSON_CreateArray();
	for (int k = 0; k < 2; k++) {
		const cJSON *n;
		sys = names_of(c, k == 0 ? "AttributeNames" : "MessageSystemAttributeNames");
		cJSON_ArrayForEach(n, sys)
			cJSON_AddItemToArray(c->attribute_names, cJSON_Duplicate(n, false));
	}
	c->message_attribute_names = names_of(c, "MessageAttributeNames");
	snprintf(c->req->path.queue, sizeof(c->req->path.queue), "%s", c->queue);
	c->req->poll_finish = receive_finish;
	c->visible_now = vis == 0;
	return api_longpoll_start(c->req, true, (size_t)max,
				  vis == 0 ? (uint64_t)c->settings.lease_seconds * 1000u : (uint64_t)vis * 1000u,
				  (uint64_t)wait * 1000u);
}
