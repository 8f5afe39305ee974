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
#include <stddef.h>
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

/*
 * Overrides, as Postfix's `-o name=value`: NAME_EQ_VALUE[0..n) are applied
 * on top of main.cf before expansion, so other parameters see them.  A
 * malformed entry (no '=') is an ERR_CONFIG error; an unknown name gets a
 * warning, like one in main.cf.
 */
struct conf *conf_load_overrides(const char *config_dir,
				 const char *const *name_eq_value, size_t n,
				 struct error *err);
/*
 * The general form behind the loaders above: `len` bytes of main.cf text
 * (may hold NUL bytes, which are refused with FILE:LINE), then overrides.
 */
struct conf *conf_load_mem(const char *config_dir, const char *origin,
			   const char *data, size_t len,
			   const char *const *name_eq_value, size_t n,
			   struct error *err);

/* The absolute main.cf path this configuration was read from (or named). */
const char *conf_path(const struct conf *conf);

/* ---- The parameter table (for `postern config` and docs/config.md). */

enum conf_type {
	CONF_STR,
	CONF_INT,
	CONF_BOOL,
	CONF_TIME,
	CONF_SIZE,
	CONF_RAW, /* text kept as written: its user expands its own $names */
};

struct conf_param {
	const char *name;
	enum conf_type type;
	const char *def; /* raw default, before $name expansion */
	const char *doc;
};

/* Number of parameters and the i-th in conf_params.def order. */
size_t conf_param_count(void);
const struct conf_param *conf_param_at(size_t i);
/* The parameter called NAME, or NULL if there is none. */
const struct conf_param *conf_param_find(const char *name);
/* "str", "int", "bool", "time" or "size". */
const char *conf_type_name(enum conf_type type);
/*
 * Check that an expanded VALUE fits TYPE; -1 with err (ERR_CONFIG, a
 * message without location) if not.
 */
int conf_check_value(enum conf_type type, const char *value, struct error *err);

/* Was NAME set in main.cf or by an override (not just defaulted)? */
bool conf_is_set(const struct conf *conf, const char *name);
/* NAME's value before expansion: as written in main.cf, or the default. */
const char *conf_raw(const struct conf *conf, const char *name);
/* A name that is not in the table but was defined (main.cf or -o), as
 * written, or NULL: Postfix's restriction classes are such names. */
const char *conf_extra(const struct conf *conf, const char *name);

/*
 * Edit CONFIG_DIR/main.cf like `postconf -e`: each "name=value" replaces
 * the existing definition in place (with its continuation lines; later
 * duplicate definitions are removed) or is appended.  Comments and other
 * lines are kept.  Names must be in the table; the edited file must load
 * (types, expansion), else nothing is written.  The file is replaced
 * atomically with mode 0644.
 */
int conf_file_set(const char *config_dir, const char *name, const char *value,
		  struct error *err);
int conf_file_set_many(const char *config_dir, const char *const *name_eq_value,
		       size_t n, struct error *err);

/* docs/config.md, generated from the table: appended to out. */
struct buf;
void conf_doc_markdown(struct buf *out);

/*
 * Apply log_target, log_file (creating its folder), syslog_facility and
 * debug_trace through core/log.h, naming the process PROGNAME (NULL:
 * keep).  -1 with err on failure: ERR_CONFIG for a bad value, the file
 * system's kind when log_file cannot be created; nothing is changed then.
 */
int conf_setup_logging(const struct conf *conf, const char *progname,
		       struct error *err);

#endif
