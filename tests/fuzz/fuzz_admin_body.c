/*
 * fuzz_admin_body - libFuzzer target for the admin API's request bodies
 * (admin-api/api_body.c): JSON parsing with duplicate keys refused, then
 * the field table and value checks of every resource, create and PATCH.
 * The first input byte picks the resource and mode, the rest is the body.
 * Besides memory errors it checks the contract of a refusal: a status of
 * 400 or 422, a code, and a message; and that an accepted body gives the
 * audit details without the password in clear.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_problem(int rc, const struct api_problem *pr)
{
	if (rc == 0)
		return;
	if ((pr->status != 400 && pr->status != 422) || pr->code == NULL ||
	    pr->message[0] == '\0')
		abort();
}

static void check_details(json_t *obj)
{
	char *details = api_body_details(obj);
	if (details == NULL)
		abort();
	json_t *back = json_loads(details, 0, NULL);
	json_t *pw = back ? json_object_get(back, "password") : NULL;
	/* The secret never reaches the audit text. */
	if (back == NULL || (json_object_get(obj, "password") != NULL &&
			     (!json_is_string(pw) ||
			      strcmp(json_string_value(pw), "(changed)") != 0)))
		abort();
	json_decref(back);
	free(details);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_problem pr;
	if (size < 1)
		return 0;
	unsigned kind = data[0] % 11;
	json_t *obj = api_body_parse((const char *)data + 1, size - 1, &pr);
	if (obj == NULL) {
		check_problem(-1, &pr);
		return 0;
	}
	struct buf *list = buf_new();
	struct prov_domain d;
	struct prov_domain_patch dp;
	struct prov_mailbox m;
	struct prov_mailbox_patch mp;
	struct prov_alias a;
	struct prov_alias_patch ap;
	struct prov_admin ad;
	struct prov_admin_patch adp;
	const char *s1, *s2, *s3;
	long long n;
	int rc = 0;
	switch (kind) {
	case 0: rc = api_domain_body(obj, true, &d, NULL, &pr); break;
	case 1: rc = api_domain_body(obj, false, NULL, &dp, &pr); break;
	case 2: rc = api_mailbox_body(obj, true, &m, NULL, &pr); break;
	case 3: rc = api_mailbox_body(obj, false, NULL, &mp, &pr); break;
	case 4: rc = api_alias_body(obj, true, &a, NULL, list, &pr); break;
	case 5: rc = api_alias_body(obj, false, NULL, &ap, list, &pr); break;
	case 6: rc = api_alias_domain_body(obj, &s1, &s2, &pr); break;
	case 7: rc = api_admin_body(obj, true, &ad, NULL, list, &pr); break;
	case 8: rc = api_admin_body(obj, false, NULL, &adp, list, &pr); break;
	case 9: rc = api_token_body(obj, &s1, &s2, &n, &s3, &pr); break;
	default: {
		/* The path side: decoding and routing of the same bytes. */
		char *path = strndup((const char *)data + 1, size - 1);
		const struct api_route *route;
		char *arg = NULL;
		if (path != NULL)
			api_route_match("GET", path, &route, &arg);
		free(arg);
		free(path);
		break;
	}
	}
	check_problem(rc, &pr);
	if (rc == 0)
		check_details(obj);
	json_decref(obj);
	buf_free(&list);
	return 0;
}
