/*
 * Request bodies: parse (size capped by the HTTP layer, duplicate keys
 * refused), then check every member against the resource's field table -
 * unknown fields, wrong types, missing fields and bad values are 422 and
 * name the field.  No database here: tests/fuzz/fuzz_admin_body.c runs
 * these functions directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Longest string member accepted (passwords, descriptions, names). */
#define API_STRING_MAX 1024
/* Byte counts above 2^62 are nonsense and near overflow. */
#define API_INT_MAX (1LL << 62)
/* Most destinations of one alias, domains of one admin. */
#define API_LIST_MAX 1000

static int problem(struct api_problem *pr, unsigned status, const char *code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int problem(struct api_problem *pr, unsigned status, const char *code,
		   const char *fmt, ...)
{
	va_list ap;
	pr->status = status;
	pr->code = code;
	va_start(ap, fmt);
	vsnprintf(pr->message, sizeof(pr->message), fmt, ap);
	va_end(ap);
	return -1;
}

json_t *api_body_parse(const char *data, size_t len, struct api_problem *pr)
{
	json_error_t jerr;
	if (len == 0) {
		problem(pr, 400, "malformed_json", "a JSON object is required");
		return NULL;
	}
	json_t *obj = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		problem(pr, 400, "malformed_json", "malformed JSON at line %d "
			"column %d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		problem(pr, 422, "wrong_type", "the body must be a JSON object");
		return NULL;
	}
	return obj;
}

static bool good_string(json_t *v, size_t max)
{
	/* Jansson keeps "\u0000" with JSON_ALLOW_NUL only; check anyway:
	 * C strings would silently cut there. */
	return json_string_length(v) <= (max ? max : API_STRING_MAX) &&
	       strlen(json_string_value(v)) == json_string_length(v);
}

int api_body_check(json_t *obj, const struct api_field *fields, size_t n,
		   struct api_problem *pr)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		size_t i;
		for (i = 0; i < n && strcmp(fields[i].name, key) != 0; i++)
			;
		if (i == n)
			return problem(pr, 422, "unknown_field",
				       "%.100s: unknown field", key);
		switch (fields[i].type) {
		case API_STRING:
			if (!json_is_string(v))
				return problem(pr, 422, "wrong_type",
					       "%s: must be a string", key);
			if (!good_string(v, fields[i].max))
				return problem(pr, 422, "invalid_value",
					       "%s: at most %zu bytes, no NUL",
					       key,
					       fields[i].max ? fields[i].max
							     : API_STRING_MAX);
			break;
		case API_INT:
			if (!json_is_integer(v))
				return problem(pr, 422, "wrong_type",
					       "%s: must be an integer", key);
			if (json_integer_value(v) < 0 ||
			    json_integer_value(v) > API_INT_MAX)
				return problem(pr, 422, "invalid_value",
					       "%s: must be from 0 to %lld", key,
					       API_INT_MAX);
			break;
		case API_BOOL:
			if (!json_is_boolean(v))
				return problem(pr, 422, "wrong_type",
					       "%s: must be true or false", key);
			break;
		case API_STRINGS: {
			if (!json_is_array(v))
				return problem(pr, 422, "wrong_type",
					       "%s: must be an array of strings",
					       key);
			if (json_array_size(v) > API_LIST_MAX)
				return problem(pr, 422, "invalid_value",
					       "%s: at most %d entries", key,
					       API_LIST_MAX);
			size_t j;
			json_t *e;
			json_array_foreach(v, j, e) {
				if (!json_is_string(e))
					return problem(pr, 422, "wrong_type",
						       "%s: must be an array of "
						       "strings", key);
				if (!good_string(e, fields[i].max) ||
				    json_string_length(e) == 0)
					return problem(pr, 422, "invalid_value",
						       "%s: entry %zu is empty, "
						       "too long or has NUL",
						       key, j);
				/* Commas separate the stored list. */
				if (strchr(json_string_value(e), ',') != NULL)
					return problem(pr, 422, "invalid_value",
						       "%s: entry %zu has a comma",
						       key, j);
			}
			break;
		}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && json_object_get(obj, fields[i].name) == NULL)
			return problem(pr, 422, "missing_field",
				       "%s: required", fields[i].name);
	return 0;
}

char *api_body_details(json_t *obj)
{
	json_t *copy = json_deep_copy(obj);
	if (copy == NULL)
		return NULL;
	if (json_object_get(copy, "password") != NULL)
		json_object_set_new(copy, "password", json_string("(changed)"));
	char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	return text;
}

static const char *str_member(json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

/* -1 when absent, else the integer. */
static long long int_member(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);
	return v ? (long long)json_integer_value(v) : -1;
}

/* -1 when absent, else 0/1. */
static int bool_member(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);
	return v ? json_is_true(v) : -1;
}

static void join(json_t *arr, struct buf *out)
{
	size_t i;
	json_t *e;
	buf_reset(out);
	json_array_foreach(arr, i, e) {
		if (i > 0)
			buf_append_char(out, ',');
		buf_append_str(out, json_string_value(e));
	}
}

/* A name or address that provision would refuse: 422 naming the field. */
static int check_name(int (*norm)(const char *, struct buf *, struct error *),
		      const char *field, const char *v, struct api_problem *pr)
{
	struct buf *b = buf_new();
	struct error err;
	int rc = norm(v, b, &err);
	buf_free(&b);
	return rc < 0 ? problem(pr, 422, "invalid_value", "%s: %s", field,
				err.msg)
		      : 0;
}

static int norm_address(const char *v, struct buf *out, struct error *err)
{
	return prov_normalize_address(v, out, NULL, err);
}

static int norm_source(const char *v, struct buf *out, struct error *err)
{
	struct buf *d = buf_new();
	int rc = prov_normalize_source(v, out, d, err);
	buf_free(&d);
	return rc;
}

int api_domain_body(json_t *obj, bool create, struct prov_domain *d,
		    struct prov_domain_patch *p, struct api_problem *pr)
{
	static const struct api_field fields[] = {
	    {"name", API_STRING, true, 0},	     {"description", API_STRING, false, 255},
	    {"max_mailboxes", API_INT, false, 0}, {"quota_bytes", API_INT, false, 0},
	    {"active", API_BOOL, false, 0},
	};
	/* PATCH: the name is the path; everything else may change. */
	if (api_body_check(obj, create ? fields : fields + 1,
			   create ? 5 : 4, pr) < 0)
		return -1;
	if (create) {
		memset(d, 0, sizeof(*d));
		d->name = str_member(obj, "name");
		d->description = str_member(obj, "description");
		d->max_mailboxes = int_member(obj, "max_mailboxes");
		d->quota_bytes = int_member(obj, "quota_bytes");
		d->max_mailboxes = d->max_mailboxes < 0 ? 0 : d->max_mailboxes;
		d->quota_bytes = d->quota_bytes < 0 ? 0 : d->quota_bytes;
		d->active = bool_member(obj, "active") != 0;
		return check_name(prov_normalize_domain, "name", d->name, pr);
	}
	p->description = str_member(obj, "description");
	p->max_mailboxes = int_member(obj, "max_mailboxes");
	p->quota_bytes = int_member(obj, "quota_bytes");
	p->active = bool_member(obj, "active");
	return 0;
}

int api_mailbox_body(json_t *obj, bool create, struct prov_mailbox *m,
		     struct prov_mailbox_patch *p, struct api_problem *pr)
{
	static const struct api_field fields[] = {
	    {"address", API_STRING, true, 0}, {"password", API_STRING, true, 0},
	    {"name", API_STRING, false, 255}, {"quota_bytes", API_INT, false, 0},
	    {"active", API_BOOL, false, 0},
	};
	static const struct api_field patch[] = {
	    {"password", API_STRING, false, 0},
	    {"name", API_STRING, false, 255},
	    {"quota_bytes", API_INT, false, 0},
	    {"active", API_BOOL, false, 0},
	};
	if (api_body_check(obj, create ? fields : patch, create ? 5 : 4, pr) < 0)
		return -1;
	const char *password = str_member(obj, "password");
	if (password != NULL && *password == '\0')
		return problem(pr, 422, "invalid_value",
			       "password: must not be empty");
	if (create) {
		memset(m, 0, sizeof(*m));
		m->address = str_member(obj, "address");
		m->password = password;
		m->name = str_member(obj, "name");
		m->quota_bytes = int_member(obj, "quota_bytes");
		m->quota_bytes = m->quota_bytes < 0 ? 0 : m->quota_bytes;
		m->active = bool_member(obj, "active") != 0;
		return check_name(norm_address, "address", m->address, pr);
	}
	p->password = password;
	p->name = str_member(obj, "name");
	p->quota_bytes = int_member(obj, "quota_bytes");
	p->active = bool_member(obj, "active");
	return 0;
}

int api_alias_body(json_t *obj, bool create, struct prov_alias *a,
		   struct prov_alias_patch *p, struct buf *dests,
		   struct api_problem *pr)
{
	static const struct api_field fields[] = {
	    {"source", API_STRING, true, 0},
	    {"destinations", API_STRINGS, true, 0},
	    {"active", API_BOOL, false, 0},
	};
	static const struct api_field patch[] = {
	    {"destinations", API_STRINGS, false, 0},
	    {"active", API_BOOL, false, 0},
	};
	if (api_body_check(obj, create ? fields : patch, create ? 3 : 2, pr) < 0)
		return -1;
	json_t *arr = json_object_get(obj, "destinations");
	if (arr != NULL) {
		if (json_array_size(arr) == 0)
			return problem(pr, 422, "invalid_value",
				       "destinations: at least one address");
		size_t i;
		json_t *e;
		json_array_foreach(arr, i, e) {
			char field[40];
			snprintf(field, sizeof(field), "destinations[%zu]", i);
			if (check_name(norm_address, field, json_string_value(e),
				       pr) < 0)
				return -1;
		}
		join(arr, dests);
	}
	if (create) {
		memset(a, 0, sizeof(*a));
		a->source = str_member(obj, "source");
		a->destinations = buf_data(dests);
		a->active = bool_member(obj, "active") != 0;
		return check_name(norm_source, "source", a->source, pr);
	}
	p->destinations = arr ? buf_data(dests) : NULL;
	p->active = bool_member(obj, "active");
	return 0;
}

int api_alias_domain_body(json_t *obj, const char **alias,
			  const char **target, struct api_problem *pr)
{
	static const struct api_field fields[] = {
	    {"alias", API_STRING, true, 0},
	    {"target", API_STRING, true, 0},
	};
	if (api_body_check(obj, fields, 2, pr) < 0)
		return -1;
	*alias = str_member(obj, "alias");
	*target = str_member(obj, "target");
	if (check_name(prov_normalize_domain, "alias", *alias, pr) < 0 ||
	    check_name(prov_normalize_domain, "target", *target, pr) < 0)
		return -1;
	return 0;
}

static int norm_username(const char *v, struct buf *out, struct error *err)
{
	return prov_admin_norm_username(v, out, err);
}

int api_admin_body(json_t *obj, bool create, struct prov_admin *a,
		   struct prov_admin_patch *p, struct buf *domains,
		   struct api_problem *pr)
{
	static const struct api_field fields[] = {
	    {"username", API_STRING, true, 0}, {"password", API_STRING, true, 0},
	    {"role", API_STRING, true, 0},	    {"domains", API_STRINGS, false, 0},
	    {"active", API_BOOL, false, 0},
	};
	static const struct api_field patch[] = {
	    {"password", API_STRING, false, 0},
	    {"domains", API_STRINGS, false, 0},
	    {"active", API_BOOL, false, 0},
	};
	if (api_body_check(obj, create ? fields : patch, create ? 5 : 3, pr) < 0)
		return -1;
	const char *password = str_member(obj, "password");
	if (password != NULL && *password == '\0')
		return problem(pr, 422, "invalid_value",
			       "password: must not be empty");
	json_t *arr = json_object_get(obj, "domains");
	if (arr != NULL) {
		size_t i;
		json_t *e;
		json_array_foreach(arr, i, e) {
			char field[40];
			snprintf(field, sizeof(field), "domains[%zu]", i);
			if (check_name(prov_normalize_domain, field,
				       json_string_value(e), pr) < 0)
				return -1;
		}
		join(arr, domains);
	}
	if (create) {
		memset(a, 0, sizeof(*a));
		a->username = str_member(obj, "username");
		a->password = password;
		a->role = str_member(obj, "role");
		a->domains = arr ? buf_data(domains) : NULL;
		a->active = bool_member(obj, "active") != 0;
		if (strcmp(a->role, "superadmin") != 0 &&
		    strcmp(a->role, "domain") != 0)
			return problem(pr, 422, "invalid_value",
				       "role: \"superadmin\" or \"domain\"");
		if (strcmp(a->role, "domain") == 0 &&
		    (arr == NULL || json_array_size(arr) == 0))
			return problem(pr, 422, "invalid_value",
				       "domains: a domain admin needs at least "
				       "one domain");
		if (strcmp(a->role, "superadmin") == 0 && arr != NULL &&
		    json_array_size(arr) > 0)
			return problem(pr, 422, "invalid_value",
				       "domains: a superadmin has every domain; "
				       "give none");
		return check_name(norm_username, "username", a->username, pr);
	}
	p->password = password;
	p->domains = arr ? buf_data(domains) : NULL;
	p->active = bool_member(obj, "active");
	return 0;
}

int api_token_body(json_t *obj, const char **username, const char **password,
		   long long *expires_in, const char **description,
		   struct api_problem *pr)
{
	static const struct api_field fields[] = {
	    {"username", API_STRING, true, 0},
	    {"password", API_STRING, true, 0},
	    {"expires_in", API_INT, false, 0},
	    {"description", API_STRING, false, 255},
	};
	if (api_body_check(obj, fields, 4, pr) < 0)
		return -1;
	*username = str_member(obj, "username");
	*password = str_member(obj, "password");
	*expires_in = int_member(obj, "expires_in");
	*description = str_member(obj, "description");
	return 0;
}
