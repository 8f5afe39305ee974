#include "store_name.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Digits only, no sign, no overflow; the value ends at `end`. */
static bool parse_u64(const char *s, const char *end, uint64_t *v_r)
{
	uint64_t v = 0;
	if (s == end || end - s > 20)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*v_r = v;
	return true;
}

static int parse_info(const char *info, struct store_name *r, struct error *err)
{
	/* Only the ":2," (experimental ":1," is unused by any reader we
	 * interoperate with) info semantics are defined. */
	if (strncmp(info, ":2,", 3) != 0)
		return error_set(err, ERR_PERM, "unknown info \"%s\"", info);
	r->has_info = true;
	const char *p = info + 3;
	/* The spec wants ASCII order; out-of-order or repeated letters
	 * from another writer still name the same set, so accept them. */
	for (; *p >= 'A' && *p <= 'Z'; p++)
		r->flags |= STORE_FLAG_BIT(*p);
	for (; *p >= 'a' && *p <= 'z'; p++)
		r->keywords |= STORE_KEYWORD_BIT(*p);
	if (*p != '\0')
		return error_set(err, ERR_PERM, "bad flag character in \"%s\"",
				 info);
	return 0;
}

int store_name_parse(const char *name, struct store_name *r, struct error *err)
{
	memset(r, 0, sizeof(*r));
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL)
		return error_set(err, ERR_PERM, "bad maildir file name \"%s\"",
				 name);
	const char *info = strchr(name, ':');
	const char *base_end = info != NULL ? info : name + strlen(name);
	const char *comma = memchr(name, ',', (size_t)(base_end - name));
	r->unique_len = (size_t)((comma != NULL ? comma : base_end) - name);
	r->base_len = (size_t)(base_end - name);
	if (r->unique_len == 0)
		return error_set(err, ERR_PERM, "empty unique part in \"%s\"",
				 name);
	for (const char *f = comma; f != NULL && f < base_end;) {
		const char *next =
		    memchr(f + 1, ',', (size_t)(base_end - f - 1));
		const char *fend = next != NULL ? next : base_end;
		if (fend - f > 2 && f[2] == '=' &&
		    (f[1] == 'S' || f[1] == 'W')) {
			uint64_t v;
			if (!parse_u64(f + 3, fend, &v))
				return error_set(err, ERR_PERM,
						 "bad %c= value in \"%s\"",
						 f[1], name);
			if (f[1] == 'S') {
				r->has_size = true;
				r->size = v;
			} else {
				r->has_vsize = true;
				r->vsize = v;
			}
		}
		f = next;
	}
	if (info != NULL && parse_info(info, r, err) < 0)
		return -1;
	return 0;
}

int store_name_with_flags(const char *base, size_t base_len, uint32_t flags,
			  uint32_t keywords, char *out, size_t outlen,
			  struct error *err)
{
	if (base_len + 3 + 26 + 26 + 1 > outlen)
		return error_set(err, ERR_PERM, "maildir file name too long");
	memcpy(out, base, base_len);
	size_t n = base_len;
	memcpy(out + n, ":2,", 3);
	n += 3;
	for (int c = 'A'; c <= 'Z'; c++)
		if (flags & STORE_FLAG_BIT(c))
			out[n++] = (char)c;
	for (int c = 'a'; c <= 'z'; c++)
		if (keywords & STORE_KEYWORD_BIT(c))
			out[n++] = (char)c;
	out[n] = '\0';
	return 0;
}

void store_name_escape_host(const char *host, char *out, size_t outlen)
{
	size_t n = 0;
	for (const char *p = host; *p != '\0'; p++) {
		const char *esc = *p == '/'   ? "\\057"
				  : *p == ':' ? "\\072"
				  : *p == ',' ? "\\054"
					      : NULL;
		size_t len = esc != NULL ? 4 : 1;
		if (n + len + 1 > outlen)
			break;
		if (esc != NULL)
			memcpy(out + n, esc, 4);
		else
			out[n] = (unsigned char)*p < 0x21 ? '_' : *p;
		n += len;
	}
	out[n] = '\0';
}

void store_name_unique(const char *host, char *out, size_t outlen)
{
	static unsigned counter;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned q = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(out, outlen, "%lld.M%ldP%ldQ%u.%s", (long long)ts.tv_sec,
		 ts.tv_nsec / 1000, (long)getpid(), q, host);
}
