/*
 * io - a buffered, TLS-capable connection on the event loop (in the spirit
 * of OpenSMTPD's ioev).
 *
 * An io owns its fd (closed by io_free) and two struct buf: input read from
 * the peer and output waiting to be written.  The owner gets every event
 * through one callback, cb(io, event, ctx):
 *
 *   IO_DATAIN        new input is buffered: call io_getline() /
 *                    io_read_bytes() until they return 0.  If the callback
 *                    leaves input unread (because it paused, or awaits a
 *                    worker result), io_resume() redelivers IO_DATAIN.
 *   IO_LOWAT         the output buffer drained to empty.
 *   IO_TIMEOUT       no read or write progress for the io_set_timeout()
 *                    period (or the TLS handshake did not finish in time).
 *   IO_DISCONNECTED  the peer closed the connection (EOF, or TLS
 *                    close_notify), or an io_close() has completed.
 *   IO_ERROR         a socket or TLS error, text in io_error().
 *   IO_TLSREADY      the TLS handshake completed; io_tls_*() now answer.
 *   IO_CONNECTED     an outbound connect (io_new_connect) completed.
 *
 * After IO_TIMEOUT, IO_DISCONNECTED or IO_ERROR the io delivers nothing
 * more: the owner normally calls io_free() from the callback (allowed; the
 * io is released once the callback returns).
 *
 * Lines: io_getline() accepts CRLF or bare LF endings and strips them.  A
 * line longer than the maximum (io_set_max_line, default 4096 bytes
 * without the ending) is reported once as IO_LINE_TOO_LONG; the rest of
 * that line, up to and including its LF, is then discarded by the io, so
 * the protocol resynchronises on the next line (RFC 5321 4.5.3.1.4 500
 * "line too long").
 *
 * STARTTLS (io_start_tls_server): any input already buffered when it is
 * called is DISCARDED and never handed to the caller, the plaintext
 * injection fix for CVE-2011-0411 and its kin (RFC 3207 section 4.2: the
 * server MUST discard knowledge obtained from the client before TLS).  The
 * caller calls it right after reading the STARTTLS line and writing its
 * 220 answer (the 220 is flushed in plaintext first); anything the client
 * pipelined after the STARTTLS command is dropped.
 *
 * Threads: loop thread only.
 *
 * SIGPIPE: the first io_new() sets SIGPIPE to SIG_IGN for the process,
 * because OpenSSL writes with write(2) and cannot ask for MSG_NOSIGNAL; a
 * vanished peer then shows up as IO_ERROR instead of killing the daemon.
 */
#ifndef POSTERN_IO_H
#define POSTERN_IO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

struct ev;
struct io;
struct tls_ctx;

enum io_event {
	IO_DATAIN,
	IO_LOWAT,
	IO_TIMEOUT,
	IO_DISCONNECTED,
	IO_ERROR,
	IO_TLSREADY,
	IO_CONNECTED,
};

typedef void io_callback_fn(struct io *io, enum io_event event, void *ctx);

/* Wrap a connected, non-blocking fd (ownership passes to the io). */
struct io *io_new(struct ev *ev, int fd, io_callback_fn *cb, void *ctx);
/* Wrap an fd whose connect is in progress (net_connect*); IO_CONNECTED or
 * IO_ERROR follows. */
struct io *io_new_connect(struct ev *ev, int fd, io_callback_fn *cb, void *ctx);
/* Close the fd at once, drop buffered output, free; NULLs *io.  No
 * callback is called afterwards. */
void io_free(struct io **io);

void io_set_callback(struct io *io, io_callback_fn *cb, void *ctx);
int io_fd(const struct io *io);
/* Text of the last IO_ERROR ("" if none); valid until io_free. */
const char *io_error(const struct io *io);
const char *io_event_name(enum io_event event);

/* Idle timeout in ms (0: none), restarted by every read or write. */
void io_set_timeout(struct io *io, int64_t ms);
/* Limit for TLS handshakes (default 30000 ms); IO_TIMEOUT when exceeded. */
void io_set_handshake_timeout(struct io *io, int64_t ms);
void io_set_max_line(struct io *io, size_t max);

/* Stop / restart reading (output still flows).  io_resume redelivers
 * IO_DATAIN on the next iteration when input is already buffered. */
void io_pause(struct io *io);
void io_resume(struct io *io);

enum io_line_result {
	IO_LINE_NONE = 0,     /* no complete line buffered yet */
	IO_LINE_OK = 1,	      /* *line_r holds one line */
	IO_LINE_TOO_LONG = -1 /* a line exceeded the maximum, see above */
};
/*
 * Take the next line out of the input buffer.  *line_r is NUL-terminated
 * without its CRLF/LF, *len_r (may be NULL) its length; it may contain NUL
 * bytes.  Borrowed: valid until the next io_getline() or io_free().
 */
enum io_line_result io_getline(struct io *io, char **line_r, size_t *len_r);
/* Move up to `max` buffered input bytes to the end of out (BDAT chunks,
 * IMAP literals); returns how many were moved (0: none buffered). */
size_t io_read_bytes(struct io *io, struct buf *out, size_t max);
/*
 * Look at the buffered input without taking it (a DATA reader decides how
 * much is message and how much is the next pipelined command), then take
 * the first n bytes with io_consume().  The pointer is borrowed until the
 * next call on the io.
 */
const char *io_peek(const struct io *io, size_t *len_r);
void io_consume(struct io *io, size_t n);
/* Bytes of input buffered and not yet taken. */
size_t io_inbuf_len(const struct io *io);

/* Queue output; it is written as the socket allows.  Never fails: a dead
 * peer shows up later as IO_ERROR or IO_DISCONNECTED. */
void io_write(struct io *io, const void *data, size_t len);
void io_print(struct io *io, const char *s);
void io_printf(struct io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void io_vprintf(struct io *io, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Bytes of output queued and not yet written. */
size_t io_outbuf_len(const struct io *io);
/*
 * COMPRESS=DEFLATE (RFC 4978): from now on input is inflated and output
 * deflated (raw deflate, a sync flush per write burst).  Output already
 * queued (the OK of the COMPRESS command) is sent uncompressed first.
 * -1 with err when zlib refuses or compression is already on.
 */
int io_start_deflate(struct io *io, struct error *err);
bool io_deflate_active(const struct io *io);
/* Give back the memory of empty input/output buffers that grew (an idle
 * connection after a big transfer; thousands of idle IMAP sessions). */
void io_trim(struct io *io);

/*
 * Graceful close: stop reading, flush queued output (plus a TLS
 * close_notify), then shut the fd and deliver IO_DISCONNECTED.  After
 * io_close() the only event the owner gets is IO_DISCONNECTED (also on
 * timeout or error while flushing), so there is one place to io_free().
 */
void io_close(struct io *io);

/*
 * TLS.  Each returns -1 with err if the handshake cannot even start (the
 * io already uses TLS, or OpenSSL refuses the SSL object); otherwise the
 * handshake runs on the loop and ends with IO_TLSREADY, IO_ERROR or
 * IO_TIMEOUT.  Reading is suspended until IO_TLSREADY.
 *
 * io_start_tls_server: STARTTLS; DISCARDS buffered input (see above).
 * Queued output (the 220 answer) is flushed in plaintext first.
 */
int io_start_tls_server(struct io *io, struct tls_ctx *ctx, struct error *err);
/* Implicit TLS listener: handshake before the first byte. */
int io_accept_tls(struct io *io, struct tls_ctx *ctx, struct error *err);
/* Client side; servername (may be NULL) goes into SNI and, with a
 * verifying context, is the name checked against the certificate. */
int io_connect_tls(struct io *io, struct tls_ctx *ctx, const char *servername,
		   struct error *err);

bool io_tls_active(const struct io *io);
/* Of a connection after IO_TLSREADY, NULL / 0 before: "TLSv1.3",
 * "TLS_AES_256_GCM_SHA384", 256.  Borrowed (static strings of OpenSSL). */
const char *io_tls_protocol(const struct io *io);
const char *io_tls_cipher(const struct io *io);
int io_tls_cipher_bits(const struct io *io);
/* For Received headers: "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384
 * (256/256 bits)" appended to out; nothing when not using TLS. */
void io_tls_describe(const struct io *io, struct buf *out);
/* Client side: did the peer certificate verify (chain and name)? */
bool io_tls_peer_verified(const struct io *io);

/*
 * Outbound STARTTLS (tls_client.c), after the server's 220 to STARTTLS,
 * with a context from tls_client_ctx_new().  Buffered input is DISCARDED
 * (RFC 3207 4.2: nothing the server sent before TLS counts).
 *   sni           host name sent in SNI (NULL, or an address: none);
 *   names         the names the certificate must match, RFC 6125 as
 *                 OpenSSL's X509_check_host (no partial wildcards; a
 *                 name ".example" matches any subdomain; an IP address
 *                 matches an IP subjectAltName); none: no check;
 *   tlsa          DANE records (RFC 7672): only usages 2 (DANE-TA) and 3
 *                 (DANE-EE) are used, 0 and 1 are ignored; dane_base is
 *                 the TLSA base domain, the name DANE-TA certificates
 *                 must match (DANE-EE skips name checks, RFC 7672 3.1.1);
 *   session_key   the client session cache key ("host:port" plus whatever
 *                 makes the policy distinct); NULL: no resumption;
 *   min_version,  TLS versions of this connection as on the wire (0x0303
 *   max_version   TLS 1.2, 0x0304 TLS 1.3), set on its SSL, never below
 *                 the context's floor; 0: the context's;
 *   ciphers       the TLS 1.2 cipher list of this connection (OpenSSL
 *                 syntax); NULL: the context's.  A list that matches no
 *                 cipher is an error (ERR_CONFIG) before any handshake.
 * The strings are copied.  Ends in IO_TLSREADY / IO_ERROR / IO_TIMEOUT.
 */
struct tls_tlsa {
	uint8_t usage, selector, mtype;
	const uint8_t *data;
	size_t len;
};
struct tls_client_params {
	const char *sni;
	const char *const *names;
	size_t nnames;
	const struct tls_tlsa *tlsa;
	size_t ntlsa;
	const char *dane_base;
	const char *session_key;
	int min_version, max_version;
	const char *ciphers;
};
int io_start_tls_client(struct io *io, struct tls_ctx *ctx,
			const struct tls_client_params *params,
			struct error *err);

/* What the peer certificate proved, in Postfix's log words
 * (smtp_tls_loglevel 1): Anonymous (no certificate), Untrusted (the chain
 * does not verify), Trusted (the chain verifies, no name matched or none
 * was asked), Verified (chain and name, or a DANE match). */
enum tls_trust {
	TLS_TRUST_ANONYMOUS,
	TLS_TRUST_UNTRUSTED,
	TLS_TRUST_TRUSTED,
	TLS_TRUST_VERIFIED,
};
/* Of a client connection after IO_TLSREADY (resumed sessions keep the
 * trust of the handshake that made them). */
enum tls_trust io_tls_trust(const struct io *io);
const char *tls_trust_name(enum tls_trust trust);
/* The peer was authenticated by a TLSA record. */
bool io_tls_dane_matched(const struct io *io);
/* The session was resumed from the client cache. */
bool io_tls_reused(const struct io *io);
/* Why the peer did not verify ("certificate verify failed: ..."), "" if
 * it did; valid until io_free. */
const char *io_tls_verify_error(const struct io *io);
/* Append 'CN=<subject CN>, issuer=<issuer CN>' of the peer certificate
 * to out (nothing without one). */
void io_tls_peer_names(const struct io *io, struct buf *out);

/*
 * The client certificate a server-side connection got (tls_ccert.c,
 * after IO_TLSREADY; nothing before or without one).  io_tls_peer_verified
 * says whether it verified against the context's client CAs.
 *   io_tls_peer_cert         one was presented;
 *   io_tls_peer_fingerprint  digest ("sha256", ...) of the certificate
 *                            (pkey false) or of its public key (true,
 *                            Postfix's pkey_fingerprint), appended as
 *                            tls_fingerprint_format; -1: no certificate
 *                            or unknown digest;
 *   io_tls_peer_subject_cn / _issuer_cn  appended (nothing if none);
 *   io_tls_peer_verify_text  "verified OK", "no certificate" or
 *                            OpenSSL's reason (static strings).
 */
bool io_tls_peer_cert(const struct io *io);
int io_tls_peer_fingerprint(const struct io *io, const char *digest, bool pkey,
			    struct buf *out);
void io_tls_peer_subject_cn(const struct io *io, struct buf *out);
void io_tls_peer_issuer_cn(const struct io *io, struct buf *out);
const char *io_tls_peer_verify_text(const struct io *io);

#endif
