/*
 * imap_thread.c - RFC 5256 base subjects, msg-id lists and the
 * ORDEREDSUBJECT and REFERENCES threading of a set of messages: imapd's
 * THREAD prints the tree, the webmail's conversation view takes each
 * message's thread from the same tree, so both group alike.  No I/O.
 */
#include "imap/imap_thread.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/xmalloc.h"

/* ---- base subject (RFC 5256 section 2.1) ---- */

static bool is_wsp(char c) { return c == ' ' || c == '\t'; }

static char upper(char c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

/* subj-blob = "[" *BLOBCHAR "]" *WSP; length or 0 */
static size_t blob_len(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] != '[')
		return 0;
	for (i = 1; i < len && s[i] != ']'; i++)
		if (s[i] == '[')
			return 0;
	if (i >= len)
		return 0;
	for (i++; i < len && is_wsp(s[i]); i++)
		;
	return i;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"; length or 0 */
static size_t refwd_len(const char *s, size_t len)
{
	size_t i;

	if (len >= 2 && upper(s[0]) == 'R' && upper(s[1]) == 'E')
		i = 2;
	else if (len >= 3 && upper(s[0]) == 'F' && upper(s[1]) == 'W' &&
		 upper(s[2]) == 'D')
		i = 3;
	else if (len >= 2 && upper(s[0]) == 'F' && upper(s[1]) == 'W')
		i = 2;
	else
		return 0;
	while (i < len && is_wsp(s[i]))
		i++;
	i += blob_len(s + i, len - i);
	if (i < len && s[i] == ':')
		return i + 1;
	return 0;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP; length or 0 */
static size_t leader_len(const char *s, size_t len)
{
	size_t i = 0, b, r;

	if (len > 0 && is_wsp(s[0]))
		return 1;
	for (;;) {
		r = refwd_len(s + i, len - i);
		if (r > 0)
			return i + r;
		b = blob_len(s + i, len - i);
		if (b == 0)
			return 0;
		i += b;
	}
}

void imap_base_subject(const char *subject, struct buf *out, bool *is_reply_r)
{
	bool reply = false, changed;
	size_t start, end, i, n;
	char *s;

	/* Step 1: fold white space (the caller decoded RFC 2047 words). */
	buf_reset(out);
	for (i = 0; subject != NULL && subject[i] != '\0'; i++) {
		char c = subject[i];
		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			if (buf_len(out) > 0 &&
			    buf_data(out)[buf_len(out) - 1] == ' ')
				continue;
			c = ' ';
		}
		buf_append_char(out, c);
	}
	s = buf_mut(out);
	start = 0;
	end = buf_len(out);
	for (;;) {
		/* Step 2: trailers: WSP or "(fwd)". */
		for (;;) {
			if (end > start && is_wsp(s[end - 1])) {
				end--;
			} else if (end - start >= 5 && s[end - 5] == '(' &&
				   upper(s[end - 4]) == 'F' &&
				   upper(s[end - 3]) == 'W' &&
				   upper(s[end - 2]) == 'D' && s[end - 1] == ')') {
				end -= 5;
				reply = true;
			} else {
				break;
			}
		}
		/* Steps 3-5. */
		do {
			changed = false;
			while ((n = leader_len(s + start, end - start)) > 0) {
				if (!is_wsp(s[start]))
					reply = true;
				start += n;
				changed = true;
			}
			n = blob_len(s + start, end - start);
			if (n > 0 && n < end - start) {
				start += n;
				changed = true;
			}
		} while (changed);
		/* Step 6: "[fwd:" ... "]". */
		if (end - start >= 6 && s[start] == '[' &&
		    upper(s[start + 1]) == 'F' && upper(s[start + 2]) == 'W' &&
		    upper(s[start + 3]) == 'D' && s[start + 4] == ':' &&
		    s[end - 1] == ']') {
			start += 5;
			end--;
			reply = true;
			continue;
		}
		break;
	}
	for (i = start; i < end; i++)
		s[i - start] = upper(s[i]);
	buf_truncate(out, end - start);
	if (is_reply_r != NULL)
		*is_reply_r = reply;
}

/* ---- msg-id lists ---- */

size_t imap_msgids_parse_n(const char *value, size_t len, char ***ids_r)
{
	char **ids = NULL;
	size_t n = 0;
	const char *p = value, *end = value + len;

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p)), *gt;
		struct buf *id;

		if (lt == NULL)
			break;
		gt = memchr(lt + 1, '>', (size_t)(end - lt - 1));
		if (gt == NULL)
			break;
		/* Keep the id without white space inside (folded ids). */
		id = buf_new();
		buf_append_char(id, '<');
		for (const char *q = lt + 1; q < gt; q++)
			if (!is_wsp(*q) && *q != '\r' && *q != '\n')
				buf_append_char(id, *q);
		buf_append_char(id, '>');
		if (buf_len(id) > 2 && strchr(buf_data(id) + 1, '<') == NULL &&
		    strchr(buf_data(id), '@') != NULL) {
			ids = xreallocarray(ids, n + 1, sizeof(*ids));
			ids[n++] = buf_steal(id);
		}
		buf_free(&id);
		p = gt + 1;
	}
	*ids_r = ids;
	return n;
}

size_t imap_msgids_parse(const char *value, char ***ids_r)
{
	return imap_msgids_parse_n(value, value != NULL ? strlen(value) : 0,
				    ids_r);
}

void imap_msgids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* ---- threading ---- */

struct node {
	const struct imap_thread_msg *msg; /* NULL: dummy */
	struct node *parent, *child, *next;
	size_t ri; /* step 5: index in the array of roots */
};

struct threader {
	struct node **nodes;
	size_t count, cap;
};

static struct node *node_new(struct threader *t)
{
	struct node *n = xcalloc(1, sizeof(*n));

	if (t->count == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->nodes = xreallocarray(t->nodes, t->cap, sizeof(*t->nodes));
	}
	t->nodes[t->count++] = n;
	return n;
}

static void threader_free(struct threader *t)
{
	for (size_t i = 0; i < t->count; i++)
		free(t->nodes[i]);
	free(t->nodes);
}

static bool is_ancestor(const struct node *a, const struct node *n)
{
	for (; n != NULL; n = n->parent)
		if (n == a)
			return true;
	return false;
}

static void unlink_node(struct node *n)
{
	struct node **pp;

	if (n->parent == NULL)
		return;
	for (pp = &n->parent->child; *pp != NULL; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	n->parent = NULL;
	n->next = NULL;
}

static void add_child(struct node *parent, struct node *c)
{
	struct node **pp;

	unlink_node(c);
	c->parent = parent;
	for (pp = &parent->child; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = c;
}

/* The message that stands for a node when sorting: its own, or the first
 * child's for a dummy. */
static const struct imap_thread_msg *node_msg(const struct node *n)
{
	while (n != NULL && n->msg == NULL)
		n = n->child;
	return n != NULL ? n->msg : NULL;
}

static int msg_cmp_date(const struct imap_thread_msg *a,
			const struct imap_thread_msg *b)
{
	if (a == NULL || b == NULL)
		return a == b ? 0 : a == NULL ? 1 : -1;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int node_cmp(const void *pa, const void *pb)
{
	const struct node *a = *(struct node *const *)pa;
	const struct node *b = *(struct node *const *)pb;

	return msg_cmp_date(node_msg(a), node_msg(b));
}

/* Sort every sibling list below n by sent date (children first, so a
 * dummy is placed by its earliest child). */
static void sort_children(struct node *n)
{
	struct node **v = NULL, *c;
	size_t k = 0, i;

	for (c = n->child; c != NULL; c = c->next) {
		sort_children(c);
		v = xreallocarray(v, k + 1, sizeof(*v));
		v[k++] = c;
	}
	if (k > 1) {
		qsort(v, k, sizeof(*v), node_cmp);
		n->child = v[0];
		for (i = 0; i + 1 < k; i++)
			v[i]->next = v[i + 1];
		v[k - 1]->next = NULL;
	}
	free(v);
}

static void print_node(const struct node *n, struct buf *out)
{
	/* A chain of single children prints flat: "1 2 3"; several
	 * children each get their own parentheses. */
	bool first = true;

	for (;;) {
		if (n->msg != NULL) {
			buf_printf(out, first ? "%u" : " %u", n->msg->id);
			first = false;
		}
		if (n->child == NULL)
			return;
		if (n->child->next == NULL && n->msg != NULL) {
			n = n->child;
			continue;
		}
		if (n->child->next == NULL) {
			/* dummy with one child (only a root can be one) */
			n = n->child;
			continue;
		}
		if (!first)
			buf_append_char(out, ' ');
		for (const struct node *c = n->child; c != NULL; c = c->next) {
			buf_append_char(out, '(');
			print_node(c, out);
			buf_append_char(out, ')');
		}
		return;
	}
}

static void print_roots(struct node *root, struct buf *out)
{
	for (const struct node *c = root->child; c != NULL; c = c->next) {
		buf_append_char(out, '(');
		print_node(c, out);
		buf_append_char(out, ')');
	}
}

static int msgp_cmp_subject(const void *pa, const void *pb)
{
	const struct imap_thread_msg *a = *(const struct imap_thread_msg *const *)pa;
	const struct imap_thread_msg *b = *(const struct imap_thread_msg *const *)pb;
	int r = strcmp(a->base_subject ? a->base_subject : "",
		       b->base_subject ? b->base_subject : "");

	return r != 0 ? r : msg_cmp_date(a, b);
}

void imap_thread_orderedsubject(const struct imap_thread_msg *msgs, size_t n,
				 struct buf *out)
{
	const struct imap_thread_msg **v = xcalloc(n ? n : 1, sizeof(*v));
	struct threader t = {0};
	struct node *root = node_new(&t), *head = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = &msgs[i];
	qsort(v, n, sizeof(*v), msgp_cmp_subject);
	for (i = 0; i < n; i++) {
		struct node *nd = node_new(&t);
		nd->msg = v[i];
		if (head != NULL &&
		    strcmp(head->msg->base_subject ? head->msg->base_subject : "",
			   v[i]->base_subject ? v[i]->base_subject : "") == 0) {
			add_child(head, nd);
		} else {
			add_child(root, nd);
			head = nd;
		}
	}
	/* Threads by the date of their first message; children are
	 * already in date order. */
	{
		struct node **r = NULL, *c;
		size_t k = 0;
		for (c = root->child; c != NULL; c = c->next) {
			r = xreallocarray(r, k + 1, sizeof(*r));
			r[k++] = c;
		}
		if (k > 1) {
			qsort(r, k, sizeof(*r), node_cmp);
			root->child = r[0];
			for (i = 0; i + 1 < k; i++)
				r[i]->next = r[i + 1];
			r[k - 1]->next = NULL;
		}
		free(r);
	}
	print_roots(root, out);
	free(v);
	threader_free(&t);
}

/* Every message in the subtree of top belongs to the thread whose first
 * message is msgs[root].  Iterative: reply chains may be deep. */
static void assign_root(const struct node *top,
			const struct imap_thread_msg *msgs, size_t root,
			size_t *root_r)
{
	const struct node *n = top;

	while (n != NULL) {
		if (n->msg != NULL)
			root_r[n->msg - msgs] = root;
		if (n->child != NULL) {
			n = n->child;
			continue;
		}
		while (n != top && n->next == NULL)
			n = n->parent;
		if (n == top)
			break;
		n = n->next;
	}
}

/* Step 3 of REFERENCES: drop empty dummies and promote the children of a
 * dummy (unless it is a root with several children). */
static void prune(struct node *parent)
{
	struct node *c = parent->child, *next;

	while (c != NULL) {
		next = c->next;
		prune(c);
		if (c->msg == NULL) {
			if (c->child == NULL) {
				unlink_node(c);
			} else if (parent->parent != NULL || parent->msg != NULL ||
				   c->child->next == NULL) {
				/* promote: insert the children in c's place */
				struct node **pp, *k, *last = NULL;
				for (k = c->child; k != NULL; k = k->next) {
					k->parent = parent;
					last = k;
				}
				for (pp = &parent->child; *pp != c; pp = &(*pp)->next)
					;
				*pp = c->child;
				last->next = c->next;
				c->child = NULL;
				c->parent = NULL;
				c->next = NULL;
				/* promoted children are pruned already; go on
				 * after them */
			}
		}
		c = next;
	}
}

/* Steps 1 to 6 of REFERENCES: the sorted tree under the returned root
 * (nodes owned by t). */
static struct node *references_tree(const struct imap_thread_msg *msgs,
				    size_t n, struct threader *tp)
{
	struct threader t = {0};
	struct hash *ids = hash_new(HASH_DEFAULT, NULL);
	struct hash *subj = hash_new(HASH_DEFAULT, NULL);
	struct node *root = node_new(&t), *c, *next;
	size_t i, j;

	/* Step 1: link messages by their ids. */
	for (i = 0; i < n; i++) {
		const struct imap_thread_msg *m = &msgs[i];
		struct node *nd = NULL, *prev = NULL;

		if (m->message_id != NULL) {
			nd = hash_get(ids, m->message_id);
			if (nd != NULL && nd->msg != NULL)
				nd = NULL; /* duplicate id: a unique one */
		}
		if (nd == NULL) {
			nd = node_new(&t);
			if (m->message_id != NULL &&
			    !hash_contains(ids, m->message_id))
				hash_put(ids, m->message_id, nd);
		}
		nd->msg = m;
		for (j = 0; j < m->nrefs; j++) {
			struct node *r = hash_get(ids, m->refs[j]);
			if (r == NULL) {
				r = node_new(&t);
				hash_put(ids, m->refs[j], r);
			}
			if (prev != NULL && r->parent == NULL &&
			    !is_ancestor(r, prev) && r != prev)
				add_child(prev, r);
			prev = r;
		}
		if (prev != NULL && prev != nd && !is_ancestor(nd, prev))
			add_child(prev, nd);
		else if (prev == NULL)
			unlink_node(nd);
	}
	/* Step 2: the root set (appended with a tail pointer: add_child
	 * would walk the whole list for each of thousands of roots). */
	{
		struct node **tail = &root->child;
		while (*tail != NULL)
			tail = &(*tail)->next;
		for (i = 1; i < t.count; i++) {
			struct node *nd = t.nodes[i];
			if (nd->parent != NULL)
				continue;
			nd->parent = root;
			nd->next = NULL;
			*tail = nd;
			tail = &nd->next;
		}
	}
	/* Step 3. */
	prune(root);
	/* Step 4: sort the roots by date (dummies by their first child). */
	sort_children(root);
	/* Step 5: gather roots of the same base subject. */
	for (c = root->child; c != NULL; c = c->next) {
		const struct imap_thread_msg *m = c->msg != NULL ? c->msg :
			c->child != NULL ? c->child->msg : NULL;
		struct node *old;
		const struct imap_thread_msg *om;

		if (m == NULL || m->base_subject == NULL ||
		    m->base_subject[0] == '\0')
			continue;
		old = hash_get(subj, m->base_subject);
		if (old == NULL) {
			hash_put(subj, m->base_subject, c);
			continue;
		}
		om = old->msg != NULL ? old->msg : old->child->msg;
		if ((c->msg == NULL && old->msg != NULL) ||
		    (old->msg != NULL && om->is_reply && c->msg != NULL &&
		     !m->is_reply))
			hash_put(subj, m->base_subject, c);
	}
	/*
	 * The merging works on an array of the roots, detached from the
	 * root node, so that taking a root out or putting another in its
	 * place costs O(1) instead of a walk of the root list (imapd's copy
	 * walks it; with thousands of roots that was quadratic).  Order does
	 * not matter here: step 6 sorts the roots again.
	 */
	{
		size_t nr = 0, k;
		struct node **r;

		for (c = root->child; c != NULL; c = c->next)
			nr++;
		r = xcalloc(nr ? nr : 1, sizeof(*r));
		for (c = root->child, k = 0; c != NULL; c = next, k++) {
			next = c->next;
			r[k] = c;
			c->ri = k;
			c->parent = NULL;
			c->next = NULL;
		}
		root->child = NULL;
		for (k = 0; k < nr; k++) {
			const struct imap_thread_msg *m;
			struct node *old;

			c = r[k];
			if (c == NULL)
				continue;
			m = c->msg != NULL ? c->msg :
			    c->child != NULL ? c->child->msg : NULL;
			if (m == NULL || m->base_subject == NULL ||
			    m->base_subject[0] == '\0')
				continue;
			old = hash_get(subj, m->base_subject);
			if (old == NULL || old == c)
				continue;
			r[k] = NULL;
			if (old->msg == NULL && c->msg == NULL) {
				/* both dummies: move c's children under old */
				while (c->child != NULL)
					add_child(old, c->child);
			} else if (old->msg == NULL) {
				add_child(old, c);
			} else if (c->msg == NULL) {
				/* c is dummy: old goes below it, c takes its
				 * place */
				r[old->ri] = c;
				c->ri = old->ri;
				add_child(c, old);
				hash_put(subj, m->base_subject, c);
			} else if (!old->msg->is_reply && c->msg->is_reply) {
				add_child(old, c);
			} else {
				/* a new dummy with both as children */
				struct node *d = node_new(&t);
				r[old->ri] = d;
				d->ri = old->ri;
				add_child(d, old);
				add_child(d, c);
				hash_put(subj, m->base_subject, d);
			}
		}
		{
			struct node **tail = &root->child;
			for (k = 0; k < nr; k++) {
				if (r[k] == NULL)
					continue;
				r[k]->parent = root;
				r[k]->next = NULL;
				*tail = r[k];
				tail = &r[k]->next;
			}
		}
		free(r);
	}
	/* Step 6: sort every sibling set by date. */
	sort_children(root);
	hash_free(&subj);
	hash_free(&ids);
	*tp = t;
	return root;
}

void imap_thread_references(const struct imap_thread_msg *msgs, size_t n,
			    size_t *root_r)
{
	struct threader t;
	struct node *root = references_tree(msgs, n, &t), *c;

	for (size_t i = 0; i < n; i++)
		root_r[i] = i;
	for (c = root->child; c != NULL; c = c->next) {
		const struct imap_thread_msg *first = node_msg(c);
		if (first != NULL)
			assign_root(c, msgs, (size_t)(first - msgs), root_r);
	}
	threader_free(&t);
}

void imap_thread_references_print(const struct imap_thread_msg *msgs,
				  size_t n, struct buf *out)
{
	struct threader t;
	struct node *root = references_tree(msgs, n, &t);

	print_roots(root, out);
	threader_free(&t);
}
