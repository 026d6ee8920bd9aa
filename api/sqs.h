/* sqs.h: what the files of the Amazon SQS endpoint (api/sqs_*.c) share; not part of the api contract. */
#ifndef MMQ_API_SQS_H
#define MMQ_API_SQS_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The account id in queue URLs and ARNs, and the region in ARNs (as LocalStack and ElasticMQ do). */
#define SQS_ACCOUNT "000000000000"
#define SQS_REGION "us-east-1"
#define SQS_ARN_PREFIX "arn:aws:sqs:" SQS_REGION ":" SQS_ACCOUNT ":"
/* Batch actions take 1 to this many entries; a receive returns at most this many messages. */
#define SQS_BATCH_MAX 10u
/* The longest ReceiveMessage long poll, in seconds. */
#define SQS_WAIT_MAX 20u
/* SendMessage without a queue that allows more: 256 KiB of body and attributes. */
#define SQS_MESSAGE_MAX 262144u

/* The two wire protocols: AWS JSON 1.0 (current SDKs) and the Query protocol (form in, XML out). */
enum sqs_proto { SQS_JSON, SQS_QUERY };

/* Every error an SQS request can end in; sqs_errors.c holds the status and both codes of each. */
enum sqs_err {
	SQS_OK = 0,
	SQS_E_QUEUE_DOES_NOT_EXIST,
	SQS_E_QUEUE_NAME_EXISTS,
	SQS_E_RECEIPT_HANDLE_INVALID,
	SQS_E_MESSAGE_NOT_INFLIGHT,
	SQS_E_INVALID_ATTRIBUTE_NAME,
	SQS_E_INVALID_ATTRIBUTE_VALUE,
	SQS_E_INVALID_PARAMETER_VALUE,
	SQS_E_MISSING_PARAMETER,
	SQS_E_EMPTY_BATCH,
	SQS_E_TOO_MANY_ENTRIES,
	SQS_E_IDS_NOT_DISTINCT,
	SQS_E_INVALID_BATCH_ID,
	SQS_E_BATCH_TOO_LONG,
	SQS_E_INVALID_MESSAGE_CONTENTS,
	SQS_E_UNSUPPORTED_OPERATION,
	SQS_E_INVALID_ACTION,
	SQS_E_MISSING_AUTH,
	SQS_E_INVALID_CLIENT_TOKEN,
	SQS_E_SIGNATURE_MISMATCH,
	SQS_E_OVER_LIMIT,
	SQS_E_THROTTLED,
	SQS_E_UNAVAILABLE,
	SQS_E_INTERNAL,
	SQS_E_COUNT
};

/* The wire face of an sqs_err: status, the JSON __type name, the Query (legacy) code, its fault side. */
struct sqs_error_info {
	unsigned status;
	const char *json_name;
	const char *query_code;
	const char *message;
	bool receiver; /* the fault is the server's ("Receiver"), not the client's ("Sender") */
};

struct sqs_call;

/* An sqs_action_fn serves one action; like a route handler it queues exactly one response or suspends. */
typedef enum api_step (*sqs_action_fn)(struct sqs_call *c);

/* One row of the action table (sqs_router.c). */
struct sqs_action {
	const char *name;
	sqs_action_fn fn;
	const char *entry; /* the XML element of a batch's Successful entries; NULL for other actions */
	bool result;	   /* the Query answer has a <NameResult> element */
};

/* One SQS request: its protocol, action, parameters and answer, kept across suspensions. */
struct sqs_call {
	struct api_req *req;
	enum sqs_proto proto;
	const struct sqs_action *action;
	cJSON *in;  /* the parameters, in the JSON protocol's shape whatever the protocol */
	cJSON *out; /* the answer, in the JSON protocol's shape */
	char request_id[40];
	char origin[300]; /* "http://host:port" from the Host header: queue URLs start with it */
	char queue[QUEUE_NAME_MAX + 1]; /* the queue the request names, once resolved */
	struct queue_settings settings;	/* its settings, once resolved */
	const char *pend_headers[3];	/* the extra headers of an answer held back for durability */
	const char *message;		/* the message of the error answered, NULL: the table's */
	char message_buf[200];
	/* ReceiveMessage: what to show of each message, kept for the end of the long poll. */
	cJSON *attribute_names;
	cJSON *message_attribute_names;
	bool visible_now; /* VisibilityTimeout 0: each message is released as soon as it is received */
};

/*
 * sqs_call_new makes the SQS state of req (req->sqs, freed with the request):
 * its protocol from the headers, a request id, the origin of its queue URLs.
 * NULL when out of memory.
 */
struct sqs_call *sqs_call_new(struct api_req *req);

/* sqs_error_get returns the wire face of e. This function can't fail. */
const struct sqs_error_info *sqs_error_get(enum sqs_err e);

/* sqs_error_from_api returns the SQS error an HTTP-layer error answers as. This function can't fail. */
enum sqs_err sqs_error_from_api(enum api_error e);

/* sqs_error_from_queue returns the SQS error an engine error answers as. This function can't fail. */
enum sqs_err sqs_error_from_queue(enum queue_err err);

/* sqs_fail queues the error answer e with message (NULL: the table's; copied). */
enum api_step sqs_fail(struct sqs_call *c, enum sqs_err e, const char *message);

/*
 * sqs_failf is sqs_fail with a printf-style message.
 */
enum api_step sqs_failf(struct sqs_call *c, enum sqs_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* sqs_queue_err queues the answer an engine error is; what names the failed call for the log. */
enum api_step sqs_queue_err(struct sqs_call *c, enum queue_err err, const char *what);

/*
 * sqs_render writes c->out as the answer's body in c's protocol into *b.
 * This function can't fail (a failed allocation leaves b->oom set).
 */
void sqs_render(struct sqs_call *c, struct jbuf *b);

/* sqs_ok queues c->out as a 200 answer. */
enum api_step sqs_ok(struct sqs_call *c);

/*
 * sqs_ok_durable queues c->out as a 200 answer once the changes of the n
 * tickets are durable (taken over; n may be 0), or a 503 when one cannot be.
 */
enum api_step sqs_ok_durable(struct sqs_call *c, struct queue_ticket *tickets, size_t n);

/*
 * sqs_internal_durable answers the internal error (out of memory after a
 * change) once the changes of the n tickets (taken over) are settled, since
 * a registered waiter must be before the connection's next request.
 */
enum api_step sqs_internal_durable(struct sqs_call *c, struct queue_ticket *tickets, size_t n);

/*
 * The tickets of a request that changes its queue once per entry (a batch).
 * A queue's changes become durable in the order they are made, so the ticket
 * of the latest change covers the earlier ones, which are released: the
 * request keeps one ticket, or two when the first carries the connection's
 * waiter, registered (which can't be released), and later changes followed.
 */
struct sqs_tickets {
	struct queue_ticket t[2];
	size_t n;
};

/*
 * sqs_ticket returns the ticket for an engine call on c's queue: for the
 * request's last call (last), the connection's waiter (api_ticket) unless a
 * kept ticket holds it; otherwise a plain one, which a later change covers.
 */
struct queue_ticket sqs_ticket(struct sqs_call *c, const struct sqs_tickets *k, bool last);

/*
 * sqs_ticket_keep takes over *t, the ticket of a successful change made after
 * those of k, and releases the kept one it covers. This function can't fail.
 */
void sqs_ticket_keep(struct sqs_tickets *k, struct queue_ticket *t);

/*
 * sqs_resolve finds the queue the request names (QueueUrl, else the queue URL
 * path it was sent to), fills c->queue and c->settings, and returns SQS_OK,
 * SQS_E_MISSING_PARAMETER or SQS_E_QUEUE_DOES_NOT_EXIST (message set).
 */
enum sqs_err sqs_resolve(struct sqs_call *c);

/* sqs_queue_url_json returns the URL of queue name as a new cJSON string, NULL when out of memory. */
cJSON *sqs_queue_url_json(struct sqs_call *c, const char *name);

/* sqs_str returns parameter name of c as a string, NULL when absent or not a string. */
const char *sqs_str(const cJSON *in, const char *name);

/*
 * sqs_int reads parameter name of obj (a JSON number, or a decimal string as
 * the Query protocol sends) into *out: def when absent; false when it is not
 * an integer in [min, max].
 */
bool sqs_int(const cJSON *obj, const char *name, int64_t min, int64_t max, int64_t def,
	     int64_t *out);

/* sqs_int_value is sqs_int for the value v itself (NULL: absent). */
bool sqs_int_value(const cJSON *v, int64_t min, int64_t max, int64_t def, int64_t *out);

/*
 * sqs_sigv4_ok verifies the request's AWS Signature Version 4 (Authorization
 * header, X-Amz-Date within 15 minutes, Host signed) with secret, over the
 * method, path, query, signed headers and body. This function can't fail:
 * anything it cannot check is a mismatch.
 */
bool sqs_sigv4_ok(struct sqs_call *c, const char *secret);

/* Query protocol (sqs_query.c). */

/*
 * sqs_query_parse decodes the form body (n bytes at p, may be 0) and the URL
 * query arguments of req into one object in the JSON protocol's shape
 * ("Attribute.1.Name=A&Attribute.1.Value=B" becomes "Attributes":{"A":"B"}).
 * *err is SQS_E_INVALID_PARAMETER_VALUE when the request has more parameters
 * than any SQS request can (the rest were not read), SQS_E_INVALID_MESSAGE_CONTENTS
 * when one holds a NUL (%00), else SQS_OK. Caller owns the result; free with
 * cJSON_Delete(). NULL when out of memory.
 */
cJSON *sqs_query_parse(struct api_req *req, const char *p, size_t n, enum sqs_err *err);

/* sqs_query_render writes the XML answer of c (c->out, or nothing) into *b. */
void sqs_query_render(struct sqs_call *c, struct jbuf *b);

/* sqs_query_error writes the XML <ErrorResponse> of e with message into *b. */
void sqs_query_error(struct sqs_call *c, const struct sqs_error_info *e, const char *message,
		     struct jbuf *b);

/* Messages: digests, checks and the stored envelope (sqs_message.c). */

/* sqs_md5_hex writes the MD5 of n bytes at p into hex (33 bytes, NUL-terminated). This function can't fail. */
void sqs_md5_hex(const void *p, size_t n, char hex[33]);

/*
 * sqs_check_attributes checks a MessageAttributes object (NULL: none) and
 * adds the bytes SQS counts of it to *size. Returns SQS_OK or the error, with
 * its message in msg (msglen bytes).
 */
enum sqs_err sqs_check_attributes(const cJSON *attrs, size_t *size, char *msg, size_t msglen);

/*
 * sqs_attributes_md5 writes the AWS digest of message attributes attrs (an
 * object checked by sqs_check_attributes) into hex; false when attrs is empty
 * or NULL (no digest is sent then) or out of memory.
 */
bool sqs_attributes_md5(const cJSON *attrs, char hex[33]);

/* sqs_body_valid says whether the n bytes at p are UTF-8 of characters SQS accepts in a message. */
bool sqs_body_valid(const char *p, size_t n);

/*
 * sqs_envelope returns the stored payload of a message: {"sqs":1,"body":...}
 * plus "attributes" when attrs has any. Caller owns the result; free with
 * free(). NULL when out of memory.
 */
char *sqs_envelope(const char *body, const cJSON *attrs);

/*
 * sqs_unwrap reads a stored payload (n bytes): an envelope gives its body and
 * attributes (*attrs, may be set to NULL); any other JSON is its own text as
 * the body. Caller owns *body (free()) and *attrs (cJSON_Delete()). False when out of memory.
 */
bool sqs_unwrap(const void *payload, size_t n, char **body, cJSON **attrs);

/* sqs_message_id writes the MessageId of message id of queue into out (37 bytes). This function can't fail. */
void sqs_message_id(const char *queue, uint64_t id, char out[37]);

/*
 * sqs_handle_make writes the receipt handle of a lease into out (outlen bytes,
 * at least 200). This function can't fail.
 */
void sqs_handle_make(const char *queue, uint64_t id, uint64_t lease, char *out, size_t outlen);

/* sqs_handle_parse reads a receipt handle; false when it is not one mmqd gave out. */
bool sqs_handle_parse(const char *handle, char queue[QUEUE_NAME_MAX + 1], uint64_t *id,
		      uint64_t *lease);

/* Actions (sqs_queues.c, sqs_attrs.c, sqs_send.c, sqs_receive.c). */
enum api_step sqs_create_queue(struct sqs_call *c);
enum api_step sqs_get_queue_url(struct sqs_call *c);
enum api_step sqs_list_queues(struct sqs_call *c);
enum api_step sqs_delete_queue(struct sqs_call *c);
enum api_step sqs_purge_queue(struct sqs_call *c);
enum api_step sqs_list_dead_letter_sources(struct sqs_call *c);
enum api_step sqs_get_queue_attributes(struct sqs_call *c);
enum api_step sqs_set_queue_attributes(struct sqs_call *c);
enum api_step sqs_send_message(struct sqs_call *c);
enum api_step sqs_send_message_batch(struct sqs_call *c);
enum api_step sqs_receive_message(struct sqs_call *c);
enum api_step sqs_delete_message(struct sqs_call *c);
enum api_step sqs_delete_message_batch(struct sqs_call *c);
enum api_step sqs_change_visibility(struct sqs_call *c);
enum api_step sqs_change_visibility_batch(struct sqs_call *c);

/*
 * sqs_attributes_to_settings reads a queue Attributes object (NULL: none) into
 * *s and *mask. Returns SQS_OK or the error with c->message set.
 */
enum sqs_err sqs_attributes_to_settings(struct sqs_call *c, const cJSON *attrs,
					struct queue_settings *s, unsigned *mask);

/*
 * sqs_batch_check checks the Entries of a batch action: 1 to 10, each an
 * object with a distinct Id of [A-Za-z0-9_-]{1,80}. Returns SQS_OK or the error
 * (c->message set); *entries is the array.
 */
enum sqs_err sqs_batch_check(struct sqs_call *c, const cJSON **entries);

/* sqs_batch_failed appends a Failed entry {Id, SenderFault, Code, Message} for e to array failed. */
void sqs_batch_failed(cJSON *failed, const char *id, enum sqs_err e, const char *message);

#endif
