/*
 * sasl_client.c - Cyrus SASL as the SMTP client's authenticator.
 */
#include <sasl/sasl.h>
#include <sasl/saslutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map.h"

#include "sasl_client.h"

struct dlv_sasl_conf {
	bool enabled;
	struct map *map;
	char *filter;
	unsigned plain_flags, tls_flags;
};

struct dlv_sasl {
	sasl_conn_t *conn;
	char *user;
	sasl_secret_t *secret;
	const char *mech;
	sasl_callback_t cbs[5];
};

static bool sasl_ready;

static int parse_options(const char *name, const char *value, unsigned *flags_r,
			 struct error *err)
{
	struct array *words = str_split(value, ", \t");
	unsigned f = 0;
	int r = 0;

	for (size_t i = 0; i < array_len(words); i++) {
		const char *w = array_get(words, i);

		if (strcasecmp(w, "noplaintext") == 0)
			f |= SASL_SEC_NOPLAINTEXT;
		else if (strcasecmp(w, "noactive") == 0)
			f |= SASL_SEC_NOACTIVE;
		else if (strcasecmp(w, "nodictionary") == 0)
			f |= SASL_SEC_NODICTIONARY;
		else if (strcasecmp(w, "noanonymous") == 0)
			f |= SASL_SEC_NOANONYMOUS;
		else if (strcasecmp(w, "mutual_auth") == 0)
			f |= SASL_SEC_MUTUAL_AUTH;
		else {
			r = error_set(err, ERR_CONFIG, "%s: unknown option %s",
				      name, w);
			break;
		}
	}
	array_free_with(&words, free);
	*flags_r = f;
	return r;
}

/* Cyrus asks for options (plugin settings) here instead of reading
 * /etc/sasl2: we have none to give. */
static int getopt_cb(void *ctx, const char *plugin, const char *option,
		     const char **result, unsigned *len)
{
	(void)ctx, (void)plugin, (void)option;
	*result = NULL;
	if (len != NULL)
		*len = 0;
	return SASL_FAIL;
}

static const sasl_callback_t global_cbs[] = {
    {SASL_CB_GETOPT, (int (*)(void))(void (*)(void))getopt_cb, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

struct dlv_sasl_conf *dlv_sasl_conf_new(const struct conf *conf,
					struct error *err)
{
	struct dlv_sasl_conf *sc = xcalloc(1, sizeof(*sc));
	const char *spec = conf_str(conf, "smtp_sasl_password_maps");

	sc->enabled = conf_bool(conf, "smtp_sasl_auth_enable");
	sc->filter = xstrdup(conf_str(conf, "smtp_sasl_mechanism_filter"));
	if (parse_options("smtp_sasl_security_options",
			  conf_str(conf, "smtp_sasl_security_options"),
			  &sc->plain_flags, err) < 0 ||
	    parse_options("smtp_sasl_tls_security_options",
			  conf_str(conf, "smtp_sasl_tls_security_options"),
			  &sc->tls_flags, err) < 0)
		goto fail;
	if (!sc->enabled)
		return sc;
	if (spec[0] != '\0') {
		struct map_env env = {.conf = conf};

		sc->map = map_open(spec, &env, err);
		if (sc->map == NULL)
			goto fail;
	}
	if (!sasl_ready) {
		int r = sasl_client_init(global_cbs);

		if (r != SASL_OK) {
			error_set(err, ERR_TEMP, "sasl_client_init: %s",
				  sasl_errstring(r, NULL, NULL));
			goto fail;
		}
		sasl_ready = true;
	}
	return sc;
fail:
	dlv_sasl_conf_free(&sc);
	return NULL;
}

void dlv_sasl_conf_free(struct dlv_sasl_conf **scp)
{
	struct dlv_sasl_conf *sc = *scp;

	if (sc == NULL)
		return;
	map_free(&sc->map);
	free(sc->filter);
	free(sc);
	*scp = NULL;
}

int dlv_sasl_lookup(struct dlv_sasl_conf *sc, const char *nexthop,
		    const char *host, unsigned port, char **user_r,
		    char **pass_r, struct error *err)
{
	char keys[5][300];
	size_t nkeys = 0;
	struct buf *v;
	int r = 0;

	if (!sc->enabled || sc->map == NULL)
		return 0;
	str_copy(keys[nkeys++], nexthop, sizeof(keys[0]));
	snprintf(keys[nkeys++], sizeof(keys[0]), "[%s]:%u", host, port);
	snprintf(keys[nkeys++], sizeof(keys[0]), "[%s]", host);
	str_copy(keys[nkeys++], host, sizeof(keys[0]));
	v = buf_new();
	for (size_t i = 0; i < nkeys && r == 0; i++) {
		const char *colon;

		if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0)
			continue;
		r = map_lookup(sc->map, keys[i], v, err);
		if (r != 1)
			continue;
		colon = strchr(buf_data(v), ':');
		if (colon == NULL) {
			log_warn("%s: key %s: expected user:password",
				 map_spec(sc->map), keys[i]);
			r = 0;
			break;
		}
		*user_r = xstrndup(buf_data(v), (size_t)(colon - buf_data(v)));
		*pass_r = xstrdup(colon + 1);
	}
	buf_free(&v);
	return r;
}

static int user_cb(void *ctx, int id, const char **result, unsigned *len)
{
	struct dlv_sasl *s = ctx;

	if (id != SASL_CB_USER && id != SASL_CB_AUTHNAME)
		return SASL_BADPARAM;
	*result = s->user;
	if (len != NULL)
		*len = (unsigned)strlen(s->user);
	return SASL_OK;
}

static int pass_cb(sasl_conn_t *conn, void *ctx, int id,
		   sasl_secret_t **psecret)
{
	struct dlv_sasl *s = ctx;

	(void)conn;
	if (id != SASL_CB_PASS)
		return SASL_BADPARAM;
	*psecret = s->secret;
	return SASL_OK;
}

/* The offered mechanisms that pass the filter, space separated. */
static void filter_mechs(const char *offered, const char *filter,
			 struct buf *out)
{
	struct array *o = str_split(offered, " \t");
	struct array *f = str_split(filter, ", \t");

	for (size_t i = 0; i < array_len(o); i++) {
		const char *m = array_get(o, i);
		bool ok = array_len(f) == 0;

		for (size_t k = 0; k < array_len(f) && !ok; k++)
			ok = strcasecmp(m, array_get(f, k)) == 0;
		if (ok)
			buf_printf(out, "%s%s", buf_len(out) ? " " : "", m);
	}
	array_free_with(&o, free);
	array_free_with(&f, free);
}

static int b64(const char *in, unsigned len, struct buf *out, struct error *err)
{
	unsigned cap = (len + 2) / 3 * 4 + 1, outlen = 0;
	char *tmp = xmalloc(cap);
	int r = sasl_encode64(in, len, tmp, cap, &outlen);

	if (r == SASL_OK)
		buf_append(out, tmp, outlen);
	free(tmp);
	return r == SASL_OK ? 0
			    : error_set(err, ERR_TEMP, "sasl_encode64 failed");
}

struct dlv_sasl *dlv_sasl_begin(struct dlv_sasl_conf *sc, const char *server,
				const char *user, const char *pass,
				const char *offered, bool tls, struct buf *cmd,
				struct error *err)
{
	struct dlv_sasl *s = xcalloc(1, sizeof(*s));
	sasl_security_properties_t props;
	struct buf *mechs = buf_new();
	const char *out = NULL;
	unsigned outlen = 0;
	size_t plen = strlen(pass);
	int r;

	s->user = xstrdup(user);
	s->secret = xcalloc(1, sizeof(*s->secret) + plen + 1);
	s->secret->len = plen;
	memcpy(s->secret->data, pass, plen);
	s->cbs[0] = (sasl_callback_t){
	    SASL_CB_USER, (int (*)(void))(void (*)(void))user_cb, s};
	s->cbs[1] = (sasl_callback_t){
	    SASL_CB_AUTHNAME, (int (*)(void))(void (*)(void))user_cb, s};
	s->cbs[2] = (sasl_callback_t){
	    SASL_CB_PASS, (int (*)(void))(void (*)(void))pass_cb, s};
	s->cbs[3] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
	r = sasl_client_new("smtp", server, NULL, NULL, s->cbs, 0, &s->conn);
	if (r != SASL_OK) {
		error_set(err, ERR_TEMP, "sasl_client_new: %s",
			  sasl_errstring(r, NULL, NULL));
		goto fail;
	}
	memset(&props, 0, sizeof(props));
	props.min_ssf = 0;
	props.max_ssf = 1; /* no security layer: TLS does that */
	props.security_flags = tls ? sc->tls_flags : sc->plain_flags;
	sasl_setprop(s->conn, SASL_SEC_PROPS, &props);
	filter_mechs(offered, sc->filter, mechs);
	if (buf_len(mechs) == 0) {
		error_set(err, ERR_PERM, "no mechanism available");
		goto fail;
	}
	r = sasl_client_start(s->conn, buf_data(mechs), NULL, &out, &outlen,
			      &s->mech);
	if (r != SASL_OK && r != SASL_CONTINUE) {
		error_set(err, r == SASL_NOMECH ? ERR_PERM : ERR_TEMP,
			  "%s (mechanisms offered: %s)",
			  r == SASL_NOMECH ? "no mechanism available"
					   : sasl_errdetail(s->conn),
			  buf_data(mechs));
		goto fail;
	}
	buf_reset(cmd);
	buf_printf(cmd, "AUTH %s", s->mech);
	if (out != NULL) {
		/* RFC 4954 4: an empty initial response is sent as "=". */
		buf_printf(cmd, " ");
		if (outlen == 0)
			buf_printf(cmd, "=");
		else if (b64(out, outlen, cmd, err) < 0)
			goto fail;
	}
	buf_free(&mechs);
	return s;
fail:
	buf_free(&mechs);
	dlv_sasl_free(&s);
	return NULL;
}

int dlv_sasl_step(struct dlv_sasl *s, const char *challenge, struct buf *out,
		  struct error *err)
{
	size_t clen = strlen(challenge);
	char *dec = xmalloc(clen + 1);
	unsigned declen = 0, outlen = 0;
	const char *resp = NULL;
	int r;

	r = sasl_decode64(challenge, (unsigned)clen, dec, (unsigned)clen + 1,
			  &declen);
	if (r != SASL_OK) {
		free(dec);
		return error_set(err, ERR_TEMP, "malformed SASL challenge");
	}
	r = sasl_client_step(s->conn, dec, declen, NULL, &resp, &outlen);
	free(dec);
	if (r != SASL_OK && r != SASL_CONTINUE)
		return error_set(err, ERR_TEMP, "SASL step: %s",
				 sasl_errdetail(s->conn));
	buf_reset(out);
	return resp != NULL && outlen > 0 ? b64(resp, outlen, out, err) : 0;
}

const char *dlv_sasl_mech(const struct dlv_sasl *s)
{
	return s->mech;
}

void dlv_sasl_free(struct dlv_sasl **sp)
{
	struct dlv_sasl *s = *sp;

	if (s == NULL)
		return;
	if (s->conn != NULL)
		sasl_dispose(&s->conn);
	if (s->secret != NULL)
		explicit_bzero(s->secret->data, s->secret->len);
	free(s->secret);
	free(s->user);
	free(s);
	*sp = NULL;
}
