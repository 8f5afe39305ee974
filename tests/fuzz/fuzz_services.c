/*
 * fuzz_services - the services table parser (lib/server/services.c):
 * columns, continuation lines, $name expansion, listen address lists.
 */
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/log.h"
#include "server/services.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf *conf;
	struct error err;

	if (conf == NULL) {
		log_init("fuzz");
		conf = conf_load_string("/srv/postern", "main.cf",
					"inet_interfaces = 127.0.0.1, ::1\n",
					&err);
		if (conf == NULL)
			return 0;
	}
	struct services *s =
	    services_parse("services.cf", (const char *)data, size, conf, &err);
	if (s != NULL) {
		for (size_t i = 0; i < services_count(s); i++) {
			const struct service_def *d = services_at(s, i);
			/* Every entry is complete and self-consistent. */
			if (d->naddrs == 0 || d->argc == 0 ||
			    d->argv[d->argc] != NULL ||
			    services_find(s, d->name) != d ||
			    !service_def_same(d, d))
				__builtin_trap();
		}
		services_free(&s);
	}
	return 0;
}
