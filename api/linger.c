/* linger.c: lingering close, so a client still sending a refused body reads the answer instead of a reset. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/*
 * When mmqd answers before a body was read (413 for an announced length over
 * the cap), libmicrohttpd closes the connection with the body's bytes still
 * unread, and the kernel answers such a close with a reset: a client that
 * writes its whole body before it reads (Node's fetch, Python's http.client)
 * then sees EPIPE or ECONNRESET instead of the 413. Like nginx's
 * lingering_close, the request keeps a duplicate of the socket; once
 * libmicrohttpd is done with it, the socket's write side is shut and what
 * the client still sends is read and dropped until it closes, for at most
 * LINGER_TIME_MS in all and LINGER_IDLE_MS without a byte (nginx's
 * lingering_time and lingering_timeout).
 */
#define LINGER_TIME_MS 30000u
#define LINGER_IDLE_MS 5000u

/* dup_fd returns a close-on-exec duplicate of conn's socket, or -1. */
static int dup_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	if (info == NULL)
		return -1;
	return fcntl(info->connect_fd, F_DUPFD_CLOEXEC, 0);
}

int api_linger_hold(struct api_linger *l, struct MHD_Connection *conn)
{
	bool room;

	pthread_mutex_lock(&l->lock);
	room = l->started && !l->quit && l->held < API_LINGER_MAX;
	if (room)
		l->held++;
	pthread_mutex_unlock(&l->lock);
	if (!room)
		return -1;
	int fd = dup_fd(conn);
	if (fd < 0) {
		pthread_mutex_lock(&l->lock);
		l->held--;
		pthread_mutex_unlock(&l->lock);
	}
	return fd;
}

void api_linger_start(struct api_linger *l, int fd)
{
	uint64_t now = api_mono_ms();
	bool taken = false;

	if (fd < 0)
		return;
	(void)shutdown(fd, SHUT_WR);
	pthread_mutex_lock(&l->lock);
	if (!l->quit && l->n < API_LINGER_MAX) {
		l->slot[l->n++] = (struct api_linger_slot){ fd, now + LINGER_TIME_MS,
							    now + LINGER_IDLE_MS };
		taken = true;
		(void)!write(l->wake[1], "", 1);
	}
	l->held--;
	pthread_mutex_unlock(&l->lock);
	if (!taken)
		close(fd);
}

/* drain_fd reads and drops what fd holds; false when the client closed or the socket failed. */
static bool drain_fd(int fd)
{
	static char sink[65536];

	for (;;) {
		ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n > 0)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
	}
}

/*
 * serve_slots polls the pnum sockets copied into pfd (pfd[0] is the wake
 * pipe), drains the readable ones and closes those done with. Called
 * without the lock; only this thread removes slots.
 */
static void serve_slots(struct api_linger *l, struct pollfd *pfd, size_t pnum)
{
	uint64_t now = api_mono_ms(), next = now + LINGER_IDLE_MS;

	for (size_t i = 1; i < pnum; i++) {
		struct api_linger_slot *s = &l->slot[i - 1];
		if (s->idle_until < next)
			next = s->idle_until;
		if (s->until < next)
			next = s->until;
	}
	(void)poll(pfd, pnum, next > now ? (int)(next - now) : 0);
	if (pfd[0].revents != 0) {
		char b[64];
		(void)!read(l->wake[0], b, sizeof(b));
	}
	now = api_mono_ms();
	pthread_mutex_lock(&l->lock);
	for (size_t i = pnum - 1; i >= 1; i--) {
		struct api_linger_slot *s = &l->slot[i - 1];
		bool keep = true;
		if (pfd[i].revents != 0) {
			keep = drain_fd(s->fd);
			s->idle_until = now + LINGER_IDLE_MS;
		}
		if (!keep || now >= s->until || now >= s->idle_until || l->quit) {
			close(s->fd);
			*s = l->slot[--l->n];
		}
	}
	pthread_mutex_unlock(&l->lock);
}

/* linger_main serves the lingering sockets until api_linger_stop(). */
static void *linger_main(void *arg)
{
	struct api_linger *l = arg;
	struct pollfd pfd[API_LINGER_MAX + 1];

	pthread_mutex_lock(&l->lock);
	while (!l->quit || l->n > 0) {
		size_t pnum = 1;
		pfd[0] = (struct pollfd){ l->wake[0], POLLIN, 0 };
		for (size_t i = 0; i < l->n; i++)
			pfd[pnum++] = (struct pollfd){ l->slot[i].fd, POLLIN, 0 };
		pthread_mutex_unlock(&l->lock);
		serve_slots(l, pfd, pnum);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

bool api_linger_init(struct api_linger *l)
{
	pthread_mutex_init(&l->lock, NULL);
	if (pipe2(l->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		l->wake[0] = l->wake[1] = -1;
		return false;
	}
	if (pthread_create(&l->thread, NULL, linger_main, l) != 0)
		return false;
	l->started = true;
	return true;
}

void api_linger_stop(struct api_linger *l)
{
	if (l->started) {
		pthread_mutex_lock(&l->lock);
		l->quit = true;
		(void)!write(l->wake[1], "", 1);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
		l->started = false;
	}
	if (l->wake[0] >= 0) {
		close(l->wake[0]);
		close(l->wake[1]);
		l->wake[0] = l->wake[1] = -1;
	}
	pthread_mutex_destroy(&l->lock);
}
