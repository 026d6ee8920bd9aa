/* healthcheck.c: a plain-socket GET /healthz for Docker's HEALTHCHECK. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "healthcheck.h"
#include "log.h"
#include "options.h"

/* exchange sends the request on fd and reads the status line into line. */
static bool exchange(int fd, char *line, size_t linelen)
{
	static const char request[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
				      "Connection: close\r\n\r\n";
	size_t got = 0;

	if (send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(request) - 1))
		return false;
	while (got < linelen - 1) {
		ssize_t n = recv(fd, line + got, linelen - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		line[got] = '\0';
		if (strchr(line, '\n') != NULL)
			break;
	}
	line[got] = '\0';
	return got > 0;
}

int srv_healthcheck(const char *listen)
{
	struct sockaddr_storage ss;
	struct timeval tv = { 5, 0 };
	socklen_t len;
	char err[256], line[256];
	int fd, rc = 1;

	if (!srv_listen_addr(listen, true, &ss, &len, err, sizeof(err))) {
		srv_log(SRV_LOG_ERROR, "healthcheck: %s", err);
		return 1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		srv_log(SRV_LOG_ERROR, "healthcheck: socket: %s", strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		srv_log(SRV_LOG_ERROR, "healthcheck: cannot connect to %s: %s", listen, strerror(errno));
		goto out;
	}
	if (!exchange(fd, line, sizeof(line))) {
		srv_log(SRV_LOG_ERROR, "healthcheck: no answer from %s", listen);
		goto out;
	}
	if (strncmp(line, "HTTP/1.1 200 ", 13) == 0 || strncmp(line, "HTTP/1.0 200 ", 13) == 0)
		rc = 0;
	else
		srv_log(SRV_LOG_ERROR, "healthcheck: %s did not answer 200", listen);
out:
	close(fd);
	return rc;
}
