/*
 * html_check - independent checks on sanitiser output, shared by the unit
 * test and the fuzz target (tests/fuzz/fuzz_html_sanitize.c).
 *
 * The output is parsed again with gumbo, as a browser would, and the tree
 * must hold no script vector: only elements of the allow-list below (its
 * own copy, not lib/html's table, so a wrong table is caught), no on*
 * attribute, no attribute outside a fixed set, only http/https/mailto
 * links, only http/https/data:image sources, no dangerous CSS tokens.
 * Then the output sanitised again must be byte-identical (idempotence).
 */
#ifndef POSTERN_TEST_HTML_CHECK_H
#define POSTERN_TEST_HTML_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "html/html_sanitize.h"

/* 0 when the output is safe; -1 with the first violation in why. */
int html_check_output(const char *html, size_t len, char *why, size_t whylen);
/* 0 when sanitising `html` again with `o` gives it back unchanged. */
int html_check_idempotent(const char *html, size_t len,
			  const struct html_sanitize_opts *o, char *why,
			  size_t whylen);

/* A rewrite that is its own fixed point: remote images and cid: parts
 * go to https://proxy.test/, already rewritten URLs stay. */
char *html_check_rewrite(void *ctx, enum html_url_kind kind, const char *url);

#endif
