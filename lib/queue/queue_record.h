/*
 * queue_record - the on-disk record format of the queue (docs/queue.md).
 *
 * Every record is self-describing: a 16-byte header (magic, payload
 * length, type, CRC32C over everything after the magic) and a payload.
 * A torn or corrupt record fails the length or CRC check and is never
 * taken for a message.  Payloads are TLV fields (tag u8, length u32 LE,
 * value), so fields can be added later; unknown tags are skipped.
 *
 * The decoders take untrusted bytes (a file after a crash or an attack on
 * the queue folder): they check every length, refuse NUL bytes inside
 * strings and ids that are not [0-9A-Za-z] (ids become file names), and
 * return -1 with ERR_PERM on anything malformed.  They are the target of
 * tests/fuzz/fuzz_queue_record.c.
 */
#ifndef POSTERN_QUEUE_RECORD_H
#define POSTERN_QUEUE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "queue/queue.h"

#define QREC_MAGIC 0x31525150u /* "PQR1" little-endian */
#define QREC_HDR_SIZE 16
#define QREC_MAX_PAYLOAD (1u << 30)
#define QREC_MAX_RCPTS 100000

enum qrec_type {
	QREC_MSG = 1,  /* u32 envelope length, envelope TLV, body */
	QREC_RCPT = 2, /* a recipient status change (TLV) */
	QREC_DONE = 3, /* the message left the log: delivered or moved out */
	QREC_ENV = 4,  /* envelope alone: a message's own file */
};

uint32_t qrec_crc32c(uint32_t crc, const void *data, size_t len);

/* Append a complete record (header + payload) to out. */
void qrec_append(struct buf *out, enum qrec_type type, const void *payload,
		 size_t len);
/* Append a QREC_MSG record: header, envelope, then the body bytes. */
void qrec_append_msg(struct buf *out, const struct queue_env *env,
		     const void *body, size_t body_len);

/*
 * Parse the record at data[0..len).  Returns 1 with *type_r, the payload
 * (borrowed, inside data) and *total_r (header + payload bytes); 0 if the
 * bytes end before the record does (a torn tail); -1 with err if the
 * header or the CRC is bad.
 */
int qrec_parse(const void *data, size_t len, enum qrec_type *type_r,
	       const unsigned char **payload_r, size_t *plen_r, size_t *total_r,
	       struct error *err);

/* Envelope TLV. */
void qrec_env_encode(struct buf *out, const struct queue_env *env);
int qrec_env_decode(const void *data, size_t len, struct queue_env *env,
		    struct error *err);
/* Split a QREC_MSG payload into its envelope and body. */
int qrec_msg_decode(const void *payload, size_t len, struct queue_env *env,
		    size_t *body_off_r, size_t *body_len_r, struct error *err);

struct qrec_status {
	char id[QUEUE_ID_MAX];
	uint32_t rcpt;
	enum queue_rcpt_status status;
	int64_t next_retry;
	char *reply; /* malloc'd or NULL; caller frees */
};
void qrec_status_encode(struct buf *out, const struct qrec_status *st);
int qrec_status_decode(const void *data, size_t len, struct qrec_status *st,
		       struct error *err);
void qrec_done_encode(struct buf *out, const char *id);
int qrec_done_decode(const void *data, size_t len, char id[QUEUE_ID_MAX],
		     struct error *err);

/* True if id is 1..QUEUE_ID_MAX-1 characters of [0-9A-Za-z]. */
int queue_id_valid(const char *id);
/* A new unique id (Postfix's long form idea: time + sequence, base 62). */
void queue_id_new(char id[QUEUE_ID_MAX]);

#endif
