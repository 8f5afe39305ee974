/*
 * milter_proto - the Sendmail milter protocol, version 6 (the one
 * libmilter 8.14+ and Postfix speak), MTA side: encoding commands,
 * framing and decoding the milter's replies.  No sockets: the caller
 * moves the bytes (mta/smtpd-milter*.c on the event loop).
 *
 * Wire form, both directions: a packet is
 *
 *     length (4 bytes, big-endian, counts the command byte) | cmd | data
 *
 * Strings in data are NUL-terminated; numbers are 4-byte big-endian.
 *
 * Decoding is bounds-checked: every string a decoded reply points to lies
 * inside the packet and ends with its own NUL there; a packet longer than
 * MILTER_PACKET_MAX, a zero length, or a reply whose fields do not fit is
 * an error (ERR_PERM): the MTA then treats the milter as failed
 * (milter_default_action), as Postfix does.
 *
 * Ownership: decoded replies borrow the packet bytes (valid until the
 * input buffer changes).  Threads: no shared state.
 */
#ifndef POSTERN_SMTP_MILTER_PROTO_H
#define POSTERN_SMTP_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

#define MILTER_VERSION 6
/* Largest packet we take from a milter (libmilter's biggest negotiated
 * chunk is 1 MB, SMFIP_MDS_1M, plus a little framing). */
#define MILTER_PACKET_MAX (1024 * 1024 + 64)
/* Body chunks we send: libmilter's default MILTER_MAX_DATA_SIZE. */
#define MILTER_CHUNK_MAX 65535

/* MTA -> milter commands (SMFIC_*). */
enum milter_cmd {
	MILTER_CMD_ABORT = 'A',
	MILTER_CMD_BODY = 'B',
	MILTER_CMD_CONNECT = 'C',
	MILTER_CMD_MACRO = 'D',
	MILTER_CMD_BODYEOB = 'E',
	MILTER_CMD_HELO = 'H',
	MILTER_CMD_QUIT_NC = 'K',
	MILTER_CMD_HEADER = 'L',
	MILTER_CMD_MAIL = 'M',
	MILTER_CMD_EOH = 'N',
	MILTER_CMD_OPTNEG = 'O',
	MILTER_CMD_QUIT = 'Q',
	MILTER_CMD_RCPT = 'R',
	MILTER_CMD_DATA = 'T',
	MILTER_CMD_UNKNOWN = 'U',
};

/* Milter -> MTA replies (SMFIR_*). */
enum milter_rep {
	MILTER_REP_ADDRCPT = '+',
	MILTER_REP_DELRCPT = '-',
	MILTER_REP_ADDRCPT_PAR = '2',
	MILTER_REP_SHUTDOWN = '4',
	MILTER_REP_ACCEPT = 'a',
	MILTER_REP_REPLBODY = 'b',
	MILTER_REP_CONTINUE = 'c',
	MILTER_REP_DISCARD = 'd',
	MILTER_REP_CHGFROM = 'e',
	MILTER_REP_CONN_FAIL = 'f',
	MILTER_REP_ADDHEADER = 'h',
	MILTER_REP_INSHEADER = 'i',
	MILTER_REP_SETSYMLIST = 'l',
	MILTER_REP_CHGHEADER = 'm',
	MILTER_REP_PROGRESS = 'p',
	MILTER_REP_QUARANTINE = 'q',
	MILTER_REP_REJECT = 'r',
	MILTER_REP_SKIP = 's',
	MILTER_REP_TEMPFAIL = 't',
	MILTER_REP_REPLYCODE = 'y',
	MILTER_REP_OPTNEG = 'O',
};

/* SMFIF_*: modifications a milter may ask for (optneg actions). */
#define MILTER_ACT_ADDHDRS 0x01u
#define MILTER_ACT_CHGBODY 0x02u
#define MILTER_ACT_ADDRCPT 0x04u
#define MILTER_ACT_DELRCPT 0x08u
#define MILTER_ACT_CHGHDRS 0x10u
#define MILTER_ACT_QUARANTINE 0x20u
#define MILTER_ACT_CHGFROM 0x40u
#define MILTER_ACT_ADDRCPT_PAR 0x80u
#define MILTER_ACT_SETSYMLIST 0x100u
#define MILTER_ACT_ALL 0x1ffu

/* SMFIP_*: protocol steps a milter does not want, or answers not. */
#define MILTER_P_NOCONNECT 0x1u
#define MILTER_P_NOHELO 0x2u
#define MILTER_P_NOMAIL 0x4u
#define MILTER_P_NORCPT 0x8u
#define MILTER_P_NOBODY 0x10u
#define MILTER_P_NOHDRS 0x20u
#define MILTER_P_NOEOH 0x40u
#define MILTER_P_NR_HDR 0x80u
#define MILTER_P_NOUNKNOWN 0x100u
#define MILTER_P_NODATA 0x200u
#define MILTER_P_SKIP 0x400u
#define MILTER_P_RCPT_REJ 0x800u
#define MILTER_P_NR_CONN 0x1000u
#define MILTER_P_NR_HELO 0x2000u
#define MILTER_P_NR_MAIL 0x4000u
#define MILTER_P_NR_RCPT 0x8000u
#define MILTER_P_NR_DATA 0x10000u
#define MILTER_P_NR_UNKN 0x20000u
#define MILTER_P_NR_EOH 0x40000u
#define MILTER_P_NR_BODY 0x80000u
#define MILTER_P_HDR_LEADSPC 0x100000u
/* What we offer: every step and every no-reply option. */
#define MILTER_P_ALL 0x1fffffu

/* Macro stages of SETSYMLIST (SMFIM_*). */
enum milter_stage {
	MILTER_STAGE_CONNECT = 0,
	MILTER_STAGE_HELO,
	MILTER_STAGE_MAIL,
	MILTER_STAGE_RCPT,
	MILTER_STAGE_DATA,
	MILTER_STAGE_EOM,
	MILTER_STAGE_EOH,
	MILTER_STAGES,
};

/* ---- Encoding (MTA -> milter): each appends one packet to out. */

void milter_put_optneg(struct buf *out, uint32_t version, uint32_t actions,
		       uint32_t protocol);
/* SMFIC_MACRO for command `cmd`: names[i] = values[i], n pairs. */
void milter_put_macros(struct buf *out, char cmd, const char *const *names,
		       const char *const *values, size_t n);
/* SMFIC_CONNECT: addr NULL is family unknown ('U'); an address with ':'
 * is IPv6 ('6'), one starting with '/' a unix socket ('L'), else '4'. */
void milter_put_connect(struct buf *out, const char *hostname,
			const char *addr, unsigned port);
void milter_put_helo(struct buf *out, const char *helo);
/* SMFIC_MAIL / SMFIC_RCPT: args[0] is "<address>", then ESMTP params. */
void milter_put_args(struct buf *out, char cmd, const char *const *args,
		     size_t n);
void milter_put_header(struct buf *out, const char *name, const char *value);
/* One SMFIC_BODY packet per MILTER_CHUNK_MAX bytes of data. */
void milter_put_body(struct buf *out, const void *data, size_t len);
/* A command without data: DATA, EOH, BODYEOB, ABORT, QUIT. */
void milter_put_cmd(struct buf *out, char cmd);

/* ---- Framing. */

/*
 * Take the next packet from data/len: 1 with *cmd_r, *payload_r
 * (borrowed), *plen_r and *used_r (bytes to consume); 0 when more is
 * needed; -1 with err for a zero or too long length.
 */
int milter_packet_get(const char *data, size_t len, char *cmd_r,
		      const char **payload_r, size_t *plen_r, size_t *used_r,
		      struct error *err);

/* ---- Decoding a reply. */

struct milter_reply {
	char cmd; /* enum milter_rep */
	/* OPTNEG */
	uint32_t version, actions, protocol;
	const char *symlist[MILTER_STAGES]; /* NULL: not set */
	/* REPLYCODE: code (400..599), the whole text as sent (one or more
	 * "ddd[- ]x.x.x text" lines joined by CRLF), no CRLF at the end */
	unsigned code;
	const char *text;
	/* CHGHEADER, INSHEADER: index; ADDHEADER too: name, value */
	uint32_t index;
	const char *name, *value;
	/* ADDRCPT(_PAR), DELRCPT, CHGFROM: addr, args (NULL: none);
	 * QUARANTINE: addr is the reason */
	const char *addr, *args;
	/* REPLBODY: a chunk (not NUL-terminated) */
	const char *data;
	size_t len;
};

/*
 * Decode packet (cmd, payload, plen) into *r.  0, or -1 with err
 * (ERR_PERM) for an unknown reply, missing NULs, a REPLYCODE whose code
 * is not 4xx/5xx or whose lines do not all carry the same code, or an
 * empty header name.
 */
int milter_reply_decode(char cmd, const char *payload, size_t plen,
			struct milter_reply *r, struct error *err);
/* "reject", "addheader", ...: for logs. */
const char *milter_reply_name(char cmd);
/*
 * True for the replies that edit the message or its envelope (ADDHEADER,
 * CHGHEADER, INSHEADER, ADDRCPT(_PAR), DELRCPT, REPLBODY, CHGFROM,
 * QUARANTINE): allowed only as answers to end of message, kept and
 * applied once the milter has given its verdict.
 */
bool milter_reply_is_mod(char cmd);
/* The action (MILTER_ACT_*) a milter must have negotiated to send the
 * modification cmd; 0 for a reply that is none. */
uint32_t milter_reply_action(char cmd);
/* An address of ADDRCPT, DELRCPT or CHGFROM without its <> (if it has
 * both); the caller frees it. */
char *milter_addr_strip(const char *addr);

#endif
