/*
 * html_parse - gumbo in a capped arena, and a walker without recursion.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xmalloc.h"
#include "html/html_parse.h"
#include "html/html_sanitize.h"

#define ARENA_CHUNK (256u * 1024)
/* gumbo needs about 10-20 bytes of tree per input byte on tag soup
 * (measured: tests/unit/html); allow generous headroom, refuse beyond. */
#define ARENA_BASE (64u * 1024 * 1024)
#define ARENA_PER_BYTE 48u
/* gumbo scans its stack of open elements on most tokens, so a deep stack
 * makes it quadratic (100000 nested divs: minutes), and no input check
 * can predict the stack (formatting elements are re-opened by the
 * parser).  Every token allocates (parse errors too, as we record them),
 * so the allocator looks at the thread's CPU time every few calls. */
#define PARSE_CPU_BUDGET_NS (2000ull * 1000 * 1000)
#define PARSE_CLOCK_EVERY 256u

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

struct html_arena {
	struct arena_chunk *chunks;
	size_t total, cap;
	unsigned calls;
	unsigned long long cpu_start;
	const char *why; /* which limit */
	jmp_buf over;
};

static unsigned long long thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (unsigned long long)ts.tv_sec * 1000000000ull +
	       (unsigned long long)ts.tv_nsec;
}

static void *arena_alloc(void *userdata, size_t size)
{
	struct html_arena *a = userdata;
	struct arena_chunk *c = a->chunks;
	size_t need = (size + 15) & ~(size_t)15;

	if (++a->calls % PARSE_CLOCK_EVERY == 0 &&
	    thread_cpu_ns() - a->cpu_start > PARSE_CPU_BUDGET_NS) {
		a->why = "parser time";
		longjmp(a->over, 1);
	}
	a->why = "parser memory";
	if (need < size)
		longjmp(a->over, 1);
	if (c == NULL || c->size - c->used < need) {
		size_t csize = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;

		if (a->total + csize > a->cap)
			longjmp(a->over, 1);
		c = xmalloc(sizeof(*c) + csize);
		c->size = csize;
		c->used = 0;
		if (need > ARENA_CHUNK / 4 && a->chunks != NULL) {
			/* A big block gets its own chunk behind the current
			 * one, so the current one keeps serving small ones. */
			c->next = a->chunks->next;
			a->chunks->next = c;
		} else {
			c->next = a->chunks;
			a->chunks = c;
		}
		a->total += csize;
	}
	void *p = (char *)c->data + c->used;
	c->used += need;
	return p;
}

/* Freed with the arena: gumbo frees only what it is done with anyway. */
static void arena_free(void *userdata, void *ptr)
{
	(void)userdata;
	(void)ptr;
}

static void arena_destroy(struct html_arena **ap)
{
	struct html_arena *a = *ap;

	if (a == NULL)
		return;
	while (a->chunks != NULL) {
		struct arena_chunk *c = a->chunks;

		a->chunks = c->next;
		free(c);
	}
	free(a);
	*ap = NULL;
}

const GumboVector *html_children(const GumboNode *n)
{
	switch (n->type) {
	case GUMBO_NODE_DOCUMENT:
		return &n->v.document.children;
	case GUMBO_NODE_ELEMENT:
	case GUMBO_NODE_TEMPLATE:
		return &n->v.element.children;
	default:
		return NULL;
	}
}

/* The next sibling of n, or NULL; index_within_parent is checked, not
 * trusted, since gumbo moves nodes around (foster parenting, adoption). */
static const GumboNode *next_sibling(const GumboNode *n)
{
	const GumboVector *pc = html_children(n->parent);
	size_t i = n->index_within_parent;

	if (pc == NULL)
		return NULL;
	if (i >= pc->length || pc->data[i] != n) {
		for (i = 0; i < pc->length && pc->data[i] != n; i++)
			;
		if (i == pc->length)
			return NULL;
	}
	return i + 1 < pc->length ? pc->data[i + 1] : NULL;
}

void html_walk(const GumboNode *root, html_enter_fn *enter,
	       html_leave_fn *leave, void *ctx)
{
	const GumboNode *n = root;
	unsigned depth = 0;

	for (;;) {
		const GumboVector *c = html_children(n);

		if (enter(ctx, n, depth) && c != NULL && c->length > 0) {
			n = c->data[0];
			depth++;
			continue;
		}
		for (;;) {
			const GumboNode *next;

			if (leave != NULL)
				leave(ctx, n);
			if (n == root)
				return;
			next = next_sibling(n);
			if (next != NULL) {
				n = next;
				break;
			}
			n = n->parent;
			depth--;
		}
	}
}

static bool depth_enter(void *ctx, const GumboNode *n, unsigned depth)
{
	unsigned *max = ctx;

	(void)n;
	if (depth > *max)
		*max = depth;
	return true;
}

int html_parse(const char *in, size_t len, struct html_doc *doc,
	       struct error *err)
{
	GumboOptions opts = kGumboDefaultOptions;
	struct html_arena *a;

	memset(doc, 0, sizeof(*doc));
	if (len > HTML_MAX_INPUT)
		return error_set(err, ERR_PERM,
				 "HTML part too large (%zu bytes, limit %u)",
				 len, HTML_MAX_INPUT);
	a = xcalloc(1, sizeof(*a));
	a->cap = ARENA_BASE + ARENA_PER_BYTE * len;
	doc->arena = a;
	opts.allocator = arena_alloc;
	opts.deallocator = arena_free;
	opts.userdata = a;
	/* Parse errors are not used, but recording them makes the parser
	 * call the allocator, hence the CPU check, on every bad token. */
	opts.max_errors = -1;
	a->cpu_start = thread_cpu_ns();
	if (setjmp(a->over) != 0)
		return error_set(err, ERR_PERM,
				 "HTML part too complex (over the %s limit)",
				 a->why);
	doc->out = gumbo_parse_with_options(&opts, len > 0 ? in : "", len);
	html_walk(doc->out->document, depth_enter, NULL, &doc->depth);
	if (doc->depth > HTML_MAX_DEPTH)
		return error_set(err, ERR_PERM,
				 "HTML part nested too deep (%u, limit %u)",
				 doc->depth, HTML_MAX_DEPTH);
	return 0;
}

size_t html_doc_memory(const struct html_doc *doc)
{
	return doc->arena != NULL ? doc->arena->total : 0;
}

void html_doc_free(struct html_doc *doc)
{
	arena_destroy(&doc->arena);
	doc->out = NULL;
}
