/* prom.h: writes the Prometheus text format 0.0.4 (families, samples, histograms) into a jbuf. */
#ifndef MMQ_API_PROM_H
#define MMQ_API_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "json_out.h"

/* One label of a sample: name="value". The value is escaped when written. */
struct prom_label {
	const char *name;
	const char *value;
};

/*
 * prom_family writes the "# HELP" and "# TYPE" lines of family name; help is
 * escaped as the format asks (backslash and newline). This function can't
 * fail: like every prom_ writer, a failed allocation leaves b->oom set.
 */
void prom_family(struct jbuf *b, const char *name, const char *type, const char *help);

/*
 * prom_u64 writes one sample: name{labels} v, with nlabels labels (labels may
 * be NULL when nlabels is 0). Label values are escaped (backslash, double
 * quote, newline).
 */
void prom_u64(struct jbuf *b, const char *name, const struct prom_label *labels, size_t nlabels,
	      uint64_t v);

/* prom_seconds writes one sample like prom_u64 whose value is ns nanoseconds, in seconds. */
void prom_seconds(struct jbuf *b, const char *name, const struct prom_label *labels,
		  size_t nlabels, uint64_t ns);

/* A histogram to write: nbuckets buckets, each counting observations up to its bound. */
struct prom_histogram {
	const char *name;	  /* the family name, without _bucket, _sum or _count */
	const uint64_t *bound_us; /* upper bounds in microseconds; the last bucket is +Inf */
	const uint64_t *counts;	  /* per bucket, not cumulative */
	size_t nbuckets;
	uint64_t sum_ns;	  /* the sum of the observations */
};

/*
 * prom_histogram writes the _bucket series (cumulative, with an le label
 * after the given labels, the last one le="+Inf"), _sum in seconds and
 * _count, which is the sum of h->counts, so it always equals the +Inf bucket.
 */
void prom_histogram(struct jbuf *b, const struct prom_histogram *h,
		    const struct prom_label *labels, size_t nlabels);

#endif
