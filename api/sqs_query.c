/* sqs_query.c: the SQS Query protocol: form parameters into the JSON protocol's shape, answers as XML. */
#include <stdlib.h>
#include <string.h>

#include "sqs.h"

#define XMLNS "http://queue.amazonaws.com/doc/2012-11-05/"

/* How a flattened Query list ("Prefix.N...") becomes a JSON member. */
enum fold_kind {
	FOLD_LIST, /* Prefix.N=value: an array of strings, or of objects for Prefix.N.Field=value */
	FOLD_MAP   /* Prefix.N.Name / Prefix.N.Value: an object Name -> Value */
};

static const struct fold {
	const char *query;
	const char *json;
	enum fold_kind kind;
	const char *key, *value; /* FOLD_MAP: the member names of an entry */
} folds[] = {
	{ "Attribute", "Attributes", FOLD_MAP, "Name", "Value" },
	{ "MessageAttribute", "MessageAttributes", FOLD_MAP, "Name", "Value" },
	{ "MessageSystemAttribute", "MessageSystemAttributes", FOLD_MAP, "Name", "Value" },
	{ "Tag", "tags", FOLD_MAP, "Key", "Value" },
	{ "AttributeName", "AttributeNames", FOLD_LIST, NULL, NULL },
	{ "MessageAttributeName", "MessageAttributeNames", FOLD_LIST, NULL, NULL },
	{ "MessageSystemAttributeName", "MessageSystemAttributeNames", FOLD_LIST, NULL, NULL },
	{ "SendMessageBatchRequestEntry", "Entries", FOLD_LIST, NULL, NULL },
	{ "DeleteMessageBatchRequestEntry", "Entries", FOLD_LIST, NULL, NULL },
	{ "ChangeMessageVisibilityBatchRequestEntry", "Entries", FOLD_LIST, NULL, NULL },
};

#define FOLD_COUNT (sizeof(folds) / sizeof(folds[0]))
/*
 * The most parameters a request may have, and dots in one name: SQS's largest
 * request (a batch of 10 entries with 10 attributes each) has a few hundred of
 * depth 6. The caps keep a hostile body from costing quadratic time or deep recursion.
 */
#define QUERY_PARAMS_MAX 4096
#define QUERY_DEPTH_MAX 8

/* hexval returns the value of hex digit c, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * unescape decodes n bytes of form text at p (%XX and +) into a new string;
 * NULL when out of memory. A %00, which no SQS parameter may hold and a C
 * string cannot, sets *nul.
 */
static char *unescape(const char *p, size_t n, bool *nul)
{
	char *out = malloc(n + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '+') {
			*o++ = ' ';
		} else if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 &&
			   hexval(p[i + 2]) >= 0) {
			*o = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
			*nul = *nul || *o == '\0';
			o++;
			i += 2;
		} else {
			*o++ = p[i];
		}
	}
	*o = '\0';
	return out;
}

/*
 * put stores value under the dotted key in obj: "A.1.B" is obj.A["1"].B.
 * Objects are made as needed; a plain value in the way is replaced. depth
 * counts the dots left allowed; a name with more is dropped.
 */
static void put(cJSON *obj, char *key, const char *value, int depth)
{
	char *dot = strchr(key, '.');
	cJSON *child;

	if (dot != NULL && depth == 0)
		return;
	if (dot == NULL) {
		cJSON *v = cJSON_CreateString(value);
		if (v == NULL)
			return;
		if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL)
			cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
		else
			cJSON_AddItemToObject(obj, key, v);
		return;
	}
	*dot = '\0';
	child = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsObject(child)) {
		cJSON *fresh = cJSON_CreateObject();
		if (fresh == NULL)
			return;
		if (child != NULL)
			cJSON_ReplaceItemInObjectCaseSensitive(obj, key, fresh);
		else
			cJSON_AddItemToObject(obj, key, fresh);
		child = fresh;
	}
	put(child, dot + 1, value, depth - 1);
}

/* add_pair decodes one "key=value" of n bytes into obj; a %00 in either sets *nul. */
static void add_pair(cJSON *obj, const char *p, size_t n, bool *nul)
{
	const char *eq = memchr(p, '=', n);
	size_t kn = eq != NULL ? (size_t)(eq - p) : n;
	char *key = unescape(p, kn, nul);
	char *value = eq != NULL ? unescape(eq + 1, n - kn - 1, nul) : strdup("");

	if (key != NULL && value != NULL && key[0] != '\0')
		put(obj, key, value, QUERY_DEPTH_MAX);
	free(key);
	free(value);
}

/* index_of returns the list position a member name "N" stands for, or 0 when it is not one. */
static long index_of(const char *name)
{
	char *end;
	long n = strtol(name, &end, 10);

	return (*end == '\0' && name[0] >= '1' && name[0] <= '9') ? n : 0;
}

static void fold_object(cJSON *obj);

/* by_index orders numbered members by their number. */
static int by_index(const void *a, const void *b)
{
	long x = index_of((*(cJSON *const *)a)->string), y = index_of((*(cJSON *const *)b)->string);

	return (x > y) - (x < y);
}

/* fold_one turns the numbered members of obj.A into the member the table says, sorted by number. */
static cJSON *fold_one(const struct fold *f, cJSON *numbered)
{
	cJSON *out = f->kind == FOLD_LIST ? cJSON_CreateArray() : cJSON_CreateObject(), *it;
	cJSON **sorted = calloc((size_t)cJSON_GetArraySize(numbered) + 1, sizeof(*sorted));
	size_t n = 0;

	if (out == NULL || sorted == NULL) {
		cJSON_Delete(out);
		free(sorted);
		return NULL;
	}
	/* Numbers need not come in order, nor from 1; members that are not numbers are dropped. */
	cJSON_ArrayForEach(it, numbered)
	{
		if (index_of(it->string) > 0)
			sorted[n++] = it;
	}
	qsort(sorted, n, sizeof(*sorted), by_index);
	for (size_t i = 0; i < n; i++) {
		if (f->kind == FOLD_LIST) {
			cJSON *v = cJSON_Duplicate(sorted[i], true);
			if (cJSON_IsObject(v))
				fold_object(v);
			cJSON_AddItemToArray(out, v);
		} else {
			const char *k = sqs_str(sorted[i], f->key);
			cJSON *v = cJSON_GetObjectItemCaseSensitive(sorted[i], f->value);
			if (k != NULL && v != NULL && cJSON_GetObjectItemCaseSensitive(out, k) == NULL)
				cJSON_AddItemToObject(out, k, cJSON_Duplicate(v, true));
		}
	}
	free(sorted);
	return out;
}

/* fold_object renames and folds every Query list member of obj, at every depth. */
static void fold_object(cJSON *obj)
{
	for (size_t i = 0; i < FOLD_COUNT; i++) {
		cJSON *numbered = cJSON_DetachItemFromObjectCaseSensitive(obj, folds[i].query);
		cJSON *folded;
		if (numbered == NULL)
			continue;
		folded = cJSON_IsObject(numbered) ? fold_one(&folds[i], numbered) : NULL;
		cJSON_Delete(numbered);
		if (folded != NULL)
			cJSON_AddItemToObject(obj, folds[i].json, folded);
	}
}

/* url_arg is a libmicrohttpd iterator adding each URL query argument to the object cls. */
static enum MHD_Result url_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	char *k = strdup(key);

	(void)kind;
	if (k != NULL)
		put(cls, k, value != NULL ? value : "", QUERY_DEPTH_MAX);
	free(k);
	return MHD_YES;
}

cJSON *sqs_query_parse(struct api_req *req, const char *p, size_t n, enum sqs_err *err)
{
	cJSON *obj = cJSON_CreateObject();
	size_t i = 0;
	int params = MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
	bool nul = false;

	*err = SQS_OK;
	if (obj == NULL)
		return NULL;
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, url_arg, obj);
	while (i < n) {
		size_t len = strcspn(p + i, "&");
		if (i + len > n)
			len = n - i;
		if (len > 0 && ++params > QUERY_PARAMS_MAX) {
			*err = SQS_E_INVALID_PARAMETER_VALUE;
			break;
		}
		if (len > 0)
			add_pair(obj, p + i, len, &nul);
		i += len + 1;
	}
	if (nul && *err == SQS_OK)
		*err = SQS_E_INVALID_MESSAGE_CONTENTS;
	fold_object(obj);
	return obj;
}

/* xml_text appends s with the characters XML gives meaning to escaped (and CR kept as CR). */
static void xml_text(struct jbuf *b, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = NULL;
		switch (*s) {
		case '&': esc = "&amp;"; break;
		case '<': esc = "&lt;"; break;
		case '>': esc = "&gt;"; break;
		case '"': esc = "&quot;"; break;
		case '\'': esc = "&apos;"; break;
		case '\r': esc = "&#xD;"; break;
		default: continue;
		}
		jb_raw(b, run, (size_t)(s - run));
		jb_lit(b, esc);
		run = s + 1;
	}
	jb_raw(b, run, (size_t)(s - run));
}

static void xml_open(struct jbuf *b, const char *name)
{
	jb_lit(b, "<");
	jb_lit(b, name);
	jb_lit(b, ">");
}

static void xml_close(struct jbuf *b, const char *name)
{
	jb_lit(b, "</");
	jb_lit(b, name);
	jb_lit(b, ">");
}

static void xml_members(struct sqs_call *c, struct jbuf *b, const cJSON *obj);

/* xml_value appends the content of v: text for a scalar, elements for an object's members. */
static void xml_value(struct sqs_call *c, struct jbuf *b, const cJSON *v)
{
	if (cJSON_IsString(v)) {
		xml_text(b, v->valuestring);
	} else if (cJSON_IsBool(v)) {
		jb_lit(b, cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsNumber(v)) {
		jb_u64(b, (uint64_t)v->valuedouble);
	} else if (cJSON_IsObject(v)) {
		xml_members(c, b, v);
	}
}

/* The element of each item of an array member, and of each pair of a map member. */
static const char *item_name(struct sqs_call *c, const char *member)
{
	static const char *const names[][2] = {
		{ "QueueUrls", "QueueUrl" },
		{ "queueUrls", "QueueUrl" },
		{ "Messages", "Message" },
		{ "Failed", "BatchResultErrorEntry" },
		{ "Attributes", "Attribute" },
		{ "MessageAttributes", "MessageAttribute" },
	};

	if (strcmp(member, "Successful") == 0 && c->action->entry != NULL)
		return c->action->entry;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(names[i][0], member) == 0)
			return names[i][1];
	}
	return member;
}

/* xml_members appends each member of obj: lists flattened, maps as Name/Value entries. */
static void xml_members(struct sqs_call *c, struct jbuf *b, const cJSON *obj)
{
	const cJSON *m, *it;

	cJSON_ArrayForEach(m, obj)
	{
		const char *name = item_name(c, m->string);
		bool map = strcmp(m->string, "Attributes") == 0 ||
			   strcmp(m->string, "MessageAttributes") == 0;
		if (cJSON_IsArray(m)) {
			cJSON_ArrayForEach(it, m)
			{
				xml_open(b, name);
				xml_value(c, b, it);
				xml_close(b, name);
			}
		} else if (map && cJSON_IsObject(m)) {
			cJSON_ArrayForEach(it, m)
			{
				xml_open(b, name);
				jb_lit(b, "<Name>");
				xml_text(b, it->string);
				jb_lit(b, "</Name><Value>");
				xml_value(c, b, it);
				jb_lit(b, "</Value>");
				xml_close(b, name);
			}
		} else {
			xml_open(b, m->string);
			xml_value(c, b, m);
			xml_close(b, m->string);
		}
	}
}

void sqs_query_render(struct sqs_call *c, struct jbuf *b)
{
	const char *action = c->action->name;

	jb_lit(b, "<?xml version=\"1.0\"?><");
	jb_lit(b, action);
	jb_lit(b, "Response xmlns=\"" XMLNS "\">");
	if (c->action->result) {
		jb_lit(b, "<");
		jb_lit(b, action);
		jb_lit(b, "Result>");
		if (c->out != NULL)
			xml_members(c, b, c->out);
		jb_lit(b, "</");
		jb_lit(b, action);
		jb_lit(b, "Result>");
	}
	jb_lit(b, "<ResponseMetadata><RequestId>");
	jb_lit(b, c->request_id);
	jb_lit(b, "</RequestId></ResponseMetadata></");
	jb_lit(b, action);
	jb_lit(b, "Response>");
}

void sqs_query_error(struct sqs_call *c, const struct sqs_error_info *e, const char *message,
		     struct jbuf *b)
{
	jb_lit(b, "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"" XMLNS "\"><Error><Type>");
	jb_lit(b, e->receiver ? "Receiver" : "Sender");
	jb_lit(b, "</Type><Code>");
	jb_lit(b, e->query_code);
	jb_lit(b, "</Code><Message>");
	xml_text(b, message);
	jb_lit(b, "</Message><Detail/></Error><RequestId>");
	jb_lit(b, c->request_id);
	jb_lit(b, "</RequestId></ErrorResponse>");
}
