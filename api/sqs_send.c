/* sqs_send.c: SendMessage and SendMessageBatch: checks, digests, the stored envelope, and the enqueue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs.h"

/* One message ready to enqueue: its stored envelope, the digests to answer with, its delay. */
struct prepared {
	const char *id; /* the batch entry's Id; NULL for SendMessage */
	char *envelope;
	char md5_body[33];
	char md5_attrs[33];
	bool has_attrs;
	int64_t delay;
	size_t size; /* what SQS counts: body and attributes */
	uint64_t msg_id;
	bool failed;
};

/*
 * prepare checks one message (the SendMessage parameters, or a batch entry)
 * against the queue's settings and builds its envelope. Returns SQS_OK or the
 * error with its message in msg.
 */
static enum sqs_err prepare(struct sqs_call *c, const cJSON *in, struct prepared *p, char *msg,
			    size_t msglen)
{
	const char *body = sqs_str(in, "MessageBody");
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(in, "MessageAttributes");
	enum sqs_err e;

	if (body == NULL || body[0] == '\0') {
		snprintf(msg, msglen, "The request must contain the parameter MessageBody.");
		return SQS_E_MISSING_PARAMETER;
	}
	if (!sqs_body_valid(body, strlen(body))) {
		snprintf(msg, msglen, "Invalid characters found. Valid Unicode characters are "
				      "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF");
		return SQS_E_INVALID_MESSAGE_CONTENTS;
	}
	if (!sqs_int(in, "DelaySeconds", 0, QUEUE_DELAY_SECONDS_MAX, c->settings.delay_seconds,
		     &p->delay)) {
		snprintf(msg, msglen, "Value for parameter DelaySeconds is invalid. Reason: must be "
				      "between 0 and 900, if provided.");
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	p->size = strlen(body);
	e = sqs_check_attributes(attrs, &p->size, msg, msglen);
	if (e != SQS_OK)
		return e;
	if (p->size > c->settings.max_message_bytes) {
		snprintf(msg, msglen, "One or more parameters are invalid. Reason: Message must be "
				      "shorter than %u bytes.", (unsigned)c->settings.max_message_bytes + 1);
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	sqs_md5_hex(body, strlen(body), p->md5_body);
	p->has_attrs = sqs_attributes_md5(attrs, p->md5_attrs);
	p->envelope = sqs_envelope(body, attrs);
	if (p->envelope == NULL) {
		snprintf(msg, msglen, "The server could not complete the request.");
		return SQS_E_INTERNAL;
	}
	return SQS_OK;
}

/* add_result fills obj with what a sent message answers: digests and MessageId. */
static void add_result(struct sqs_call *c, cJSON *obj, const struct prepared *p)
{
	char id[37];

	sqs_message_id(c->queue, p->msg_id, id);
	if (p->id != NULL)
		cJSON_AddStringToObject(obj, "Id", p->id);
	cJSON_AddStringToObject(obj, "MD5OfMessageBody", p->md5_body);
	if (p->has_attrs)
		cJSON_AddStringToObject(obj, "MD5OfMessageAttributes", p->md5_attrs);
	cJSON_AddStringToObject(obj, "MessageId", id);
}

/* too_long answers a message the engine found too large (its limit changed since the check). */
static enum api_step too_long(struct sqs_call *c)
{
	return sqs_fail(c, SQS_E_INVALID_PARAMETER_VALUE,
			"One or more parameters are invalid. Reason: Message must be shorter than the "
			"queue's MaximumMessageSize.");
}

enum api_step sqs_send_message(struct sqs_call *c)
{
	struct queue_ticket ticket = api_ticket(c->req);
	struct prepared p;
	struct queue_payload item;
	char msg[300];
	enum sqs_err e = sqs_resolve(c);
	enum queue_err err;

	memset(&p, 0, sizeof(p));
	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	e = prepare(c, c->in, &p, msg, sizeof(msg));
	if (e != SQS_OK) {
		free(p.envelope);
		return sqs_fail(c, e, msg);
	}
	item.data = p.envelope;
	item.len = strlen(p.envelope);
	/* The queue's limit applies to the size SQS counts, not to the larger envelope. */
	err = queue_enqueue_sized(c->req->srv->store, c->queue, &item, &p.size, 1,
				  (uint64_t)p.delay * 1000u, &p.msg_id, &ticket);
	free(p.envelope);
	if (err != QUEUE_OK) {
		api_ticket_drop(&ticket);
		if (err == QUEUE_TOOBIG)
			return too_long(c);
		return sqs_queue_err(c, err, "queue_enqueue_sized");
	}
	c->out = cJSON_CreateObject();
	if (c->out == NULL)
		return sqs_internal_durable(c, &ticket, 1);
	add_result(c, c->out, &p);
	return sqs_ok_durable(c, &ticket, 1);
}

/* is_last_group says whether no message after first waits to be sent with another delay. */
static bool is_last_group(const struct prepared *p, size_t n, size_t first)
{
	for (size_t i = first + 1; i < n; i++) {
		if (p[i].envelope != NULL && p[i].delay != p[first].delay)
			return false;
	}
	return true;
}

/*
 * enqueue_group enqueues every prepared, not yet sent message of delay
 * p[first].delay as one batch, from first on; its ticket goes to k.
 */
static void enqueue_group(struct sqs_call *c, struct prepared *p, size_t n, size_t first,
			  cJSON *failed, struct sqs_tickets *k)
{
	struct queue_payload items[SQS_BATCH_MAX];
	uint64_t ids[SQS_BATCH_MAX];
	size_t pick[SQS_BATCH_MAX], sizes[SQS_BATCH_MAX], count = 0;
	struct queue_ticket ticket = sqs_ticket(c, k, is_last_group(p, n, first));
	enum queue_err err;

	for (size_t i = first; i < n; i++) {
		if (p[i].envelope == NULL || p[i].delay != p[first].delay)
			continue;
		items[count].data = p[i].envelope;
		items[count].len = strlen(p[i].envelope);
		sizes[count] = p[i].size;
		pick[count++] = i;
	}
	err = queue_enqueue_sized(c->req->srv->store, c->queue, items, sizes, count,
				  (uint64_t)p[first].delay * 1000u, ids, &ticket);
	if (err == QUEUE_OK)
		sqs_ticket_keep(k, &ticket);
	else
		api_ticket_drop(&ticket);
	for (size_t j = 0; j < count; j++) {
		struct prepared *q = &p[pick[j]];
		if (err == QUEUE_OK)
			q->msg_id = ids[j];
		else
			sqs_batch_failed(failed, q->id, sqs_error_from_queue(err), NULL);
		q->failed = err != QUEUE_OK;
		free(q->envelope);
		q->envelope = NULL;
	}
}

/* prepare_all prepares every entry; those that fail go to failed. Returns the bytes SQS counts. */
static size_t prepare_all(struct sqs_call *c, const cJSON *entries, struct prepared *p,
			  cJSON *failed)
{
	const cJSON *e;
	size_t i = 0, total = 0;
	char msg[300];

	cJSON_ArrayForEach(e, entries)
	{
		enum sqs_err err = prepare(c, e, &p[i], msg, sizeof(msg));
		p[i].id = sqs_str(e, "Id");
		if (err != SQS_OK) {
			sqs_batch_failed(failed, p[i].id, err, msg);
			p[i].failed = true;
		}
		total += p[i].size;
		i++;
	}
	return total;
}

enum api_step sqs_send_message_batch(struct sqs_call *c)
{
	struct prepared p[SQS_BATCH_MAX];
	struct sqs_tickets k = { .n = 0 };
	const cJSON *entries;
	cJSON *ok, *failed;
	size_t n;
	enum sqs_err e = sqs_resolve(c);

	memset(p, 0, sizeof(p));
	if (e == SQS_OK)
		e = sqs_batch_check(c, &entries);
	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	n = (size_t)cJSON_GetArraySize(entries);
	c->out = cJSON_CreateObject();
	ok = cJSON_AddArrayToObject(c->out, "Successful");
	failed = cJSON_AddArrayToObject(c->out, "Failed");
	if (failed == NULL || prepare_all(c, entries, p, failed) > c->settings.max_message_bytes) {
		for (size_t i = 0; i < n; i++)
			free(p[i].envelope);
		if (failed == NULL)
			return sqs_fail(c, SQS_E_INTERNAL, NULL);
		return sqs_failf(c, SQS_E_BATCH_TOO_LONG,
				 "Batch requests cannot be longer than %u bytes.",
				 (unsigned)c->settings.max_message_bytes);
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i].envelope == NULL)
			continue;
		enqueue_group(c, p, n, i, failed, &k);
	}
	for (size_t i = 0; i < n; i++) {
		if (!p[i].failed) {
			cJSON *r = cJSON_CreateObject();
			add_result(c, r, &p[i]);
			cJSON_AddItemToArray(ok, r);
		}
	}
	return sqs_ok_durable(c, k.t, k.n);
}
