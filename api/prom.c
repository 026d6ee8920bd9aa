/* prom.c: the Prometheus text format 0.0.4 writer: HELP and TYPE lines, samples, escaping, histograms. */
#include "prom.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* escape writes s with backslash and newline escaped, and double quotes too when quotes is set. */
static void escape(struct jbuf *b, const char *s, bool quotes)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *rep = NULL;
		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (*s == '"' && quotes)
			rep = "\\\"";
		if (rep == NULL)
			continue;
		jb_raw(b, run, (size_t)(s - run));
		jb_lit(b, rep);
		run = s + 1;
	}
	jb_raw(b, run, (size_t)(s - run));
}

void prom_family(struct jbuf *b, const char *name, const char *type, const char *help)
{
	jb_lit(b, "# HELP ");
	jb_lit(b, name);
	jb_lit(b, " ");
	escape(b, help, false);
	jb_lit(b, "\n# TYPE ");
	jb_lit(b, name);
	jb_lit(b, " ");
	jb_lit(b, type);
	jb_lit(b, "\n");
}

/* decimal writes whole.frac, frac having digits digits, without trailing zeros ("0.0005", "1"). */
static void decimal(struct jbuf *b, uint64_t whole, uint64_t frac, int digits)
{
	char text[48];
	int n = snprintf(text, sizeof(text), "%" PRIu64 ".%0*" PRIu64, whole, digits, frac);

	while (n > 0 && text[n - 1] == '0')
		n--;
	if (n > 0 && text[n - 1] == '.')
		n--;
	jb_raw(b, text, (size_t)n);
}

/*
 * start writes name, suffix and the label set, with le="..." (a bound in
 * microseconds, UINT64_MAX for +Inf) added when le is not NULL, then a space.
 */
static void start(struct jbuf *b, const char *name, const char *suffix,
		  const struct prom_label *labels, size_t nlabels, const uint64_t *le)
{
	jb_lit(b, name);
	jb_lit(b, suffix);
	if (nlabels == 0 && le == NULL) {
		jb_lit(b, " ");
		return;
	}
	jb_lit(b, "{");
	for (size_t i = 0; i < nlabels; i++) {
		jb_lit(b, i > 0 ? "," : "");
		jb_lit(b, labels[i].name);
		jb_lit(b, "=\"");
		escape(b, labels[i].value, true);
		jb_lit(b, "\"");
	}
	if (le != NULL) {
		jb_lit(b, nlabels > 0 ? ",le=\"" : "le=\"");
		if (*le == UINT64_MAX)
			jb_lit(b, "+Inf");
		else
			decimal(b, *le / 1000000u, *le % 1000000u, 6);
		jb_lit(b, "\"");
	}
	jb_lit(b, "} ");
}

void prom_u64(struct jbuf *b, const char *name, const struct prom_label *labels, size_t nlabels,
	      uint64_t v)
{
	start(b, name, "", labels, nlabels, NULL);
	jb_u64(b, v);
	jb_lit(b, "\n");
}

void prom_seconds(struct jbuf *b, const char *name, const struct prom_label *labels,
		  size_t nlabels, uint64_t ns)
{
	start(b, name, "", labels, nlabels, NULL);
	decimal(b, ns / 1000000000u, ns % 1000000000u, 9);
	jb_lit(b, "\n");
}

void prom_histogram(struct jbuf *b, const struct prom_histogram *h,
		    const struct prom_label *labels, size_t nlabels)
{
	uint64_t total = 0;

	for (size_t i = 0; i < h->nbuckets; i++) {
		uint64_t le = i + 1 < h->nbuckets ? h->bound_us[i] : UINT64_MAX;
		total += h->counts[i];
		start(b, h->name, "_bucket", labels, nlabels, &le);
		jb_u64(b, total);
		jb_lit(b, "\n");
	}
	start(b, h->name, "_sum", labels, nlabels, NULL);
	decimal(b, h->sum_ns / 1000000000u, h->sum_ns % 1000000000u, 9);
	jb_lit(b, "\n");
	start(b, h->name, "_count", labels, nlabels, NULL);
	jb_u64(b, total);
	jb_lit(b, "\n");
}
