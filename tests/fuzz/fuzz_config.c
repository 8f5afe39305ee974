/*
 * fuzz_config - libFuzzer target for the main.cf parser and expander.
 *
 * Input bytes are main.cf text (NUL bytes included, which must be
 * refused).  A configuration that loads must then answer every getter,
 * and every typed value must pass its own type check.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "conf/conf.h"
#include "core/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Warnings for unknown names would flood the fuzzer's output. */
	if (log_to_file("/dev/null", NULL) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err;
	struct conf *c = conf_load_mem("/nonexistent/fuzz", "fuzz",
				       (const char *)data, size, NULL, 0, &err);
	if (c == NULL) {
		if (err.kind != ERR_CONFIG || err.msg[0] == '\0')
			abort();
		return 0;
	}
	for (size_t i = 0; i < conf_param_count(); i++) {
		const struct conf_param *p = conf_param_at(i);
		const char *v = conf_str(c, p->name);
		if (v == NULL || conf_raw(c, p->name) == NULL)
			abort();
		if (conf_check_value(p->type, v, NULL) < 0)
			abort();
		switch (p->type) {
		case CONF_INT:
			(void)conf_int(c, p->name);
			break;
		case CONF_BOOL:
			(void)conf_bool(c, p->name);
			break;
		case CONF_TIME:
			(void)conf_time(c, p->name);
			break;
		case CONF_SIZE:
			(void)conf_size(c, p->name);
			break;
		case CONF_STR:
		case CONF_RAW:
			break;
		}
		(void)conf_is_set(c, p->name);
	}
	conf_free(&c);
	return 0;
}
