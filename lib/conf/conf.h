/*
 * conf - main.cf-style configuration, as Postfix's.
 *
 * The file is `name = value` lines; a line starting with white space
 * continues the previous one; `#` starts a comment line; `$name` and
 * `${name}` expand to other parameters' values (expanded when read, so
 * later definitions and defaults are seen).  Every parameter is declared
 * once in conf_params.def with its type, default and a one-line doc: that
 * table is the single source of defaults, validation, `postern config -d`
 * and docs/config.md.  Unknown names in the file get a warning naming
 * file:line; malformed lines and bad values are errors naming file:line.
 *
 * A loaded struct conf is immutable and may be read from several threads.
 * Strings returned are borrowed and live as long as the struct conf.
 */
#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct conf;

/*
 * Load CONFIG_DIR/main.cf (a missing file means all defaults).  The
 * parameter config_directory is set to CONFIG_DIR, made absolute.
 * Returns NULL with err (kind ERR_CONFIG, message "FILE:LINE: ...").
 */
struct conf *conf_load(const char *config_dir, struct error *err);
/* Parse text as if it were main.cf (tests, fuzzing); `origin` names it. */
struct conf *conf_load_string(const char *config_dir, const char *origin,
			      const char *text, struct error *err);
void conf_free(struct conf **conf);

/*
 * Expanded values.  Asking for a name that is not in the table is a
 * programming error and panics; values were validated at load time, so
 * the typed getters cannot fail.
 */
const char *conf_str(const struct conf *conf, const char *name);
long long conf_int(const struct conf *conf, const char *name);
bool conf_bool(const struct conf *conf, const char *name);
/* Time parameters in seconds ("10s", "5m", "1d"...). */
int64_t conf_time(const struct conf *conf, const char *name);
/* Size parameters in bytes. */
long long conf_size(const struct conf *conf, const char *name);

#endif
