/*
 * conf_doc - docs/config.md, generated from conf_params.def so that the
 * reference can never disagree with the code (a ctest compares them).
 */
#include <string.h>

#include "conf/conf.h"
#include "core/buf.h"

/* One output line per entry. */
static const char *const intro[] = {
    "# Postern configuration reference",
    "",
    "<!-- Generated from lib/conf/conf_params.def by",
    "`postern config --markdown`; do not edit. -->",
    "",
    "Postern reads `main.cf` in its configuration folder (`-c DIR`,",
    "default `./var`).  A missing file means every parameter has its",
    "default.",
    "",
    "## Syntax",
    "",
    "- One `name = value` per line; white space around `=` and at the",
    "  end of the value is ignored.  The value may be empty.",
    "- A line that starts with white space continues the previous one",
    "  (the pieces are joined with one space).",
    "- Blank lines and lines whose first non-blank character is `#` are",
    "  ignored, also between continuation lines.  A `#` later in a line",
    "  is part of the value, as in Postfix.",
    "- If a name is defined twice, the last definition wins (with a",
    "  warning).",
    "- An unknown name gets a warning (`FILE:LINE: unknown parameter",
    "  NAME`) but may still be used in `$name` references.  Any other",
    "  mistake is an error naming `FILE:LINE`.",
    "- `config_directory` is always the folder in use; it cannot be set",
    "  in the file.",
    "",
    "## Expansion",
    "",
    "`$name` and `${name}` in a value are replaced by the (expanded)",
    "value of that parameter, whether it is set in the file or",
    "defaulted, and wherever in the file it is defined.  `$$` is a",
    "literal `$`.  An undefined name expands to nothing, with a warning;",
    "a reference loop is an error.  Values are expanded before their",
    "type is checked, so `smtp_port = $my_port` works.",
    "",
    "## Types",
    "",
    "| type | accepted values |",
    "| --- | --- |",
    "| str | any text |",
    "| int | a decimal integer |",
    "| bool | `yes`, `no`, `true` or `false` |",
    "| time | a number with an `s`, `m`, `h`, `d` or `w` unit |",
    "| size | a number of bytes |",
    "| raw | any text, kept as written: a template with its own `$names` |",
    "",
    "A time without a unit is in seconds.",
    "",
    "## Commands",
    "",
    "- `postern config` prints every parameter as `name = value` (raw,",
    "  as written); `-x` expands values, `-n` shows only those set in",
    "  `main.cf`, `-d` shows defaults, and `NAME...` restricts the",
    "  output.",
    "- `postern config set NAME=VALUE...` edits `main.cf` in place",
    "  (like `postconf -e`), keeping comments; the new file is checked",
    "  before it is written.",
    "",
    "## Parameters",
    "",
    "| name | type | default | description |",
    "| --- | --- | --- | --- |",
};

/* Table cells: a '|' would end the cell, a newline the row. */
static void cell(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			buf_append_str(out, "\\|");
		else if (*s == '\n')
			buf_append_char(out, ' ');
		else
			buf_append_char(out, *s);
	}
}

void conf_doc_markdown(struct buf *out)
{
	for (size_t i = 0; i < sizeof(intro) / sizeof(intro[0]); i++)
		buf_printf(out, "%s\n", intro[i]);
	for (size_t i = 0; i < conf_param_count(); i++) {
		const struct conf_param *p = conf_param_at(i);
		buf_append_str(out, "| `");
		cell(out, p->name);
		buf_printf(out, "` | %s | ", conf_type_name(p->type));
		if (p->def[0] == '\0') {
			buf_append_str(out, "*(empty)*");
		} else {
			buf_append_char(out, '`');
			cell(out, p->def);
			buf_append_char(out, '`');
		}
		buf_append_str(out, " | ");
		cell(out, p->doc);
		buf_append_str(out, " |\n");
	}
}
