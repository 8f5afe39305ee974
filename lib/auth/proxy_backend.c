/*
 * proxy_backend.c - the backend of a mailbox: its row, else rendezvous
 * hashing over $proxy_backends (see proxy_backend.h for why).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/array.h"
#include "core/str.h"
#include "core/xmalloc.h"

#include "auth/proxy_backend.h"

struct proxy_backends {
	struct array *hosts; /* of char * */
};

bool proxy_backend_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	unsigned long long port;

	if (colon == NULL || colon == s)
		return false;
	if (s[0] == '[' && colon[-1] != ']')
		return false;
	return str_to_u64(colon + 1, &port) && port > 0 && port < 65536;
}

struct proxy_backends *proxy_backends_parse(const char *list,
					    struct error *err)
{
	struct proxy_backends *b = xcalloc(1, sizeof(*b));
	struct array *words = str_split(list != NULL ? list : "", ", \t");

	b->hosts = array_new();
	for (size_t i = 0; i < array_len(words); i++) {
		const char *w = array_get(words, i);

		if (!proxy_backend_valid(w)) {
			error_set(err, ERR_CONFIG,
				  "proxy_backends: \"%s\" is not host:port", w);
			goto fail;
		}
		for (size_t j = 0; j < array_len(b->hosts); j++)
			if (strcmp(array_get(b->hosts, j), w) == 0) {
				error_set(err, ERR_CONFIG,
					  "proxy_backends: \"%s\" twice", w);
				goto fail;
			}
		array_push(b->hosts, xstrdup(w));
	}
	array_free_with(&words, free);
	return b;
fail:
	array_free_with(&words, free);
	proxy_backends_free(&b);
	return NULL;
}

void proxy_backends_free(struct proxy_backends **bp)
{
	struct proxy_backends *b = *bp;

	if (b == NULL)
		return;
	*bp = NULL;
	array_free_with(&b->hosts, free);
	free(b);
}

size_t proxy_backends_count(const struct proxy_backends *b)
{
	return b != NULL ? array_len(b->hosts) : 0;
}

const char *proxy_backends_get(const struct proxy_backends *b, size_t i)
{
	return array_get(b->hosts, i);
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t proxy_backend_weight(const char *backend, const char *address)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	/* The NUL between the two keeps ("ab","c") and ("a","bc") apart. */
	h = fnv1a(h, backend, strlen(backend) + 1);
	h = fnv1a(h, address, strlen(address));
	/* FNV's low bits mix poorly; the murmur3 finaliser spreads them. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

const char *proxy_backend_hash(const struct proxy_backends *b,
			       const char *address)
{
	const char *best = NULL;
	uint64_t best_w = 0;

	for (size_t i = 0; i < proxy_backends_count(b); i++) {
		const char *host = array_get(b->hosts, i);
		uint64_t w = proxy_backend_weight(host, address);

		/* Ties (astronomically rare) go to the smaller name, so the
		 * order of the list never matters. */
		if (best == NULL || w > best_w ||
		    (w == best_w && strcmp(host, best) < 0)) {
			best = host;
			best_w = w;
		}
	}
	return best;
}

int proxy_backend_lookup(struct db *db, const struct proxy_backends *b,
			 const char *address, struct buf *out,
			 struct error *err)
{
	const char *params[] = {address};
	struct db_result *res;
	const char *col, *host;

	if (db_query(db,
		     "SELECT m.backend FROM mailboxes m JOIN domains d ON "
		     "d.id = m.domain_id WHERE m.address = ? AND m.active = 1 "
		     "AND d.active = 1",
		     params, 1, &res, err) < 0)
		return -1;
	if (db_result_rows(res) == 0) {
		db_result_free(&res);
		return 0;
	}
	col = db_result_value(res, 0, 0);
	if (col != NULL && col[0] != '\0') {
		buf_set_str(out, col);
		db_result_free(&res);
		return 1;
	}
	db_result_free(&res);
	host = proxy_backend_hash(b, address);
	if (host == NULL)
		return 0;
	buf_set_str(out, host);
	return 1;
}

int proxy_backend_column(struct db *db, const char *address, struct buf *out,
			 struct error *err)
{
	const char *params[] = {address};
	struct db_result *res;
	const char *col;
	int r = 0;

	if (db_query(db, "SELECT backend FROM mailboxes WHERE address = ?",
		     params, 1, &res, err) < 0)
		return -1;
	col = db_result_rows(res) > 0 ? db_result_value(res, 0, 0) : NULL;
	if (col != NULL && col[0] != '\0') {
		buf_set_str(out, col);
		r = 1;
	}
	db_result_free(&res);
	return r;
}

int proxy_backend_set(struct db *db, const char *address, const char *backend,
		      struct error *err)
{
	char now[24];
	const char *params[] = {backend, now, address};
	long long n;

	if (backend != NULL && !proxy_backend_valid(backend))
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "backend: \"%s\" is not host:port",
				      backend);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	n = db_exec(db,
		    "UPDATE mailboxes SET backend = ?, updated_at = ? WHERE "
		    "address = ?",
		    params, 3, err);
	if (n < 0)
		return -1;
	return n > 0 ? 1 : 0;
}
