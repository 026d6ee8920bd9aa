/* sqs_leases.c: DeleteMessage and ChangeMessageVisibility (and their batches) on the leases receipt handles name. */
#include <stdio.h>
#include <string.h>

#include "sqs.h"

/* A lease a receipt handle names. */
struct target {
	char queue[QUEUE_NAME_MAX + 1];
	uint64_t id, lease;
};

/* parse_handle reads handle for c's queue; SQS_OK, or the error with its message in msg. */
static enum sqs_err parse_handle(struct sqs_call *c, const char *handle, struct target *t,
				 char *msg, size_t msglen)
{
	if (handle == NULL) {
		snprintf(msg, msglen, "The request must contain the parameter ReceiptHandle.");
		return SQS_E_MISSING_PARAMETER;
	}
	/* A handle of another queue is as invalid here as one mmqd never gave out. */
	if (!sqs_handle_parse(handle, t->queue, &t->id, &t->lease) || strcmp(t->queue, c->queue) != 0) {
		snprintf(msg, msglen, "The input receipt handle \"%.100s\" is not a valid receipt handle.",
			 handle);
		return SQS_E_RECEIPT_HANDLE_INVALID;
	}
	return SQS_OK;
}

/* settle hands the ticket of a change to k when it was made (err is QUEUE_OK), else back to the engine. */
static void settle(struct sqs_tickets *k, struct queue_ticket *ticket, enum queue_err err)
{
	if (err == QUEUE_OK)
		sqs_ticket_keep(k, ticket);
	else
		api_ticket_drop(ticket);
}

/*
 * delete_one acks the lease handle names; the ticket of the change goes to k
 * (last: the request makes no change after it). As SQS documents, a handle
 * that is no longer the message's latest (it was received again since), or
 * whose message is gone already, succeeds without deleting anything.
 */
static enum sqs_err delete_one(struct sqs_call *c, const char *handle, struct sqs_tickets *k,
			       bool last, char *msg, size_t msglen)
{
	struct target t;
	enum sqs_err e = parse_handle(c, handle, &t, msg, msglen);
	struct queue_ticket ticket;
	enum queue_err err;

	if (e != SQS_OK)
		return e;
	ticket = sqs_ticket(c, k, last);
	err = queue_ack(c->req->srv->store, c->queue, t.id, t.lease, &ticket);
	settle(k, &ticket, err);
	if (err == QUEUE_OK || err == QUEUE_NOMSG || err == QUEUE_STALE)
		return SQS_OK;
	snprintf(msg, msglen, "%s", sqs_error_get(sqs_error_from_queue(err))->message);
	return sqs_error_from_queue(err);
}

/*
 * change_one sets the visibility of the message handle names: 0 makes it
 * visible now (a release), N hides it for N seconds from now (an extension).
 * The ticket of the change goes to k, as with delete_one.
 */
static enum sqs_err change_one(struct sqs_call *c, const cJSON *in, struct sqs_tickets *k,
			       bool last, char *msg, size_t msglen)
{
	struct target t;
	int64_t vis;
	enum sqs_err e = parse_handle(c, sqs_str(in, "ReceiptHandle"), &t, msg, msglen);
	struct queue_ticket ticket;
	enum queue_err err;

	if (e != SQS_OK)
		return e;
	if (cJSON_GetObjectItemCaseSensitive(in, "VisibilityTimeout") == NULL) {
		snprintf(msg, msglen, "The request must contain the parameter VisibilityTimeout.");
		return SQS_E_MISSING_PARAMETER;
	}
	if (!sqs_int(in, "VisibilityTimeout", 0, QUEUE_LEASE_SECONDS_MAX, 0, &vis)) {
		snprintf(msg, msglen, "Value for parameter VisibilityTimeout is invalid. Reason: Must "
				      "be between 0 and 43200.");
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	ticket = sqs_ticket(c, k, last);
	if (vis == 0)
		err = queue_release(c->req->srv->store, c->queue, t.id, t.lease, 0, &ticket);
	else
		err = queue_extend(c->req->srv->store, c->queue, t.id, t.lease, (uint64_t)vis * 1000u,
				   NULL, &ticket);
	settle(k, &ticket, err);
	if (err == QUEUE_NOMSG || err == QUEUE_STALE) {
		snprintf(msg, msglen, "Message does not exist or is not available for visibility "
				      "timeout change.");
		return SQS_E_MESSAGE_NOT_INFLIGHT;
	}
	if (err != QUEUE_OK) {
		snprintf(msg, msglen, "%s", sqs_error_get(sqs_error_from_queue(err))->message);
		return sqs_error_from_queue(err);
	}
	return SQS_OK;
}

enum api_step sqs_delete_message(struct sqs_call *c)
{
	struct sqs_tickets k = { .n = 0 };
	char msg[200];
	enum sqs_err e = sqs_resolve(c);

	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	e = delete_one(c, sqs_str(c->in, "ReceiptHandle"), &k, true, msg, sizeof(msg));
	if (e != SQS_OK)
		return sqs_fail(c, e, msg); /* a failed change left no ticket in k */
	return sqs_ok_durable(c, k.t, k.n);
}

enum api_step sqs_change_visibility(struct sqs_call *c)
{
	struct sqs_tickets k = { .n = 0 };
	char msg[200];
	enum sqs_err e = sqs_resolve(c);

	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	e = change_one(c, c->in, &k, true, msg, sizeof(msg));
	if (e != SQS_OK)
		return sqs_fail(c, e, msg); /* a failed change left no ticket in k */
	return sqs_ok_durable(c, k.t, k.n);
}

/* batch runs one (delete or change) per entry, answering Successful and Failed lists. */
static enum api_step batch(struct sqs_call *c, bool del)
{
	struct sqs_tickets k = { .n = 0 };
	const cJSON *entries, *e;
	cJSON *ok, *failed;
	int n = 0, count;
	enum sqs_err err = sqs_resolve(c);

	if (err == SQS_OK)
		err = sqs_batch_check(c, &entries);
	if (err != SQS_OK)
		return sqs_fail(c, err, NULL);
	c->out = cJSON_CreateObject();
	ok = cJSON_AddArrayToObject(c->out, "Successful");
	failed = cJSON_AddArrayToObject(c->out, "Failed");
	if (failed == NULL)
		return sqs_fail(c, SQS_E_INTERNAL, NULL);
	count = cJSON_GetArraySize(entries);
	cJSON_ArrayForEach(e, entries)
	{
		const char *id = sqs_str(e, "Id");
		char msg[200];
		bool last = ++n == count;
		err = del ? delete_one(c, sqs_str(e, "ReceiptHandle"), &k, last, msg, sizeof(msg))
			  : change_one(c, e, &k, last, msg, sizeof(msg));
		if (err != SQS_OK) {
			sqs_batch_failed(failed, id, err, msg);
		} else {
			cJSON *r = cJSON_CreateObject();
			cJSON_AddStringToObject(r, "Id", id);
			cJSON_AddItemToArray(ok, r);
		}
	}
	return sqs_ok_durable(c, k.t, k.n);
}

enum api_step sqs_delete_message_batch(struct sqs_call *c)
{
	return batch(c, true);
}

enum api_step sqs_change_visibility_batch(struct sqs_call *c)
{
	return batch(c, false);
}
