/* sqs_queues.c: the SQS actions on queues as a whole: create, look up, list, delete, purge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs.h"

/* The longest name SQS allows; mmqd's queues stop at QUEUE_NAME_MAX. */
#define SQS_NAME_MAX 80u

/* same_settings says whether the settings of mask in want equal those of have. */
static bool same_settings(const struct queue_settings *want, const struct queue_settings *have,
			  unsigned mask)
{
	if ((mask & QUEUE_SET_MAX_MESSAGE_BYTES) && want->max_message_bytes != have->max_message_bytes)
		return false;
	if ((mask & QUEUE_SET_LEASE_SECONDS) && want->lease_seconds != have->lease_seconds)
		return false;
	if ((mask & QUEUE_SET_MAX_DELIVERIES) && want->max_deliveries != have->max_deliveries)
		return false;
	if ((mask & QUEUE_SET_DEAD_LETTER) && strcmp(want->dead_letter, have->dead_letter) != 0)
		return false;
	if ((mask & QUEUE_SET_DELAY_SECONDS) && want->delay_seconds != have->delay_seconds)
		return false;
	if ((mask & QUEUE_SET_RECEIVE_WAIT_SECONDS) &&
	    want->receive_wait_seconds != have->receive_wait_seconds)
		return false;
	return true;
}

/* answer_url answers {"QueueUrl": <the URL of name>}. */
static enum api_step answer_url(struct sqs_call *c, const char *name)
{
	c->out = cJSON_CreateObject();
	if (c->out == NULL || !cJSON_AddItemToObject(c->out, "QueueUrl", sqs_queue_url_json(c, name)))
		return sqs_fail(c, SQS_E_INTERNAL, NULL);
	return sqs_ok(c);
}

/* name_check checks a QueueName parameter; SQS_OK, or the error with c->message set. */
static enum sqs_err name_check(struct sqs_call *c, const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (name == NULL) {
		c->message = "The request must contain the parameter QueueName.";
		return SQS_E_MISSING_PARAMETER;
	}
	if (n == 0 || n > SQS_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
		c->message = "Can only include alphanumeric characters, hyphens, or underscores. "
			     "1 to 80 in length";
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	if (n > QUEUE_NAME_MAX) {
		c->message = "mmqd queue names are 1 to 64 characters long.";
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	return SQS_OK;
}

enum api_step sqs_create_queue(struct sqs_call *c)
{
	const char *name = sqs_str(c->in, "QueueName");
	struct queue_settings s, have;
	unsigned mask = 0;
	enum sqs_err e = name_check(c, name);
	enum queue_err err;

	if (e == SQS_OK) {
		/* Named before the attributes are read: a queue may not be its own dead-letter queue. */
		snprintf(c->queue, sizeof(c->queue), "%s", name);
		e = sqs_attributes_to_settings(c, cJSON_GetObjectItemCaseSensitive(c->in, "Attributes"),
					       &s, &mask);
	}
	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	err = queue_get_settings(c->req->srv->store, name, &have);
	if (err == QUEUE_OK) {
		/* Idempotent with the same attributes; SQS compares only those the request names. */
		if (!same_settings(&s, &have, mask))
			return sqs_fail(c, SQS_E_QUEUE_NAME_EXISTS, NULL);
		return answer_url(c, name);
	}
	err = queue_put_settings(c->req->srv->store, name, &s, mask, NULL);
	atomic_fetch_add(&c->req->srv->settings_gen, 1);
	if (err == QUEUE_BADARG)
		return sqs_fail(c, SQS_E_INVALID_ATTRIBUTE_VALUE, NULL);
	if (err != QUEUE_OK)
		return sqs_queue_err(c, err, "queue_put_settings");
	return answer_url(c, name);
}

enum api_step sqs_get_queue_url(struct sqs_call *c)
{
	const char *name = sqs_str(c->in, "QueueName");
	struct queue_settings s;
	enum sqs_err e = name_check(c, name);

	if (e == SQS_E_MISSING_PARAMETER)
		return sqs_fail(c, e, NULL);
	if (e != SQS_OK || queue_get_settings(c->req->srv->store, name, &s) != QUEUE_OK)
		return sqs_fail(c, SQS_E_QUEUE_DOES_NOT_EXIST, "The specified queue does not exist.");
	return answer_url(c, name);
}

/* add_url appends the URL of name to the array member key of c->out, made when first needed. */
static void add_url(struct sqs_call *c, const char *key, const char *name)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(c->out, key);

	if (list == NULL)
		list = cJSON_AddArrayToObject(c->out, key);
	cJSON_AddItemToArray(list, sqs_queue_url_json(c, name));
}

enum api_step sqs_list_queues(struct sqs_call *c)
{
	const char *prefix = sqs_str(c->in, "QueueNamePrefix");
	const char *after = sqs_str(c->in, "NextToken");
	struct queue_stats *all = NULL;
	size_t count = 0, plen = prefix != NULL ? strlen(prefix) : 0, i = 0;
	int64_t max;
	bool paged = cJSON_GetObjectItemCaseSensitive(c->in, "MaxResults") != NULL;
	enum queue_err err;

	if (!sqs_int(c->in, "MaxResults", 1, 1000, 1000, &max))
		return sqs_fail(c, SQS_E_INVALID_PARAMETER_VALUE,
				"Value for parameter MaxResults is invalid. Reason: must be between 1 and 1000.");
	err = queue_list(c->req->srv->store, &all, &count);
	if (err != QUEUE_OK)
		return sqs_queue_err(c, err, "queue_list");
	c->out = cJSON_CreateObject();
	for (int64_t shown = 0; c->out != NULL && i < count; i++) {
		if ((plen > 0 && strncmp(all[i].name, prefix, plen) != 0) ||
		    (after != NULL && strcmp(all[i].name, after) <= 0))
			continue;
		if (shown == max) {
			/* The token is the last name shown: the next page starts after it. */
			if (paged)
				cJSON_AddStringToObject(c->out, "NextToken", all[i - 1].name);
			break;
		}
		add_url(c, "QueueUrls", all[i].name);
		shown++;
	}
	free(all);
	return c->out != NULL ? sqs_ok(c) : sqs_fail(c, SQS_E_INTERNAL, NULL);
}

enum api_step sqs_list_dead_letter_sources(struct sqs_call *c)
{
	struct queue_stats *all = NULL;
	size_t count = 0;
	enum sqs_err e = sqs_resolve(c);
	enum queue_err err;

	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	err = queue_list(c->req->srv->store, &all, &count);
	if (err != QUEUE_OK)
		return sqs_queue_err(c, err, "queue_list");
	c->out = cJSON_CreateObject();
	cJSON_AddArrayToObject(c->out, "queueUrls");
	for (size_t i = 0; c->out != NULL && i < count; i++) {
		if (strcmp(all[i].settings.dead_letter, c->queue) == 0)
			add_url(c, "queueUrls", all[i].name);
	}
	free(all);
	return c->out != NULL ? sqs_ok(c) : sqs_fail(c, SQS_E_INTERNAL, NULL);
}

enum api_step sqs_delete_queue(struct sqs_call *c)
{
	enum sqs_err e = sqs_resolve(c);
	enum queue_err err;

	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	err = queue_delete(c->req->srv->store, c->queue);
	/* A queue made again later under this name has the default settings. */
	atomic_fetch_add(&c->req->srv->settings_gen, 1);
	if (err == QUEUE_NOTFOUND)
		return sqs_fail(c, SQS_E_QUEUE_DOES_NOT_EXIST, NULL);
	if (err != QUEUE_OK)
		return sqs_queue_err(c, err, "queue_delete");
	return sqs_ok(c);
}

enum api_step sqs_purge_queue(struct sqs_call *c)
{
	struct queue_ticket ticket = api_ticket(c->req);
	enum sqs_err e = sqs_resolve(c);
	enum queue_err err;

	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	err = queue_purge(c->req->srv->store, c->queue, &ticket);
	if (err != QUEUE_OK) {
		api_ticket_drop(&ticket);
		return sqs_queue_err(c, err, "queue_purge");
	}
	return sqs_ok_durable(c, &ticket, 1);
}
