/* errors.c: the one table of request errors and how engine errors map onto it. */
#include "internal.h"

/* Every error response: status, code, and a sentence that never names files or errno. */
static const struct api_error_info errors[API_E_COUNT] = {
	[API_E_NONE] = { 500, "internal_error", "The server could not complete the request." },
	[API_E_NOT_FOUND] = { 404, "not_found", "No such route." },
	[API_E_METHOD_NOT_ALLOWED] = { 405, "method_not_allowed",
				       "This route does not accept that method." },
	[API_E_UNAUTHORIZED] = { 401, "unauthorized", "A valid bearer token is required." },
	[API_E_INVALID_PARAMETER] = { 400, "invalid_parameter",
				      "A parameter is missing, malformed or out of range." },
	[API_E_INVALID_QUEUE_NAME] = { 400, "invalid_queue_name",
				       "Queue names are 1 to 64 characters from A-Z, a-z, 0-9, _ and -." },
	[API_E_INVALID_JSON] = { 400, "invalid_json", "The body is not valid JSON in UTF-8." },
	[API_E_INVALID_BATCH] = { 400, "invalid_batch",
				  "A batch must be a JSON array of 1 to 1000 payloads." },
	[API_E_MESSAGE_TOO_LARGE] = { 413, "message_too_large",
				      "The message is larger than the queue's max_message_bytes." },
	[API_E_REQUEST_TOO_LARGE] = { 413, "request_too_large",
				      "The request body is larger than the server accepts." },
	[API_E_QUEUE_NOT_FOUND] = { 404, "queue_not_found", "No such queue." },
	[API_E_MESSAGE_NOT_FOUND] = { 404, "message_not_found",
				      "No such message." },
	[API_E_LEASE_MISMATCH] = { 409, "lease_mismatch",
				   "The lease token is not the message's current lease." },
	[API_E_QUEUE_FULL] = { 507, "queue_full", "The queue would exceed its max_bytes." },
	[API_E_DISK_FULL] = { 507, "disk_full", "The server is short of disk space." },
	[API_E_TOO_MANY_QUEUES] = { 507, "too_many_queues",
				    "The server already holds as many queues as it may." },
	[API_E_TOO_MANY_LONG_POLLS] = { 429, "too_many_long_polls",
					"Too many requests are waiting for messages; try again later." },
	[API_E_UNAVAILABLE] = { 503, "unavailable",
				"The queue cannot make changes durable and takes no more writes." },
	[API_E_SHUTTING_DOWN] = { 503, "shutting_down", "The server is shutting down." },
	[API_E_INTERNAL] = { 500, "internal_error", "The server could not complete the request." },
	[API_E_SQS_DENIED] = { 403, "access_denied", "The request does not name the configured access key." },
};

/* What each engine error answers as; errors a request cannot meet answer as internal errors. */
static const enum api_error from_queue[QUEUE_ERR_COUNT] = {
	[QUEUE_OK] = API_E_INTERNAL,
	[QUEUE_NOTFOUND] = API_E_QUEUE_NOT_FOUND,
	[QUEUE_NOMSG] = API_E_MESSAGE_NOT_FOUND,
	[QUEUE_STALE] = API_E_LEASE_MISMATCH,
	[QUEUE_FULL] = API_E_QUEUE_FULL,
	[QUEUE_DISKFULL] = API_E_DISK_FULL,
	[QUEUE_TOOBIG] = API_E_MESSAGE_TOO_LARGE,
	[QUEUE_BADNAME] = API_E_INVALID_QUEUE_NAME,
	[QUEUE_BADARG] = API_E_INVALID_PARAMETER,
	[QUEUE_LOCKED] = API_E_INTERNAL,
	[QUEUE_CORRUPT] = API_E_INTERNAL,
	[QUEUE_IO] = API_E_INTERNAL,
	[QUEUE_SYNCFAIL] = API_E_UNAVAILABLE,
	[QUEUE_NOMEM] = API_E_INTERNAL,
	[QUEUE_TOOMANY] = API_E_TOO_MANY_QUEUES,
};

const struct api_error_info *api_error_get(enum api_error e)
{
	if ((unsigned)e >= API_E_COUNT)
		e = API_E_INTERNAL;
	return &errors[e];
}

enum api_error api_error_from_queue(enum queue_err err)
{
	if ((unsigned)err >= QUEUE_ERR_COUNT)
		return API_E_INTERNAL;
	return from_queue[err];
}
