/*
 * server_ccert - a daemon's PREFIX_tls_req_ccert (see server_require_ccert
 * in server.h): imapd and lmtpd on the backend listeners of a cluster.
 */
#include <stdio.h>

#include "conf/conf.h"
#include "core/log.h"
#include "server/server.h"
#include "tls/tls.h"

int server_require_ccert(struct server *srv, const char *prefix,
			 struct error *err)
{
	const struct conf *conf = server_conf(srv);
	char req[64], cafile[64];
	const char *ca;
	struct tls_ccert_config cc = {.mode = TLS_CCERT_REQUIRE};

	snprintf(req, sizeof(req), "%s_tls_req_ccert", prefix);
	snprintf(cafile, sizeof(cafile), "%s_tls_ccert_CAfile", prefix);
	ca = conf_str(conf, cafile);
	cc.ca_file = ca;
	if (!conf_bool(conf, req))
		return 0;
	if (server_tls(srv) == NULL) {
		log_warn("%s: this service has no TLS", req);
		return 0;
	}
	if (ca[0] == '\0')
		return error_set(err, ERR_CONFIG, "%s needs %s", req, cafile);
	if (tls_server_set_ccert(server_tls(srv), &cc, err) < 0) {
		error_prefix(err, "%s", cafile);
		return -1;
	}
	return 0;
}
