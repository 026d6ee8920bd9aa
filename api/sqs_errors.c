/* sqs_errors.c: the SQS error table, how engine and HTTP errors map onto it, parameter reading and batch entry checks. */
#include <stdio.h>
#include <string.h>

#include "sqs.h"

/* Status, JSON __type name, Query code and message of every error, as SQS answers them. */
static const struct sqs_error_info errors[SQS_E_COUNT] = {
	[SQS_OK] = { 500, "InternalError", "InternalError", "The server could not complete the request.", true },
	[SQS_E_QUEUE_DOES_NOT_EXIST] = { 400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
					 "The specified queue does not exist.", false },
	[SQS_E_QUEUE_NAME_EXISTS] = { 400, "QueueNameExists", "QueueAlreadyExists",
				      "A queue already exists with the same name and a different value for attribute(s).",
				      false },
	[SQS_E_RECEIPT_HANDLE_INVALID] = { 400, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
					   "The input receipt handle is invalid.", false },
	[SQS_E_MESSAGE_NOT_INFLIGHT] = { 400, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight",
					 "The message referred to isn't in flight.", false },
	[SQS_E_INVALID_ATTRIBUTE_NAME] = { 400, "InvalidAttributeName", "InvalidAttributeName",
					   "The specified attribute doesn't exist.", false },
	[SQS_E_INVALID_ATTRIBUTE_VALUE] = { 400, "InvalidAttributeValue", "InvalidAttributeValue",
					    "A queue attribute value is invalid.", false },
	[SQS_E_INVALID_PARAMETER_VALUE] = { 400, "InvalidParameterValue", "InvalidParameterValue",
					    "A parameter value is invalid.", false },
	[SQS_E_MISSING_PARAMETER] = { 400, "MissingParameter", "MissingParameter",
				      "A required parameter is missing.", false },
	[SQS_E_EMPTY_BATCH] = { 400, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
				"The batch request doesn't contain any entries.", false },
	[SQS_E_TOO_MANY_ENTRIES] = { 400, "TooManyEntriesInBatchRequest",
				     "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
				     "The batch request contains more entries than permissible.", false },
	[SQS_E_IDS_NOT_DISTINCT] = { 400, "BatchEntryIdsNotDistinct",
				     "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
				     "Two or more batch entries in the request have the same Id.", false },
	[SQS_E_INVALID_BATCH_ID] = { 400, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
				     "The Id of a batch entry in a batch request doesn't abide by the specification.",
				     false },
	[SQS_E_BATCH_TOO_LONG] = { 400, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
				   "The length of all the messages put together is more than the limit.", false },
	[SQS_E_INVALID_MESSAGE_CONTENTS] = { 400, "InvalidMessageContents", "InvalidMessageContents",
					     "The message contains characters outside the allowed set.", false },
	[SQS_E_UNSUPPORTED_OPERATION] = { 400, "UnsupportedOperation",
					  "AWS.SimpleQueueService.UnsupportedOperation",
					  "Error code 400. Unsupported operation.", false },
	[SQS_E_INVALID_ACTION] = { 400, "InvalidAction", "InvalidAction",
				   "The action or operation requested is invalid.", false },
	[SQS_E_MISSING_AUTH] = { 403, "MissingAuthenticationToken", "MissingAuthenticationToken",
				 "The request must contain an AWS4-HMAC-SHA256 Authorization header.", false },
	[SQS_E_INVALID_CLIENT_TOKEN] = { 403, "InvalidClientTokenId", "InvalidClientTokenId",
					 "The security token included in the request is invalid.", false },
	[SQS_E_SIGNATURE_MISMATCH] = { 403, "SignatureDoesNotMatch", "SignatureDoesNotMatch",
				       "The request signature we calculated does not match the signature you provided.",
				       false },
	[SQS_E_OVER_LIMIT] = { 403, "OverLimit", "OverLimit",
			       "The queue is full: it would exceed its max_bytes.", false },
	[SQS_E_THROTTLED] = { 403, "RequestThrottled", "RequestThrottled",
			      "Too many requests are waiting for messages; try again later.", false },
	[SQS_E_UNAVAILABLE] = { 503, "ServiceUnavailable", "ServiceUnavailable",
				"The server cannot take the request now.", true },
	[SQS_E_INTERNAL] = { 500, "InternalError", "InternalError",
			     "The server could not complete the request.", true },
};

const struct sqs_error_info *sqs_error_get(enum sqs_err e)
{
	if ((unsigned)e >= SQS_E_COUNT)
		e = SQS_E_INTERNAL;
	return &errors[e];
}

/* What each HTTP-layer error answers as on the SQS endpoint. */
static const enum sqs_err from_api[API_E_COUNT] = {
	[API_E_NONE] = SQS_E_INTERNAL,
	[API_E_NOT_FOUND] = SQS_E_INVALID_ACTION,
	[API_E_METHOD_NOT_ALLOWED] = SQS_E_INVALID_ACTION,
	[API_E_UNAUTHORIZED] = SQS_E_INVALID_CLIENT_TOKEN,
	[API_E_INVALID_PARAMETER] = SQS_E_INVALID_PARAMETER_VALUE,
	[API_E_INVALID_QUEUE_NAME] = SQS_E_QUEUE_DOES_NOT_EXIST,
	[API_E_INVALID_JSON] = SQS_E_INVALID_PARAMETER_VALUE,
	[API_E_INVALID_BATCH] = SQS_E_INVALID_PARAMETER_VALUE,
	[API_E_MESSAGE_TOO_LARGE] = SQS_E_INVALID_PARAMETER_VALUE,
	[API_E_REQUEST_TOO_LARGE] = SQS_E_INVALID_PARAMETER_VALUE,
	[API_E_QUEUE_NOT_FOUND] = SQS_E_QUEUE_DOES_NOT_EXIST,
	[API_E_MESSAGE_NOT_FOUND] = SQS_E_RECEIPT_HANDLE_INVALID,
	[API_E_LEASE_MISMATCH] = SQS_E_MESSAGE_NOT_INFLIGHT,
	[API_E_QUEUE_FULL] = SQS_E_OVER_LIMIT,
	[API_E_DISK_FULL] = SQS_E_UNAVAILABLE,
	[API_E_TOO_MANY_QUEUES] = SQS_E_OVER_LIMIT,
	[API_E_TOO_MANY_LONG_POLLS] = SQS_E_THROTTLED,
	[API_E_UNAVAILABLE] = SQS_E_UNAVAILABLE,
	[API_E_SHUTTING_DOWN] = SQS_E_UNAVAILABLE,
	[API_E_INTERNAL] = SQS_E_INTERNAL,
	[API_E_SQS_DENIED] = SQS_E_INVALID_CLIENT_TOKEN,
};

enum sqs_err sqs_error_from_api(enum api_error e)
{
	if ((unsigned)e >= API_E_COUNT)
		return SQS_E_INTERNAL;
	return from_api[e];
}

enum sqs_err sqs_error_from_queue(enum queue_err err)
{
	return sqs_error_from_api(api_error_from_queue(err));
}

const char *sqs_str(const cJSON *in, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool sqs_int_value(const cJSON *v, int64_t min, int64_t max, int64_t def, int64_t *out)
{
	int64_t n = 0;

	if (v == NULL || cJSON_IsNull(v)) {
		*out = def;
		return true;
	}
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble != (double)(int64_t)v->valuedouble)
			return false;
		n = (int64_t)v->valuedouble;
	} else if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		bool neg = *s == '-';
		s += neg;
		if (*s == '\0' || strlen(s) > 15)
			return false;
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return false;
			n = n * 10 + (*s - '0');
		}
		n = neg ? -n : n;
	} else {
		return false;
	}
	if (n < min || n > max)
		return false;
	*out = n;
	return true;
}

bool sqs_int(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t def,
	     int64_t *out)
{
	return sqs_int_value(cJSON_GetObjectItemCaseSensitive(obj, name), min, max, def, out);
}

/* batch_id_valid says whether id is 1 to 80 characters of [A-Za-z0-9_-]. */
static bool batch_id_valid(const char *id)
{
	size_t n = strlen(id);

	return n >= 1 && n <= 80 &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

enum sqs_err sqs_batch_check(struct sqs_call *c, const cJSON **entries)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(c->in, "Entries");
	const cJSON *e, *f;
	int n;

	*entries = list;
	if (list == NULL || (cJSON_IsArray(list) && cJSON_GetArraySize(list) == 0)) {
		c->message = "There should be at least one entry in the request.";
		return list == NULL ? SQS_E_MISSING_PARAMETER : SQS_E_EMPTY_BATCH;
	}
	if (!cJSON_IsArray(list)) {
		c->message = "Entries must be a list.";
		return SQS_E_INVALID_PARAMETER_VALUE;
	}
	n = cJSON_GetArraySize(list);
	if (n > (int)SQS_BATCH_MAX) {
		snprintf(c->message_buf, sizeof(c->message_buf),
			 "Maximum number of entries per request are %u. You have sent %d.",
			 SQS_BATCH_MAX, n);
		c->message = c->message_buf;
		return SQS_E_TOO_MANY_ENTRIES;
	}
	cJSON_ArrayForEach(e, list)
	{
		const char *id = sqs_str(e, "Id");
		if (!cJSON_IsObject(e) || id == NULL || !batch_id_valid(id)) {
			c->message = "A batch entry id can only contain alphanumeric characters, "
				     "hyphens and underscores. It can be at most 80 letters long.";
			return SQS_E_INVALID_BATCH_ID;
		}
		for (f = list->child; f != e; f = f->next) {
			if (strcmp(sqs_str(f, "Id"), id) == 0) {
				snprintf(c->message_buf, sizeof(c->message_buf),
					 "Id %s repeated.", id);
				c->message = c->message_buf;
				return SQS_E_IDS_NOT_DISTINCT;
			}
		}
	}
	return SQS_OK;
}

void sqs_batch_failed(cJSON *failed, const char *id, enum sqs_err e, const char *message)
{
	const struct sqs_error_info *info = sqs_error_get(e);
	cJSON *entry = cJSON_CreateObject();

	if (entry == NULL)
		return;
	cJSON_AddStringToObject(entry, "Id", id);
	cJSON_AddBoolToObject(entry, "SenderFault", !info->receiver);
	cJSON_AddStringToObject(entry, "Code", info->json_name);
	cJSON_AddStringToObject(entry, "Message", message != NULL ? message : info->message);
	cJSON_AddItemToArray(failed, entry);
}
