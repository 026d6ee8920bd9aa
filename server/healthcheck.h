/* healthcheck.h: mmqd --healthcheck, a probe for container health checks that needs no curl. */
#ifndef MMQ_SRV_HEALTHCHECK_H
#define MMQ_SRV_HEALTHCHECK_H

/*
 * srv_healthcheck connects to listen ("HOST:PORT"; the wildcard addresses mean
 * the loopback ones), sends GET /healthz and returns 0 when the answer is 200,
 * 1 otherwise (the cause is logged). It gives up after 5 seconds.
 */
int srv_healthcheck(const char *listen);

#endif
