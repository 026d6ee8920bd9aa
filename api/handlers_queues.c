/* handlers_queues.c: the routes about the store and its queues as a whole: health, metrics, list, create or change, stats, delete. */
#include <cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "payload.h"

enum api_step api_h_healthz(struct api_req *req)
{
	struct jbuf b;

	jb_init(&b);
	jb_lit(&b, "{\"status\":\"ok\"}");
	return api_respond(req, 200, &b);
}

enum api_step api_h_metrics(struct api_req *req)
{
	struct queue_store_stats st;
	struct queue_stats *all = NULL;
	size_t count = 0;
	enum queue_err err = queue_list(req->srv->store, &all, &count);
	struct jbuf b;

	if (err != QUEUE_OK)
		return api_respond_queue_err(req, err, "queue_list");
	queue_store_stats(req->srv->store, &st);
	jb_init(&b);
	api_metrics_queues(&b, all, count, api_now_ms());
	free(all);
	api_metrics_store(&b, &st);
	/* Counted before it is written, so a scrape sees itself. */
	api_metrics_count(&req->srv->metrics, req->route_row, 200, api_mono_ns() - req->start_ns);
	req->counted = true;
	api_metrics_http(&b, &req->srv->metrics);
	return api_respond_body(req, 200, &b, "text/plain; version=0.0.4; charset=utf-8", NULL);
}

enum api_step api_h_list_queues(struct api_req *req)
{
	struct queue_stats *all = NULL;
	size_t count = 0;
	uint64_t now = api_now_ms();
	enum queue_err err = queue_list(req->srv->store, &all, &count);
	struct jbuf b;

	if (err != QUEUE_OK)
		return api_respond_queue_err(req, err, "queue_list");
	jb_init(&b);
	jb_lit(&b, "{\"queues\":[");
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			jb_lit(&b, ",");
		jo_stats(&b, &all[i], now);
	}
	jb_lit(&b, "]}");
	free(all);
	return api_respond(req, 200, &b);
}

/* respond_stats answers status with the stats of the request's queue. */
static enum api_step respond_stats(struct api_req *req, unsigned status)
{
	struct queue_stats st;
	enum queue_err err = queue_stats(req->srv->store, req->path.queue, &st);
	struct jbuf b;

	if (err != QUEUE_OK)
		return api_respond_queue_err(req, err, "queue_stats");
	jb_init(&b);
	jo_stats(&b, &st, api_now_ms());
	return api_respond(req, status, &b);
}

enum api_step api_h_get_queue(struct api_req *req)
{
	if (!req->path.queue_ok)
		return api_respond_error(req, API_E_INVALID_QUEUE_NAME);
	return respond_stats(req, 200);
}

enum api_step api_h_delete_queue(struct api_req *req)
{
	enum queue_err err;

	if (!req->path.queue_ok)
		return api_respond_error(req, API_E_INVALID_QUEUE_NAME);
	err = queue_delete(req->srv->store, req->path.queue);
	/* A queue made again later under this name has the default settings. */
	atomic_fetch_add(&req->srv->settings_gen, 1);
	if (err != QUEUE_OK)
		return api_respond_queue_err(req, err, "queue_delete");
	return api_respond_empty(req, 204);
}

/* The numeric settings a PUT body may name, their ranges, and where they go. */
static const struct numeric_setting {
	const char *name;
	unsigned bit;
	uint64_t min, max;
	size_t offset;
	size_t size;
} numeric_settings[] = {
	{ "max_bytes", QUEUE_SET_MAX_BYTES, 0, 1ull << 53, offsetof(struct queue_settings, max_bytes),
	  sizeof(uint64_t) },
	{ "max_message_bytes", QUEUE_SET_MAX_MESSAGE_BYTES, 1, 1ull << 30,
	  offsetof(struct queue_settings, max_message_bytes), sizeof(uint32_t) },
	{ "lease_seconds", QUEUE_SET_LEASE_SECONDS, 1, QUEUE_LEASE_SECONDS_MAX,
	  offsetof(struct queue_settings, lease_seconds), sizeof(uint32_t) },
	{ "max_deliveries", QUEUE_SET_MAX_DELIVERIES, 0, UINT32_MAX,
	  offsetof(struct queue_settings, max_deliveries), sizeof(uint32_t) },
	{ "delay_seconds", QUEUE_SET_DELAY_SECONDS, 0, QUEUE_DELAY_SECONDS_MAX,
	  offsetof(struct queue_settings, delay_seconds), sizeof(uint32_t) },
	{ "receive_wait_seconds", QUEUE_SET_RECEIVE_WAIT_SECONDS, 0, QUEUE_RECEIVE_WAIT_SECONDS_MAX,
	  offsetof(struct queue_settings, receive_wait_seconds), sizeof(uint32_t) },
};

#define NUMERIC_SETTINGS (sizeof(numeric_settings) / sizeof(numeric_settings[0]))

/* set_numeric stores item into the setting ns names; false when it is not an integer in range. */
static bool set_numeric(const struct numeric_setting *ns, const cJSON *item, struct queue_settings *s)
{
	double d = item->valuedouble;
	uint64_t v;
	char *field = (char *)s + ns->offset;

	if (!cJSON_IsNumber(item) || d < (double)ns->min || d > (double)ns->max)
		return false;
	v = (uint64_t)d;
	if ((double)v != d)
		return false;
	if (ns->size == sizeof(uint64_t)) {
		memcpy(field, &v, sizeof(v));
	} else {
		uint32_t v32 = (uint32_t)v;
		memcpy(field, &v32, sizeof(v32));
	}
	return true;
}

/* set_one applies one member of the settings object; false for an unknown or bad one. */
static bool set_one(const cJSON *item, struct queue_settings *s, unsigned *mask)
{
	for (size_t i = 0; i < NUMERIC_SETTINGS; i++) {
		if (strcmp(item->string, numeric_settings[i].name) == 0) {
			*mask |= numeric_settings[i].bit;
			return set_numeric(&numeric_settings[i], item, s);
		}
	}
	if (strcmp(item->string, "dead_letter") != 0)
		return false;
	*mask |= QUEUE_SET_DEAD_LETTER;
	if (cJSON_IsNull(item))
		return true;
	if (!cJSON_IsString(item) || strlen(item->valuestring) > QUEUE_NAME_MAX)
		return false;
	strcpy(s->dead_letter, item->valuestring);
	return true;
}

/* parse_settings reads the optional PUT body into *s and *mask. */
static enum api_error parse_settings(struct api_req *req, struct queue_settings *s, unsigned *mask)
{
	size_t start, len;
	cJSON *root, *item;
	enum api_error err = API_E_NONE;

	queue_settings_default(s);
	*mask = 0;
	if (req->body.len == 0)
		return API_E_NONE;
	if (!payload_check(req->body.data, req->body.len, &start, &len))
		return API_E_INVALID_JSON;
	root = cJSON_ParseWithLength(req->body.data + start, len);
	if (root == NULL)
		return API_E_INTERNAL;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return API_E_INVALID_PARAMETER;
	}
	cJSON_ArrayForEach(item, root)
	{
		if (err == API_E_NONE && !set_one(item, s, mask))
			err = API_E_INVALID_PARAMETER;
	}
	cJSON_Delete(root);
	return err;
}

enum api_step api_h_put_queue(struct api_req *req)
{
	struct queue_settings s;
	unsigned mask;
	bool created = false;
	enum api_error e;
	enum queue_err err;

	if (!req->path.queue_ok)
		return api_respond_error(req, API_E_INVALID_QUEUE_NAME);
	e = parse_settings(req, &s, &mask);
	if (e != API_E_NONE)
		return api_respond_error(req, e);
	err = queue_put_settings(req->srv->store, req->path.queue, &s, mask, &created);
	/* Connections look max_message_bytes up again (see message_limit in http.c). */
	atomic_fetch_add(&req->srv->settings_gen, 1);
	if (err != QUEUE_OK)
		return api_respond_queue_err(req, err, "queue_put_settings");
	return respond_stats(req, created ? 201 : 200);
}
