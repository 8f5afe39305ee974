/*
 * lib/rewrite/virtual.c - recipient resolution (see virtual.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map.h"

#include "rewrite/virtual.h"

struct resolve {
	const struct virtual_maps *maps;
	const struct virtual_opts *opts;
	const char *log_id;
	struct hash *seen;   /* addresses expanded so far (loop guard) */
	struct hash *finals; /* de-duplication of the result */
	struct array *out;   /* struct virtual_final * */
	unsigned dropped;    /* unknown alias destinations */
	struct smtp_reply *reply;
};

enum step { STEP_OK = 0, STEP_FAIL = -1 };

static void final_free(void *p)
{
	struct virtual_final *f = p;

	free(f->addr);
	free(f->maildir);
	free(f);
}

void virtual_final_free(struct virtual_final **final)
{
	if (*final != NULL)
		final_free(*final);
	*final = NULL;
}

void virtual_finals_free(struct array **finals)
{
	array_free_with(finals, final_free);
}

static int lookup_failed(struct resolve *r, const struct error *err,
			 const char *what)
{
	log_warn("%s: %s lookup failed: %s", r->log_id, what, err->msg);
	if (err->kind == ERR_TEMP)
		return smtp_reply_set(r->reply, 451, "4.3.0",
				      "Temporary lookup failure");
	return smtp_reply_set(r->reply, 451, "4.3.5",
			      "Server configuration error");
}

static int add_final(struct resolve *r, const char *addr, bool local,
		     const char *maildir)
{
	struct virtual_final *f;

	if (hash_contains(r->finals, addr))
		return STEP_OK;
	if (array_len(r->out) >= r->opts->expansion_limit)
		return smtp_reply_set(r->reply, 552, "5.5.3",
				      "Too many recipients (alias expansion "
				      "limit)");
	hash_put(r->finals, addr, "");
	f = xcalloc(1, sizeof(*f));
	f->addr = xstrdup(addr);
	f->local = local;
	f->maildir = maildir != NULL ? xstrdup(maildir) : NULL;
	array_push(r->out, f);
	return STEP_OK;
}

/* The local part of addr without its extension, into out ("" if none). */
static bool strip_extension(const char *addr, const char *delims,
			    struct buf *out)
{
	const char *at = strrchr(addr, '@');
	size_t local_len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	size_t i;

	if (delims == NULL || *delims == '\0')
		return false;
	for (i = 1; i < local_len; i++)
		if (strchr(delims, addr[i]) != NULL)
			break;
	if (i >= local_len)
		return false;
	buf_reset(out);
	buf_append(out, addr, i);
	if (at != NULL)
		buf_append_str(out, at);
	return true;
}

/*
 * Look key up exactly, then without its extension.  The key that matched
 * goes to matched_r (may be NULL).
 */
static int lookup_exact(struct resolve *r, struct map *map, const char *key,
			struct buf *value, struct buf *matched_r,
			struct error *err)
{
	struct buf *bare = buf_new();
	int ret = map_lookup(map, key, value, err);

	if (ret == 1 && matched_r != NULL)
		buf_set_str(matched_r, key);
	if (ret == 0 && strip_extension(key, r->opts->delimiters, bare)) {
		ret = map_lookup(map, buf_data(bare), value, err);
		if (ret == 1 && matched_r != NULL)
			buf_set_str(matched_r, buf_data(bare));
	}
	buf_free(&bare);
	return ret;
}

static int expand(struct resolve *r, const char *addr, unsigned depth);

/* The length of the local part (len bytes) without its extension. */
static size_t local_len_bare(const char *local, size_t len,
			     const char *delims)
{
	if (delims == NULL || *delims == '\0')
		return len;
	for (size_t i = 1; i < len; i++)
		if (strchr(delims, local[i]) != NULL)
			return i;
	return len;
}

static int expand_list(struct resolve *r, const char *self, const char *list,
		       unsigned depth)
{
	struct array *dests = str_split(list, ", \t\r\n");
	int ret = STEP_OK;

	for (size_t i = 0; ret == STEP_OK && i < array_len(dests); i++) {
		char *d = array_get(dests, i);

		if (strcasecmp(d, self) == 0) {
			/* "a -> a, b": a keeps its own copy; look it up as
			 * a mailbox only, not as an alias again. */
			ret = expand(r, d, UINT32_MAX);
			continue;
		}
		ret = expand(r, d, depth + 1);
	}
	array_free_with(&dests, free);
	return ret;
}

/*
 * depth UINT32_MAX: the alias itself named as its own destination; skip
 * the alias steps.
 */
static int expand(struct resolve *r, const char *addr, unsigned depth)
{
	bool no_alias = depth == UINT32_MAX;
	bool top = depth == 0;
	const char *at = strrchr(addr, '@');
	const char *domain = at != NULL ? at + 1 : "";
	struct buf *value = buf_new();
	struct buf *key = buf_new();
	struct error err;
	bool hosted = false;
	int ret;

	if (!no_alias && depth > r->opts->recursion_limit) {
		log_warn("%s: virtual alias recursion limit exceeded at <%s>",
			 r->log_id, addr);
		ret = smtp_reply_set(r->reply, 550, "5.4.6",
				     "Alias recursion limit exceeded");
		goto out;
	}
	if (!no_alias) {
		if (hash_contains(r->seen, addr)) {
			log_warn("%s: virtual alias loop at <%s>: dropped",
				 r->log_id, addr);
			r->dropped++;
			ret = STEP_OK;
			goto out;
		}
		hash_put(r->seen, addr, "");
	}

	/* 1. Exact alias. */
	if (!no_alias) {
		ret =
		    lookup_exact(r, r->maps->aliases, addr, value, NULL, &err);
		if (ret < 0) {
			ret = lookup_failed(r, &err, "virtual_alias_maps");
			goto out;
		}
		if (ret == 1) {
			ret = expand_list(r, addr, buf_data(value), depth);
			goto out;
		}
	}
	if (*domain == '\0') {
		ret = smtp_reply_set(r->reply, 550, "5.1.1",
				     "<%s>: Recipient address rejected: "
				     "User unknown",
				     addr);
		goto out;
	}

	/* 2. Hosted mailbox. */
	ret = map_lookup_domain(r->maps->mailbox_domains, domain, value, &err);
	if (ret < 0) {
		ret = lookup_failed(r, &err, "virtual_mailbox_domains");
		goto out;
	}
	if (ret == 1) {
		hosted = true;
		ret =
		    lookup_exact(r, r->maps->mailboxes, addr, value, key, &err);
		if (ret < 0) {
			ret = lookup_failed(r, &err, "virtual_mailbox_maps");
			goto out;
		}
		if (ret == 1) {
			str_lower(buf_mut(key));
			ret =
			    add_final(r, buf_data(key), true, buf_data(value));
			goto out;
		}
	}
	if (no_alias)
		goto unknown;

	/* 3. Alias domain: the same local part at the target. */
	ret = map_lookup_domain(r->maps->alias_domains, domain, value, &err);
	if (ret < 0) {
		ret = lookup_failed(r, &err, "virtual_alias_domains");
		goto out;
	}
	if (ret == 1) {
		char *target = str_trim(buf_mut(value));
		char *rewritten;

		if (*target == '\0' || strchr(target, '@') != NULL) {
			log_warn("%s: virtual_alias_domains: bad target "
				 "\"%s\" for %s",
				 r->log_id, target, domain);
			ret = smtp_reply_set(r->reply, 451, "4.3.5",
					     "Server configuration error");
			goto out;
		}
		rewritten =
		    xasprintf("%.*s@%s", (int)(at - addr), addr, target);
		ret = expand(r, rewritten, depth + 1);
		free(rewritten);
		goto out;
	}

	/* 3b. A role address (RFC 2142 postmaster, abuse...) of a hosted
	 * domain with no row of its own: $role_address_recipient.  Before
	 * the catch-all, which often goes to a box nobody reads. */
	if (hosted && r->opts->role_recipient != NULL &&
	    r->opts->role_recipient[0] != '\0' &&
	    virtual_role_local(r->opts->role_addresses, addr,
			     local_len_bare(addr, (size_t)(at - addr),
					    r->opts->delimiters))) {
		ret = expand(r, r->opts->role_recipient, depth + 1);
		goto out;
	}

	/* 4. Catch-all. */
	buf_set_str(key, "@");
	buf_append_str(key, domain);
	ret = map_lookup(r->maps->aliases, buf_data(key), value, &err);
	if (ret < 0) {
		ret = lookup_failed(r, &err, "virtual_alias_maps");
		goto out;
	}
	if (ret == 1) {
		ret = expand_list(r, addr, buf_data(value), depth);
		goto out;
	}

	/* 6. Foreign. */
	if (!hosted) {
		if (top && !r->opts->relay_ok) {
			ret = smtp_reply_set(r->reply, 554, "5.7.1",
					     "<%s>: Relay access denied", addr);
			goto out;
		}
		ret = add_final(r, addr, false, NULL);
		goto out;
	}
unknown:
	/* 5. Unknown user of a hosted domain. */
	if (top) {
		ret = smtp_reply_set(r->reply, 550, "5.1.1",
				     "<%s>: Recipient address rejected: "
				     "User unknown in virtual mailbox table",
				     addr);
		goto out;
	}
	log_warn("%s: alias destination <%s>: unknown user: dropped", r->log_id,
		 addr);
	r->dropped++;
	ret = STEP_OK;
out:
	buf_free(&value);
	buf_free(&key);
	return ret;
}

int virtual_resolve(const struct virtual_maps *maps, const char *address,
		  const struct virtual_opts *opts, const char *log_id,
		  struct array *finals_r, struct smtp_reply *reply_r)
{
	struct resolve r = {
	    .maps = maps,
	    .opts = opts,
	    .log_id = log_id,
	    .seen = hash_new(HASH_FOLD_CASE, NULL),
	    .finals = hash_new(HASH_FOLD_CASE, NULL),
	    .out = array_new(),
	    .reply = reply_r,
	};
	int ret;

	smtp_reply_clear(reply_r);
	ret = expand(&r, address, 0);
	if (ret == STEP_OK && array_len(r.out) == 0)
		ret = smtp_reply_set(reply_r, 550, "5.1.1",
				     "<%s>: Recipient address rejected: "
				     "alias has no deliverable destination",
				     address);
	if (ret == STEP_OK) {
		for (size_t i = 0; i < array_len(r.out); i++)
			array_push(finals_r, array_get(r.out, i));
		array_free(&r.out);
	} else {
		virtual_finals_free(&r.out);
	}
	hash_free(&r.seen);
	hash_free(&r.finals);
	return ret;
}

int virtual_is_local(const struct virtual_maps *maps, const char *address,
			   const char *delimiters, struct error *err)
{
	const char *at = strrchr(address, '@');
	struct buf *value = buf_new();
	int ret;

	/* Steps 1 and 4 of the resolution (exact, then catch-all). */
	ret =
	    map_lookup_address(maps->aliases, address, delimiters, value, err);
	if (ret == 0 && at != NULL)
		ret = map_lookup_domain(maps->mailbox_domains, at + 1, value,
					err);
	if (ret == 0 && at != NULL)
		ret =
		    map_lookup_domain(maps->alias_domains, at + 1, value, err);
	buf_free(&value);
	return ret;
}

bool virtual_role_local(const char *list, const char *local, size_t len)
{
	const char *p = list;

	if (list == NULL || local == NULL)
		return false;
	while (*p != '\0') {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n > 0 && n == len && strncasecmp(p, local, len) == 0)
			return true;
		p += n;
	}
	return false;
}

char *virtual_role_qualify(const char *name, const char *origin)
{
	if (strchr(name, '@') != NULL || origin == NULL || *origin == '\0')
		return xstrdup(name);
	return xasprintf("%s@%s", name, origin);
}
