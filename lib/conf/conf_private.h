/*
 * conf_private.h - what the conf_*.c files share and nobody else sees:
 * the size limits and the physical-line classifier that both the loader
 * (conf.c) and the editor (conf_file.c) use, so they agree on what a
 * definition, a continuation and a comment are.
 */
#ifndef POSTERN_CONF_PRIVATE_H
#define POSTERN_CONF_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

/* A main.cf larger than this is certainly a mistake (or an attack). */
#define CONF_FILE_MAX (4u * 1024 * 1024)
/* One logical line (a definition with its continuation lines). */
#define CONF_LINE_MAX (64u * 1024)
/* One value after $name expansion: stops exponential $a$a$a chains. */
#define CONF_VALUE_MAX (64u * 1024)
/* $name references nested deeper than this are refused. */
#define CONF_EXPAND_DEPTH 64

enum conf_line_kind {
	CONF_LINE_SKIP,	 /* blank, white space only, or a # comment */
	CONF_LINE_CONT,	 /* starts with white space: continues a definition */
	CONF_LINE_START, /* starts a new logical line: "name = value" */
};

/* Classify one physical line (without its '\n'). */
enum conf_line_kind conf_line_kind(const char *line, size_t len);

static inline bool conf_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* Length of the parameter name at the start of s (may be 0). */
size_t conf_name_len(const char *s, size_t len);

static inline bool conf_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

#endif
