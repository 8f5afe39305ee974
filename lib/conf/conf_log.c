/*
 * conf_log - apply the logging parameters (log_target, log_file,
 * syslog_facility, debug_trace) through core/log.h.  Lives in conf
 * because core must not know about configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/fsutil.h"
#include "core/log.h"

int conf_setup_logging(const struct conf *conf, const char *progname,
		       struct error *err)
{
	const char *target = conf_str(conf, "log_target");
	unsigned mask = 0;
	char old_name[64];
	int ret = 0;

	/* Check everything before changing anything. */
	if (log_parse_trace(conf_str(conf, "debug_trace"), &mask, err) < 0) {
		error_prefix(err, "debug_trace");
		return -1;
	}
	if (strcmp(target, "stderr") != 0 && strcmp(target, "file") != 0 &&
	    strcmp(target, "syslog") != 0)
		return error_set(err, ERR_CONFIG,
				 "log_target: \"%.100s\" is not stderr, file "
				 "or syslog",
				 target);
	/* Before the target: openlog() takes the name. */
	snprintf(old_name, sizeof(old_name), "%s", log_progname());
	if (progname != NULL)
		log_init(progname);

	if (strcmp(target, "stderr") == 0) {
		log_to_stderr();
	} else if (strcmp(target, "file") == 0) {
		const char *file = conf_str(conf, "log_file");
		if (file[0] == '\0') {
			ret = error_set(err, ERR_CONFIG,
					"log_file: empty with log_target = "
					"file");
		} else {
			char *dir = fs_dirname(file);
			ret = fs_mkdir_p(dir, 0755, err);
			free(dir);
			if (ret == 0)
				ret = log_to_file(file, err);
			if (ret < 0)
				error_prefix(err, "log_file");
		}
	} else if (log_to_syslog(conf_str(conf, "syslog_facility"), err) < 0) {
		error_prefix(err, "syslog_facility");
		ret = -1;
	}
	if (ret < 0) {
		log_init(old_name);
		return -1;
	}
	log_set_trace(mask);
	return 0;
}
