/* GET /api/v1/health and /api/v1/openapi.json. */
#include <stdlib.h>

#include "api.h"
#include "core/xmalloc.h"

void api_health(struct api_req *req)
{
	api_reply(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* The document is embedded at build time from docs/openapi.json. */
void api_openapi(struct api_req *req)
{
	free(req->answer);
	req->status = 200;
	req->answer = xstrdup(api_openapi_json);
}
