/* tls.h: the PEM files of --tls-cert and --tls-key, read once at start for the HTTP layer. */
#ifndef MMQ_SRV_TLS_H
#define MMQ_SRV_TLS_H

#include <stdbool.h>

#include "options.h"

/* The certificate chain and private key as PEM text; both NULL when mmqd serves plain HTTP. */
struct srv_tls {
	char *cert;
	char *key;
};

/* The largest PEM file mmqd reads: a long certificate chain fits many times over. */
#define SRV_TLS_FILE_MAX (1u << 20)

/*
 * srv_tls_load reads o->tls_cert_file and o->tls_key_file into *t (both NULL
 * without TLS options). A file that cannot be read, is empty, larger than
 * SRV_TLS_FILE_MAX, holds a NUL byte or no PEM block is logged (with its name
 * and cause) and makes it return false with *t empty. Caller owns *t; free
 * with srv_tls_free().
 */
bool srv_tls_load(const struct srv_options *o, struct srv_tls *t);

/* srv_tls_free zeroes the key's bytes and frees both texts. Freeing an empty *t is a no-op. */
void srv_tls_free(struct srv_tls *t);

#endif
