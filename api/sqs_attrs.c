/* sqs_attrs.c: SQS queue attributes onto the engine's settings and stats: Get/SetQueueAttributes. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs.h"

/* SQS's default MessageRetentionPeriod (4 days): reported, since mmqd keeps messages until removed. */
#define RETENTION_SECONDS 345600
#define MAX_RECEIVE_COUNT 1000

/* The numeric attributes SetQueueAttributes and CreateQueue take, their ranges and settings. */
static const struct numeric_attr {
	const char *name;
	int64_t min, max;
	unsigned bit; /* 0: accepted and checked, but not kept */
	size_t offset;
} numeric_attrs[] = {
	{ "VisibilityTimeout", 1, QUEUE_LEASE_SECONDS_MAX, QUEUE_SET_LEASE_SECONDS,
	  offsetof(struct queue_settings, lease_seconds) },
	{ "DelaySeconds", 0, QUEUE_DELAY_SECONDS_MAX, QUEUE_SET_DELAY_SECONDS,
	  offsetof(struct queue_settings, delay_seconds) },
	{ "MaximumMessageSize", 1024, 1048576, QUEUE_SET_MAX_MESSAGE_BYTES,
	  offsetof(struct queue_settings, max_message_bytes) },
	{ "ReceiveMessageWaitTimeSeconds", 0, QUEUE_RECEIVE_WAIT_SECONDS_MAX,
	  QUEUE_SET_RECEIVE_WAIT_SECONDS, offsetof(struct queue_settings, receive_wait_seconds) },
	{ "MessageRetentionPeriod", 60, 1209600, 0, 0 },
	{ "KmsDataKeyReusePeriodSeconds", 60, 86400, 0, 0 },
};

/* Attributes taken and ignored: access policies and encryption do not apply to a local server. */
static const char *const ignored_attrs[] = { "Policy", "KmsMasterKeyId", "SqsManagedSseEnabled",
					     "RedriveAllowPolicy" };

#define NUMERIC_COUNT (sizeof(numeric_attrs) / sizeof(numeric_attrs[0]))
#define IGNORED_COUNT (sizeof(ignored_attrs) / sizeof(ignored_attrs[0]))

/* invalid_value sets the message of a bad attribute value and returns the error. */
static enum sqs_err invalid_value(struct sqs_call *c, const char *name, const char *why)
{
	snprintf(c->message_buf, sizeof(c->message_buf), "Invalid value for the parameter %s.%s%s",
		 name, why != NULL ? " Reason: " : "", why != NULL ? why : "");
	c->message = c->message_buf;
	return SQS_E_INVALID_ATTRIBUTE_VALUE;
}

/* redrive reads a RedrivePolicy value: a JSON text with deadLetterTargetArn and maxReceiveCount. */
static enum sqs_err redrive(struct sqs_call *c, const char *text, struct queue_settings *s)
{
	cJSON *p;
	const char *arn, *name;
	int64_t count;
	struct queue_settings dlq;
	enum sqs_err e = SQS_OK;

	if (text[0] == '\0') {
		/* An empty policy removes the dead-letter queue. */
		s->max_deliveries = 0;
		s->dead_letter[0] = '\0';
		return SQS_OK;
	}
	p = cJSON_Parse(text);
	arn = sqs_str(p, "deadLetterTargetArn");
	name = arn != NULL ? strrchr(arn, ':') : NULL;
	if (name == NULL || !sqs_int(p, "maxReceiveCount", 1, MAX_RECEIVE_COUNT, -1, &count) ||
	    count < 1)
		e = invalid_value(c, "RedrivePolicy",
				  "It needs deadLetterTargetArn and maxReceiveCount from 1 to 1000.");
	else if (strlen(name + 1) > QUEUE_NAME_MAX ||
		 queue_get_settings(c->req->srv->store, name + 1, &dlq) != QUEUE_OK)
		e = invalid_value(c, "RedrivePolicy", "Dead letter target does not exist.");
	else if (strcmp(name + 1, c->queue) == 0)
		e = invalid_value(c, "RedrivePolicy", "A queue cannot be its own dead letter target.");
	if (e == SQS_OK) {
		s->max_deliveries = (uint32_t)count;
		snprintf(s->dead_letter, sizeof(s->dead_letter), "%s", name + 1);
	}
	cJSON_Delete(p);
	return e;
}

/* set_one applies attribute a to *s and *mask. */
static enum sqs_err set_one(struct sqs_call *c, const cJSON *a, struct queue_settings *s,
			    unsigned *mask)
{
	const char *v = cJSON_IsString(a) ? a->valuestring : NULL;

	for (size_t i = 0; i < NUMERIC_COUNT; i++) {
		const struct numeric_attr *n = &numeric_attrs[i];
		int64_t x;
		if (strcmp(n->name, a->string) != 0)
			continue;
		if (!sqs_int_value(a, n->min, n->max, -1, &x) || x < n->min)
			return invalid_value(c, n->name, NULL);
		if (n->bit != 0) {
			uint32_t x32 = (uint32_t)x;
			memcpy((char *)s + n->offset, &x32, sizeof(x32));
			*mask |= n->bit;
		}
		return SQS_OK;
	}
	if (strcmp(a->string, "RedrivePolicy") == 0) {
		*mask |= QUEUE_SET_MAX_DELIVERIES | QUEUE_SET_DEAD_LETTER;
		return v != NULL ? redrive(c, v, s) : invalid_value(c, a->string, NULL);
	}
	if (strcmp(a->string, "FifoQueue") == 0)
		return v != NULL && strcmp(v, "false") == 0
			       ? SQS_OK
			       : invalid_value(c, a->string, "mmqd has no FIFO queues.");
	for (size_t i = 0; i < IGNORED_COUNT; i++) {
		if (strcmp(ignored_attrs[i], a->string) == 0)
			return SQS_OK;
	}
	snprintf(c->message_buf, sizeof(c->message_buf), "Unknown Attribute %s.", a->string);
	c->message = c->message_buf;
	return SQS_E_INVALID_ATTRIBUTE_NAME;
}

enum sqs_err sqs_attributes_to_settings(struct sqs_call *c, const cJSON *attrs,
					struct queue_settings *s, unsigned *mask)
{
	const cJSON *a;
	enum sqs_err e = SQS_OK;

	queue_settings_default(s);
	*mask = 0;
	if (attrs == NULL || cJSON_IsNull(attrs))
		return SQS_OK;
	if (!cJSON_IsObject(attrs)) {
		c->message = "Attributes must be a map.";
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	cJSON_ArrayForEach(a, attrs)
	{
		if (e == SQS_OK)
			e = set_one(c, a, s, mask);
	}
	return e;
}

/* The attributes GetQueueAttributes knows, in the order "All" lists them. */
enum readable {
	R_MESSAGES,
	R_NOT_VISIBLE,
	R_DELAYED,
	R_VISIBILITY,
	R_DELAY,
	R_MAX_SIZE,
	R_RETENTION,
	R_WAIT,
	R_CREATED,
	R_MODIFIED,
	R_ARN,
	R_REDRIVE,
	R_COUNT
};

static const char *const readable_names[R_COUNT] = {
	[R_MESSAGES] = "ApproximateNumberOfMessages",
	[R_NOT_VISIBLE] = "ApproximateNumberOfMessagesNotVisible",
	[R_DELAYED] = "ApproximateNumberOfMessagesDelayed",
	[R_VISIBILITY] = "VisibilityTimeout",
	[R_DELAY] = "DelaySeconds",
	[R_MAX_SIZE] = "MaximumMessageSize",
	[R_RETENTION] = "MessageRetentionPeriod",
	[R_WAIT] = "ReceiveMessageWaitTimeSeconds",
	[R_CREATED] = "CreatedTimestamp",
	[R_MODIFIED] = "LastModifiedTimestamp",
	[R_ARN] = "QueueArn",
	[R_REDRIVE] = "RedrivePolicy",
};

/* Names SQS knows that a standard queue in mmqd has no value for: asked for, they are left out. */
static const char *const absent_names[] = { "Policy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
					    "SqsManagedSseEnabled", "RedriveAllowPolicy", "FifoQueue",
					    "ContentBasedDeduplication", "DeduplicationScope",
					    "FifoThroughputLimit" };

/* readable_value writes attribute r of queue st into buf; false when the queue has none. */
static bool readable_value(struct sqs_call *c, const struct queue_stats *st, enum readable r,
			   char *buf, size_t len)
{
	const struct queue_settings *s = &st->settings;
	uint64_t v;

	switch (r) {
	case R_ARN:
		snprintf(buf, len, SQS_ARN_PREFIX "%s", st->name);
		return true;
	case R_REDRIVE:
		if (s->max_deliveries == 0)
			return false;
		snprintf(buf, len, "{\"deadLetterTargetArn\":\"" SQS_ARN_PREFIX "%s\",\"maxReceiveCount\":%u}",
			 s->dead_letter, (unsigned)s->max_deliveries);
		return true;
	case R_MESSAGES: v = st->depth; break;
	case R_NOT_VISIBLE: v = st->in_flight; break;
	case R_DELAYED: v = st->delayed; break;
	case R_VISIBILITY: v = s->lease_seconds; break;
	case R_DELAY: v = s->delay_seconds; break;
	case R_MAX_SIZE: v = s->max_message_bytes; break;
	case R_RETENTION: v = RETENTION_SECONDS; break;
	case R_WAIT: v = s->receive_wait_seconds; break;
	case R_CREATED: v = s->created_ms / 1000u; break;
	case R_MODIFIED: v = s->modified_ms / 1000u; break;
	default: return false;
	}
	(void)c;
	snprintf(buf, len, "%" PRIu64, v);
	return true;
}

/* wanted marks in want[] the attributes names asks for; SQS_OK or InvalidAttributeName. */
static enum sqs_err wanted(struct sqs_call *c, const cJSON *names, bool want[R_COUNT])
{
	const cJSON *n;

	memset(want, 0, R_COUNT * sizeof(bool));
	cJSON_ArrayForEach(n, names)
	{
		bool known = false;
		if (!cJSON_IsString(n))
			return SQS_E_INVALID_ATTRIBUTE_NAME;
		for (int r = 0; r < R_COUNT; r++) {
			if (strcmp(n->valuestring, "All") == 0 || strcmp(n->valuestring, readable_names[r]) == 0) {
				want[r] = true;
				known = true;
			}
		}
		for (size_t i = 0; i < sizeof(absent_names) / sizeof(absent_names[0]); i++)
			known = known || strcmp(n->valuestring, absent_names[i]) == 0;
		if (!known) {
			snprintf(c->message_buf, sizeof(c->message_buf), "Unknown Attribute %.100s.",
				 n->valuestring);
			c->message = c->message_buf;
			return SQS_E_INVALID_ATTRIBUTE_NAME;
		}
	}
	return SQS_OK;
}

enum api_step sqs_get_queue_attributes(struct sqs_call *c)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(c->in, "AttributeNames");
	bool want[R_COUNT];
	struct queue_stats st;
	cJSON *attrs = NULL;
	enum sqs_err e = sqs_resolve(c);
	enum queue_err err;

	if (e == SQS_OK && names != NULL && !cJSON_IsArray(names))
		e = SQS_E_INVALID_ATTRIBUTE_NAME;
	if (e == SQS_OK)
		e = wanted(c, names, want);
	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	err = queue_stats(c->req->srv->store, c->queue, &st);
	if (err != QUEUE_OK)
		return sqs_queue_err(c, err, "queue_stats");
	c->out = cJSON_CreateObject();
	for (int r = 0; c->out != NULL && r < R_COUNT; r++) {
		char v[QUEUE_NAME_MAX + 160];
		if (!want[r] || !readable_value(c, &st, (enum readable)r, v, sizeof(v)))
			continue;
		if (attrs == NULL)
			attrs = cJSON_AddObjectToObject(c->out, "Attributes");
		cJSON_AddStringToObject(attrs, readable_names[r], v);
	}
	return c->out != NULL ? sqs_ok(c) : sqs_fail(c, SQS_E_INTERNAL, NULL);
}

enum api_step sqs_set_queue_attributes(struct sqs_call *c)
{
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(c->in, "Attributes");
	struct queue_settings s;
	unsigned mask = 0;
	enum sqs_err e = sqs_resolve(c);
	enum queue_err err;

	if (e == SQS_OK && attrs == NULL) {
		c->message = "The request must contain the parameter Attributes.";
		e = SQS_E_MISSING_PARAMETER;
	}
	if (e == SQS_OK)
		e = sqs_attributes_to_settings(c, attrs, &s, &mask);
	if (e != SQS_OK)
		return sqs_fail(c, e, NULL);
	err = mask != 0 ? queue_put_settings(c->req->srv->store, c->queue, &s, mask, NULL) : QUEUE_OK;
	/* Connections look max_message_bytes up again (see message_limit in http.c). */
	atomic_fetch_add(&c->req->srv->settings_gen, 1);
	if (err == QUEUE_BADARG)
		return sqs_fail(c, SQS_E_INVALID_ATTRIBUTE_VALUE, NULL);
	if (err == QUEUE_NOTFOUND)
		return sqs_fail(c, SQS_E_QUEUE_DOES_NOT_EXIST, NULL);
	if (err != QUEUE_OK)
		return sqs_queue_err(c, err, "queue_put_settings");
	return sqs_ok(c);
}
