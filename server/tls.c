/* tls.c: reads the PEM certificate and key files named by --tls-cert and --tls-key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tls.h"

/* read_pem reads path (what it holds: "certificate" or "key") into a new string in *out. */
static bool read_pem(const char *path, const char *what, char **out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	const char *why = NULL;
	size_t n;

	*out = NULL;
	if (f == NULL) {
		why = strerror(errno);
		goto fail;
	}
	buf = malloc(SRV_TLS_FILE_MAX + 1);
	if (buf == NULL) {
		why = "out of memory";
		goto fail;
	}
	n = fread(buf, 1, SRV_TLS_FILE_MAX + 1, f);
	if (ferror(f))
		why = strerror(errno);
	else if (n > SRV_TLS_FILE_MAX)
		why = "the file is larger than 1 MiB";
	else if (n == 0)
		why = "the file is empty";
	if (why != NULL)
		goto fail;
	buf[n] = '\0';
	if (strlen(buf) != n || strstr(buf, "-----BEGIN ") == NULL) {
		why = "the file is not PEM text";
		goto fail;
	}
	fclose(f);
	*out = buf;
	return true;
fail:
	srv_log_event(SRV_LOG_ERROR, "tls_file_unusable",
		      SRV_FIELDS(SRV_STR("file", path), SRV_STR("what", what), SRV_STR("error", why)),
		      "cannot use the TLS %s file %s: %s", what, path, why);
	if (buf != NULL)
		memset(buf, 0, SRV_TLS_FILE_MAX + 1);
	free(buf);
	if (f != NULL)
		fclose(f);
	return false;
}

bool srv_tls_load(const struct srv_options *o, struct srv_tls *t)
{
	t->cert = NULL;
	t->key = NULL;
	if (o->tls_cert_file == NULL || o->tls_key_file == NULL)
		return true;
	if (read_pem(o->tls_cert_file, "certificate", &t->cert) &&
	    read_pem(o->tls_key_file, "key", &t->key))
		return true;
	srv_tls_free(t);
	return false;
}

void srv_tls_free(struct srv_tls *t)
{
	if (t->key != NULL)
		memset(t->key, 0, strlen(t->key));
	free(t->key);
	free(t->cert);
	t->key = NULL;
	t->cert = NULL;
}
