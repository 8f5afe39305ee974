/*
 * html_parse - gumbo behind our limits (internal to lib/html).
 *
 * gumbo 0.10 allocates through the options allocator but cannot fail an
 * allocation, has no limits, and frees its tree recursively.  So every
 * parse gets its own arena: a capped bump allocator that longjmps out of
 * gumbo when the cap is hit (nothing else is held: the arena is all gumbo
 * owns), and is freed in one go, never through gumbo_destroy_output.
 * The cap also bounds the work gumbo can be made to do on crafted input
 * (reconstruction of active formatting elements grows the tree
 * quadratically), and the allocator checks a CPU-time budget (a deep
 * stack of open elements makes every token cost its depth).  Trees deeper
 * than HTML_MAX_DEPTH are refused after the parse.
 *
 * The tree is walked without recursion (parent pointers), so depth never
 * costs C stack.
 */
#ifndef POSTERN_HTML_PARSE_H
#define POSTERN_HTML_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include <gumbo.h>

#include "core/error.h"

struct html_arena;

struct html_doc {
	GumboOutput *out;
	struct html_arena *arena;
	unsigned depth; /* deepest element nesting seen */
};

/* Parse UTF-8 input; -1 ERR_PERM when over HTML_MAX_INPUT, the memory cap,
 * the CPU budget or HTML_MAX_DEPTH.  Free with html_doc_free() either way. */
int html_parse(const char *in, size_t len, struct html_doc *doc,
	       struct error *err);
void html_doc_free(struct html_doc *doc);
/* Bytes the parse took from its arena (for the limit and the tests). */
size_t html_doc_memory(const struct html_doc *doc);

/* Called before a node's children; return false to skip them.  leave() is
 * called once for every node enter() saw, after its children. */
typedef bool html_enter_fn(void *ctx, const GumboNode *n, unsigned depth);
typedef void html_leave_fn(void *ctx, const GumboNode *n);
void html_walk(const GumboNode *root, html_enter_fn *enter,
	       html_leave_fn *leave, void *ctx);

/* Children of a document, element or template node; NULL for the rest. */
const GumboVector *html_children(const GumboNode *n);

#endif
