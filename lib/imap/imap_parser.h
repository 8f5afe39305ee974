/*
 * imap_parser - incremental parser of one IMAP client command
 * (RFC 3501 / RFC 9051 syntax, literals of RFC 7888 and RFC 3516).
 *
 * The session engine reads the network and hands the parser whole lines
 * WITHOUT their line end (strip "\r\n" or a bare "\n"; a CR or LF left
 * inside a line is a parse error).  A command is one line, or several
 * when literals are present: a line ending in "{N}", "{N+}" or "~{N}"
 * announces N bytes that follow the CRLF, then the command continues on
 * the next line.  The engine's loop:
 *
 *   r = imap_parser_feed_line(p, line, len);
 *   while (r == IMAP_PARSE_NEED_LITERAL) {
 *       imap_parser_literal_info(p, &li);
 *       if (li.too_big) {
 *           if (li.sync)  -> r = imap_parser_literal_refuse(p):  always
 *                            IMAP_PARSE_ERROR; reply "tag NO|BAD [TOOBIG]"
 *                            WITHOUT reading anything (the client waits
 *                            for "+" and will not send the literal);
 *           else          -> non-synchronising (LITERAL+/LITERAL-) and
 *                            too big: the client sends the bytes anyway;
 *                            a server must read and drop them or close
 *                            (RFC 7888 section 4).  Postern's rule: call
 *                            imap_parser_literal_refuse() too, reply
 *                            "tag BAD [TOOBIG] ..." and CLOSE the
 *                            connection (error_fatal is then true); the
 *                            bytes are never read.
 *       } else {
 *           if (li.sync) send "+ OK\r\n" (only when li.sync!)
 *           either feed the bytes:  imap_parser_feed_literal(p, data, n)
 *                  (any number of calls until it has taken li.size bytes),
 *           or (li.message only, an APPEND message) stream them yourself:
 *                  imap_parser_literal_stream(p, handle, free_fn) and
 *                  read li.size bytes into your file, never into the
 *                  parser;
 *           then read the next line and r = imap_parser_feed_line(...).
 *       }
 *   }
 *   DONE  -> imap_parser_take(p) gives the command; the parser is ready
 *            for the next command (it resets itself).
 *   ERROR -> imap_parser_error(p) is the BAD text (one line, no CR/LF,
 *            no 8-bit), imap_parser_error_code(p) a response code
 *            ("TOOBIG") or NULL; imap_parser_tag(p) the tag if it was
 *            valid (else reply "* BAD").  If imap_parser_error_fatal(p),
 *            close the connection after the reply.  The parser resets
 *            itself on the next feed_line.
 *
 * After a syntax error in a line the rest of the COMMAND is still
 * consumed so that the client's literals are not taken for commands: if
 * the bad line ends in a non-synchronising literal the parser still
 * answers NEED_LITERAL (li.discard is true: feed the bytes, the parser
 * drops them) and the next line; ERROR comes once the command ends.  If
 * it ends in a synchronising literal, ERROR comes at once (the engine
 * sends no "+", so the client sends no literal).
 *
 * Limits (struct imap_parser_limits; 0 = the default shown there):
 *   max_line          a single line; the engine should also stop reading
 *                     a line at this length (then call
 *                     imap_parser_line_too_long() for the reply);
 *   max_command       total of all lines and in-memory literals of one
 *                     command (streamed literals are not counted);
 *   max_literal       one literal kept in memory (mailbox names, search
 *                     strings, small APPENDs...);
 *   max_message       an APPEND message literal (APPENDLIMIT); such a
 *                     literal may be streamed (see li.message);
 *   max_depth, max_args  nesting of parenthesised lists and the number
 *                     of arguments in the whole command.
 *
 * Tag and command name: the parser reads the tag and the command name
 * itself.  "UID FETCH ..." is reported as name "FETCH" with
 * imap_command.uid set (only when followed by another atom); the
 * arguments start after the real command name.  Names are upper-cased.
 *
 * FETCH sections: only in FETCH / UID FETCH (and NOTIFY, whose MessageNew
 * takes FETCH attributes) commands, an atom containing
 * "[" extends to the matching "]" even across spaces, parentheses and
 * quoted strings, and continues after it, so the client's
 * "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>" arrives as ONE atom with
 * exactly that text (parse it with imap_fetch_items.h).  A literal
 * inside the brackets is refused.  Elsewhere "[" is an ordinary atom
 * character.
 *
 * Strings: atoms are ASCII ATOM-CHARs (plus "]" as in astring); 8-bit
 * bytes are accepted in quoted strings and literals (UTF-8 for
 * IMAP4rev2 / UTF8=ACCEPT: the caller validates UTF-8 where it matters).
 * NUL is refused everywhere except in a literal8 ("~{N}", RFC 3516).
 * Numbers are atoms: use imap_arg_get_number*().
 *
 * Ownership: the parser owns everything until imap_parser_take(), which
 * detaches the command (tag, name, argument tree) into a struct
 * imap_command that the caller frees with imap_command_free(); the
 * argument pointers stay valid until then, on any thread.
 * Threads: a parser is used by one thread at a time.
 */
#ifndef POSTERN_IMAP_PARSER_H
#define POSTERN_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_EOL = 0, /* ends every argument array */
	IMAP_ARG_NIL,	  /* the atom NIL (case-insensitive) */
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL, /* {N} {N+} or ~{N} (literal8 set) */
	IMAP_ARG_LIST,	  /* ( ... ) */
	IMAP_ARG_STREAM,  /* a literal the engine stored itself */
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM, QUOTED, LITERAL: the (unescaped) text, NUL-terminated;
	 * len is its length (a literal8 may contain NUL bytes). */
	const char *str;
	size_t len;
	bool literal8;	   /* "~{N}" (LITERAL and STREAM) */
	bool literal_sync; /* LITERAL/STREAM: was synchronising "{N}" */
	/* LIST: `list` has list_count entries followed by an EOL entry. */
	const struct imap_arg *list;
	size_t list_count;
	/* STREAM: the engine's handle from imap_parser_literal_stream();
	 * len is the literal size. */
	void *stream;
};

/* A complete parsed command (see imap_parser_take). */
struct imap_command {
	const char *tag;
	const char *name;	     /* upper case, without "UID " */
	bool uid;		     /* "UID <name>" */
	const struct imap_arg *args; /* ends with IMAP_ARG_EOL */
	size_t arg_count;	     /* top level, EOL excluded */
};
void imap_command_free(struct imap_command **cmd);

struct imap_parser_limits {
	size_t max_line;      /* default 64 KiB */
	size_t max_command;   /* default 256 KiB */
	size_t max_literal;   /* default 64 KiB */
	uint64_t max_message; /* default 64 MiB */
	unsigned max_depth;   /* default 32 */
	unsigned max_args;    /* default 10000 */
};

struct imap_parser;

/* lim may be NULL for the defaults. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser **p);
/* Forget the command in progress (also frees streamed handles). */
void imap_parser_reset(struct imap_parser *p);

enum imap_parse_result {
	IMAP_PARSE_DONE,
	IMAP_PARSE_NEED_LITERAL,
	IMAP_PARSE_ERROR,
};

enum imap_parse_result imap_parser_feed_line(struct imap_parser *p,
					     const char *line, size_t len);

struct imap_literal_info {
	uint64_t size;
	bool sync;     /* "{N}": send "+ " before reading */
	bool literal8; /* "~{N}" */
	/* Over the limit (max_message for li.message, else max_literal or
	 * what is left of max_command): refuse, see above. */
	bool too_big;
	/* An APPEND message literal (top-level argument after the mailbox
	 * name of APPEND, or the literal after TEXT in a CATENATE list):
	 * may be streamed with imap_parser_literal_stream(). */
	bool message;
	/* The command already failed: feed the bytes, they are dropped. */
	bool discard;
	unsigned depth;	    /* list nesting where the literal sits */
	size_t arg_index;   /* index in its list (top level: after name) */
};
/* Valid after NEED_LITERAL. */
void imap_parser_literal_info(const struct imap_parser *p,
			      struct imap_literal_info *li);
/* Give literal bytes; returns how many were taken (stops at the end of
 * the literal).  When the literal is complete, feed the next line. */
size_t imap_parser_feed_literal(struct imap_parser *p, const void *data,
				size_t len);
/* Bytes of the current literal still expected. */
uint64_t imap_parser_literal_remaining(const struct imap_parser *p);
/*
 * The engine reads the current (message) literal itself; the argument
 * becomes IMAP_ARG_STREAM with `handle` and len = li.size.  free_fn (may
 * be NULL) is called on the handle by imap_command_free() or
 * imap_parser_reset()/free if the command is not taken.  The engine must
 * read the li.size bytes itself, then feed the next line.
 */
void imap_parser_literal_stream(struct imap_parser *p, void *handle,
				void (*free_fn)(void *handle));
/* Refuse the announced literal: returns IMAP_PARSE_ERROR with
 * error_code "TOOBIG". */
enum imap_parse_result imap_parser_literal_refuse(struct imap_parser *p);
/* The engine met a line longer than max_line: returns IMAP_PARSE_ERROR
 * with a text (the engine should then close or skip to the next LF). */
enum imap_parse_result imap_parser_line_too_long(struct imap_parser *p);

/* After DONE: the parsed command, detached; the parser is reset. */
struct imap_command *imap_parser_take(struct imap_parser *p);

/* After ERROR (or during a command): the tag if valid so far, else NULL. */
const char *imap_parser_tag(const struct imap_parser *p);
/* The command name once known (upper case, "UID" folded), else NULL. */
const char *imap_parser_command_name(const struct imap_parser *p);
const char *imap_parser_error(const struct imap_parser *p);
const char *imap_parser_error_code(const struct imap_parser *p);
/*
 * After ERROR: true when the client's byte stream cannot be followed any
 * more, so the engine must close the connection after the BAD reply: a
 * refused non-synchronising literal, a line over max_line, a
 * non-synchronising literal whose size does not parse.  (Replying BAD
 * and reading on would take the literal's bytes for commands: command
 * injection.)
 */
bool imap_parser_error_fatal(const struct imap_parser *p);

/*
 * One-shot: parse a complete argument string without literals (tests,
 * configuration, webmail) into a command-less argument array.  `fetch`
 * turns on the FETCH section atoms.  Returns NULL and a static/parser
 * error text in *error_r (a malloc'd copy: free it) on failure.  Free
 * the result with imap_command_free (tag and name are "").
 */
struct imap_command *imap_parse_args(const char *s, bool fetch,
				     char **error_r);

/* --- accessors: false when the argument is not of that kind --- */
bool imap_arg_is_eol(const struct imap_arg *a);
bool imap_arg_is_nil(const struct imap_arg *a);
bool imap_arg_is_atom(const struct imap_arg *a);
bool imap_arg_is_list(const struct imap_arg *a);
/* ATOM equal to `s`, ASCII case-insensitive. */
bool imap_arg_atom_equals(const struct imap_arg *a, const char *s);
bool imap_arg_get_atom(const struct imap_arg *a, const char **str_r);
/* QUOTED or LITERAL (not STREAM; not a literal8 holding NUL bytes). */
bool imap_arg_get_string(const struct imap_arg *a, const char **str_r);
/* ATOM, QUOTED or LITERAL (NIL counts as the atom "NIL"). */
bool imap_arg_get_astring(const struct imap_arg *a, const char **str_r);
/* string, or NIL giving *str_r = NULL. */
bool imap_arg_get_nstring(const struct imap_arg *a, const char **str_r);
/* Like get_astring plus the length; binary-safe, accepts a literal8
 * with NUL bytes. */
bool imap_arg_get_data(const struct imap_arg *a, const char **data_r,
		       size_t *len_r);
bool imap_arg_get_list(const struct imap_arg *a,
		       const struct imap_arg **list_r, size_t *count_r);
/* ATOM of digits: nz-number/number per RFC 3501 (no sign, no leading
 * junk, no overflow).  number = 0..2^32-1, number64 = 0..2^63-1. */
bool imap_arg_get_number(const struct imap_arg *a, uint32_t *n_r);
bool imap_arg_get_number64(const struct imap_arg *a, uint64_t *n_r);
/* Entries in an EOL-terminated array. */
size_t imap_args_count(const struct imap_arg *args);

/* Parse a decimal digit string of `len` bytes into at most `max`. */
bool imap_parse_number(const char *s, size_t len, uint64_t max,
		       uint64_t *n_r);

#endif
