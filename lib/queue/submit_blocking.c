/*
 * submit_blocking - a synchronous client of the queue socket, for
 * threads that may block (the webmail's worker jobs), speaking the same
 * records as submit.c (see submit.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "queue/submit.h"

/* Wait for fd to be ready for `events` until the deadline. */
static int wait_fd(int fd, short events, int64_t deadline, struct error *err)
{
	for (;;) {
		int64_t left = deadline - time_mono_ms();
		if (left <= 0)
			return error_set(err, ERR_TEMP,
					 "4.4.2 queue daemon timed out");
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return error_set(err, ERR_TEMP, "4.3.0 poll: %s",
					 strerror(errno));
	}
}

static int write_all(int fd, const char *p, size_t len, int64_t deadline,
		     struct error *err)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline, err) < 0)
				return -1;
			continue;
		}
		return error_set(err, ERR_TEMP,
				 "4.3.0 queue daemon connection broken: %s",
				 n < 0 ? strerror(errno) : "closed");
	}
	return 0;
}

/* Read until a record is complete: 1 with it, -1 on error/close. */
static int read_rec(int fd, struct buf *in, char *type_r, const char **p_r,
		    size_t *len_r, size_t *used_r, int64_t deadline,
		    struct error *err)
{
	for (;;) {
		int r = submit_rec_get(in, type_r, p_r, len_r, used_r, err);
		if (r != 0)
			return r;
		if (wait_fd(fd, POLLIN, deadline, err) < 0)
			return -1;
		char tmp[4096];
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0)
			buf_append(in, tmp, (size_t)n);
		else if (n == 0)
			return error_set(err, ERR_TEMP,
					 "4.3.0 queue daemon closed the "
					 "connection");
		else if (errno != EAGAIN && errno != EINTR)
			return error_set(err, ERR_TEMP, "4.3.0 recv: %s",
					 strerror(errno));
	}
}

/* A connected socket to the queue daemon at path, or -1 with err. */
static int connect_queue(const char *path, struct error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(err, ERR_CONFIG, "queue socket path too long: %s",
				 path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, ERR_TEMP, "4.3.0 socket: %s",
				 strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		error_set(err, ERR_TEMP, "4.3.0 queue daemon unavailable: %s: %s",
			  path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int submit_control_blocking(const char *path, const char *request,
			    int timeout_ms, struct buf *reply_r,
			    struct error *err)
{
	int64_t deadline = time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 60000);
	int fd = connect_queue(path, err);
	struct buf *b;
	char type;
	const char *p;
	size_t len, used;
	int ret = -1;

	if (fd < 0)
		return -1;
	b = buf_new();
	submit_rec_put_str(b, SUBMIT_REC_CONTROL, request);
	if (write_all(fd, buf_data(b), buf_len(b), deadline, err) == 0) {
		buf_reset(b);
		if (read_rec(fd, b, &type, &p, &len, &used, deadline, err) == 1) {
			ret = type == SUBMIT_REC_OK ? 0 : 1;
			if (reply_r != NULL)
				buf_append(reply_r, p, len);
		}
	}
	buf_free(&b);
	close(fd);
	return ret;
}

int submit_message_blocking(const char *path, const struct submit_env *env,
			    const void *data, size_t len, int timeout_ms,
			    char *id_r, size_t id_size, struct error *err)
{
	int64_t deadline = time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 60000);
	struct buf *out = NULL, *in = NULL;
	int ret = -1;

	if (id_size > 0)
		id_r[0] = '\0';
	int fd = connect_queue(path, err);
	if (fd < 0)
		return -1;
	out = buf_new();
	in = buf_new();
	submit_rec_put_str(out, SUBMIT_REC_BEGIN, SUBMIT_PROTO_VERSION);
	submit_env_encode(out, env);
	if (write_all(fd, buf_data(out), buf_len(out), deadline, err) < 0)
		goto out;
	/* Data in records of at most SUBMIT_RECORD_MAX bytes, one record
	 * buffered at a time. */
	const char *p = data;
	for (size_t off = 0; off < len;) {
		size_t n = len - off < SUBMIT_RECORD_MAX ? len - off
							 : SUBMIT_RECORD_MAX;
		buf_reset(out);
		submit_rec_put(out, SUBMIT_REC_DATA, p + off, n);
		if (write_all(fd, buf_data(out), buf_len(out), deadline, err) < 0)
			goto out;
		off += n;
	}
	buf_reset(out);
	submit_rec_put_str(out, SUBMIT_REC_COMMIT, "");
	if (write_all(fd, buf_data(out), buf_len(out), deadline, err) < 0)
		goto out;
	for (;;) {
		char type;
		const char *pl;
		size_t pl_len, used;
		if (read_rec(fd, in, &type, &pl, &pl_len, &used, deadline, err) < 0)
			goto out;
		if (type == SUBMIT_REC_ID) {
			buf_consume(in, used);
			continue;
		}
		if (type == SUBMIT_REC_OK) {
			snprintf(id_r, id_size, "%.*s", (int)pl_len, pl);
			ret = 0;
		} else if (type == SUBMIT_REC_FAIL) {
			error_set(err, pl_len > 0 && pl[0] == '5' ? ERR_PERM : ERR_TEMP,
				  "%.*s", (int)pl_len, pl);
		} else {
			error_set(err, ERR_TEMP,
				  "4.3.0 unexpected record '%c' from the queue "
				  "daemon", type);
		}
		break;
	}
out:
	buf_free(&out);
	buf_free(&in);
	close(fd);
	return ret;
}
