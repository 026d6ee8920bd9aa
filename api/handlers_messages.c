/* handlers_messages.c: enqueue, batch, peek, purge, and the ack, release and extend of leases. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "payload.h"

/* The largest delay a message or a release may ask for, in seconds (12 hours). */
#define DELAY_MAX_SECONDS 43200u

enum api_step api_h_enqueue(struct api_req *req)
{
	struct queue_ticket ticket = api_ticket(req);
	struct queue_payload item;
	uint64_t delay, id;
	size_t start, len;
	enum queue_err err;
	struct jbuf b;

	if (!api_param_u64(req, "delay", 0, DELAY_MAX_SECONDS, 0, &delay))
		return api_respond_error(req, API_E_INVALID_PARAMETER);
	if (req->body.len == 0 || !payload_check(req->body.data, req->body.len, &start, &len))
		return api_respond_error(req, API_E_INVALID_JSON);
	item.data = req->body.data + start;
	item.len = len;
	err = queue_enqueue(req->srv->store, req->path.queue, &item, 1, delay * 1000u, &id, &ticket);
	if (err != QUEUE_OK) {
		api_ticket_drop(&ticket);
		return api_respond_queue_err(req, err, "queue_enqueue");
	}
	jb_init(&b);
	jb_lit(&b, "{\"id\":");
	jb_u64(&b, id);
	jb_lit(&b, "}");
	return api_respond_durable(req, &ticket, 201, &b);
}

/* batch_error says how a malformed batch answers. */
static enum api_error batch_error(enum payload_batch_err e)
{
	static const enum api_error map[] = {
		[PAYLOAD_BATCH_OK] = API_E_NONE,
		[PAYLOAD_BATCH_JSON] = API_E_INVALID_JSON,
		[PAYLOAD_BATCH_SHAPE] = API_E_INVALID_BATCH,
		[PAYLOAD_BATCH_NOMEM] = API_E_INTERNAL,
	};
	return map[e];
}

enum api_step api_h_batch(struct api_req *req)
{
	struct queue_ticket ticket = api_ticket(req);
	struct queue_payload *items = NULL;
	uint64_t delay, *ids = NULL;
	size_t count = 0;
	enum payload_batch_err split;
	enum queue_err err;
	struct jbuf b;

	jb_init(&b);
	if (!req->path.queue_ok)
		return api_respond_error(req, API_E_INVALID_QUEUE_NAME);
	if (!api_param_u64(req, "delay", 0, DELAY_MAX_SECONDS, 0, &delay))
		return api_respond_error(req, API_E_INVALID_PARAMETER);
	split = payload_split(req->body.data ? req->body.data : "", req->body.len, &items, &count);
	if (split != PAYLOAD_BATCH_OK)
		return api_respond_error(req, batch_error(split));
	ids = calloc(count, sizeof(*ids));
	if (ids == NULL) {
		api_respond_error(req, API_E_INTERNAL);
		goto fail;
	}
	err = queue_enqueue(req->srv->store, req->path.queue, items, count, delay * 1000u, ids,
			    &ticket);
	if (err != QUEUE_OK) {
		api_ticket_drop(&ticket);
		api_respond_queue_err(req, err, "queue_enqueue");
		goto fail;
	}
	jb_lit(&b, "{\"ids\":[");
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			jb_lit(&b, ",");
		jb_u64(&b, ids[i]);
	}
	jb_lit(&b, "]}");
	free(items);
	free(ids);
	return api_respond_durable(req, &ticket, 201, &b);
fail:
	free(items);
	free(ids);
	return API_STEP_DONE;
}

enum api_step api_h_peek(struct api_req *req)
{
	struct queue_msgs m;
	uint64_t limit;
	enum queue_err err;
	struct jbuf b;

	if (!req->path.queue_ok)
		return api_respond_error(req, API_E_INVALID_QUEUE_NAME);
	if (!api_param_u64(req, "limit", 1, QUEUE_BATCH_MAX, 1, &limit))
		return api_respond_error(req, API_E_INVALID_PARAMETER);
	err = queue_peek(req->srv->store, req->path.queue, (size_t)limit, &m);
	if (err != QUEUE_OK)
		return api_respond_queue_err(req, err, "queue_peek");
	jb_init(&b);
	jo_messages(&b, &m, false);
	queue_msgs_free(&m);
	return api_respond(req, 200, &b);
}

enum api_step api_h_purge(struct api_req *req)
{
	struct queue_ticket ticket = api_ticket(req);
	enum queue_err err;
	struct jbuf b;

	if (!req->path.queue_ok)
		return api_respond_error(req, API_E_INVALID_QUEUE_NAME);
	err = queue_purge(req->srv->store, req->path.queue, &ticket);
	if (err != QUEUE_OK) {
		api_ticket_drop(&ticket);
		return api_respond_queue_err(req, err, "queue_purge");
	}
	jb_init(&b);
	return api_respond_durable(req, &ticket, 204, &b);
}

/*
 * lease_target checks what ack, release and extend share: the queue name, the
 * message id and a lease token. A token that is not a decimal number is
 * malformed (400); a well-formed one that is not current is a mismatch (409).
 */
static enum api_error lease_target(struct api_req *req, uint64_t *lease)
{
	if (!req->path.queue_ok)
		return API_E_INVALID_QUEUE_NAME;
	if (!req->path.id_ok)
		return API_E_INVALID_PARAMETER;
	if (MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "lease") == NULL)
		return API_E_INVALID_PARAMETER;
	if (!api_param_u64(req, "lease", 0, UINT64_MAX, 0, lease))
		return API_E_INVALID_PARAMETER;
	return API_E_NONE;
}

enum api_step api_h_ack(struct api_req *req)
{
	struct queue_ticket ticket = api_ticket(req);
	uint64_t lease;
	enum api_error e = lease_target(req, &lease);
	enum queue_err err;
	struct jbuf b;

	if (e != API_E_NONE)
		return api_respond_error(req, e);
	err = queue_ack(req->srv->store, req->path.queue, req->path.id, lease, &ticket);
	if (err != QUEUE_OK) {
		api_ticket_drop(&ticket);
		return api_respond_queue_err(req, err, "queue_ack");
	}
	jb_init(&b);
	return api_respond_durable(req, &ticket, 204, &b);
}

enum api_step api_h_release(struct api_req *req)
{
	struct queue_ticket ticket = api_ticket(req);
	uint64_t lease, delay;
	enum api_error e = lease_target(req, &lease);
	enum queue_err err;
	struct jbuf b;

	if (e == API_E_NONE && !api_param_u64(req, "delay", 0, DELAY_MAX_SECONDS, 0, &delay))
		e = API_E_INVALID_PARAMETER;
	if (e != API_E_NONE)
		return api_respond_error(req, e);
	err = queue_release(req->srv->store, req->path.queue, req->path.id, lease, delay * 1000u,
			    &ticket);
	if (err != QUEUE_OK) {
		api_ticket_drop(&ticket);
		return api_respond_queue_err(req, err, "queue_release");
	}
	jb_init(&b);
	return api_respond_durable(req, &ticket, 204, &b);
}

enum api_step api_h_extend(struct api_req *req)
{
	struct queue_ticket ticket = api_ticket(req);
	struct queue_settings s;
	uint64_t lease, ttl, expires = 0;
	enum api_error e = lease_target(req, &lease);
	enum queue_err err;
	struct jbuf b;

	if (e == API_E_NONE && !api_param_u64(req, "ttl", 1, QUEUE_LEASE_SECONDS_MAX, 0, &ttl))
		e = API_E_INVALID_PARAMETER;
	if (e != API_E_NONE)
		return api_respond_error(req, e);
	if (ttl == 0) {
		/* Without ttl a lease is kept for the queue's lease_seconds, as when it was taken. */
		err = queue_get_settings(req->srv->store, req->path.queue, &s);
		if (err != QUEUE_OK)
			return api_respond_queue_err(req, err, "queue_get_settings");
		ttl = s.lease_seconds;
	}
	err = queue_extend(req->srv->store, req->path.queue, req->path.id, lease, ttl * 1000u,
			   &expires, &ticket);
	if (err != QUEUE_OK) {
		api_ticket_drop(&ticket);
		return api_respond_queue_err(req, err, "queue_extend");
	}
	jb_init(&b);
	jb_lit(&b, "{\"lease_expires_at\":");
	jb_time(&b, expires);
	jb_lit(&b, "}");
	return api_respond_durable(req, &ticket, 200, &b);
}
