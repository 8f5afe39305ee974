/*
 * bounce - delivery status notifications (RFC 3464) for recipients that
 * failed for good, in the shape Postfix's bounce daemon sends: a
 * multipart/report with a human-readable part, the message/delivery-status
 * part, and the original message's headers (text/rfc822-headers), or the
 * whole original (message/rfc822) when the sender asked for RET=FULL.
 * delay_build() writes the "delayed" notice of $delay_warning_time in the
 * same shape (Action: delayed, the original's headers only), as
 * Postfix's "Delayed Mail (still being retried)".
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/timeutil.h"

#include "queued.h"

size_t bounce_header_len(const char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (msg[i] != '\n')
			continue;
		if (i + 1 < len && msg[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* An address type for Final-Recipient: utf-8 when it is not ASCII
 * (RFC 6533), else rfc822. */
static const char *addr_type(const char *addr)
{
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p >= 0x80)
			return "utf-8";
	return "rfc822";
}

/* until: for a delay notice, when the mail is given up (wall seconds);
 * 0 for a bounce. */
static void report_build(struct buf *out, const struct queue_env *env,
			 const struct bounce_rcpt *rcpts, size_t n,
			 const struct buf *original, const char *myhostname,
			 int64_t now, int64_t until, const char *to, bool copy)
{
	char date[64], arrival[64], boundary[96], until_date[64];
	const char *msg = buf_data(original);
	size_t hlen = bounce_header_len(msg, buf_len(original));
	bool delayed = until != 0;
	bool full = env->ret == QUEUE_RET_FULL && !delayed && !copy;

	time_format_rfc5322((time_t)now, date, sizeof(date));
	time_format_rfc5322((time_t)(env->arrival / 1000), arrival,
			    sizeof(arrival));
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", env->id,
		 (long long)now, myhostname);

	buf_printf(out,
		   "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n"
		   "To: %s\r\n"
		   "Subject: %s%s\r\n"
		   "Date: %s\r\n"
		   "Message-ID: <%s.bounce.%lld@%s>\r\n"
		   "Auto-Submitted: auto-replied\r\n"
		   "MIME-Version: 1.0\r\n"
		   "Content-Type: multipart/report; "
		   "report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n"
		   "Content-Transfer-Encoding: 8bit\r\n"
		   "\r\n"
		   "This is a MIME-encapsulated message.\r\n"
		   "\r\n",
		   myhostname, to != NULL ? to : env->sender,
		   copy ? "Postmaster Copy: " : "",
		   delayed ? "Delayed Mail (still being retried)"
			   : "Undelivered Mail Returned to Sender",
		   date, env->id, (long long)now, myhostname, boundary);

	/* Part 1: for people. */
	buf_printf(out,
		   "--%s\r\n"
		   "Content-Description: %s\r\n"
		   "Content-Type: text/plain; charset=utf-8\r\n"
		   "\r\n"
		   "This is the mail system at host %s.\r\n"
		   "\r\n",
		   boundary, delayed ? "Notification of delayed delivery"
				     : "Notification",
		   myhostname);
	if (delayed) {
		time_format_rfc5322((time_t)until, until_date,
				    sizeof(until_date));
		buf_printf(out,
			   "####################################################"
			   "################\r\n"
			   "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO "
			   "RESEND YOUR MESSAGE. #\r\n"
			   "####################################################"
			   "################\r\n"
			   "\r\n"
			   "Your message could not be delivered for %lld "
			   "minute(s).\r\n"
			   "It will be retried until %s.\r\n"
			   "\r\n",
			   (long long)((now - env->arrival / 1000) / 60),
			   until_date);
	} else {
		buf_append_str(out,
			       "I'm sorry to have to inform you that your "
			       "message could not\r\n"
			       "be delivered to one or more recipients. It's "
			       "attached below.\r\n"
			       "\r\n");
	}
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "<%s>: %s\r\n", rcpts[i].rcpt->addr,
			   rcpts[i].reason);
	buf_append_str(out, "\r\n");

	/* Part 2: for programs (RFC 3464 2.2 and 2.3). */
	buf_printf(out,
		   "--%s\r\n"
		   "Content-Description: Delivery report\r\n"
		   "Content-Type: message/delivery-status\r\n"
		   "\r\n"
		   "Reporting-MTA: dns; %s\r\n"
		   "X-Postern-Queue-ID: %s\r\n",
		   boundary, myhostname, env->id);
	if (env->envid != NULL)
		buf_printf(out, "Original-Envelope-Id: %s\r\n", env->envid);
	buf_printf(out,
		   "X-Postern-Sender: rfc822; %s\r\n"
		   "Arrival-Date: %s\r\n",
		   env->sender, arrival);
	for (size_t i = 0; i < n; i++) {
		const struct queue_rcpt *r = rcpts[i].rcpt;

		buf_append_str(out, "\r\n");
		buf_printf(out, "Final-Recipient: %s; %s\r\n",
			   addr_type(r->addr), r->addr);
		if (r->orcpt != NULL)
			buf_printf(out, "Original-Recipient: %s\r\n", r->orcpt);
		buf_printf(out,
			   "Action: %s\r\n"
			   "Status: %s\r\n"
			   "Diagnostic-Code: smtp; %s\r\n",
			   delayed ? "delayed" : "failed", rcpts[i].dsn,
			   rcpts[i].reason);
		if (delayed)
			buf_printf(out, "Will-Retry-Until: %s\r\n",
				   until_date);
	}
	buf_append_str(out, "\r\n");

	/* Part 3: what was sent. */
	buf_printf(out,
		   "--%s\r\n"
		   "Content-Description: %s\r\n"
		   "Content-Type: %s\r\n"
		   "\r\n",
		   boundary,
		   full      ? "Undelivered Message"
		   : delayed ? "Delayed Message Headers"
			     : "Undelivered Message Headers",
		   full ? "message/rfc822" : "text/rfc822-headers");
	buf_append(out, msg, full ? buf_len(original) : hlen);
	if (buf_len(out) < 2 ||
	    memcmp(buf_data(out) + buf_len(out) - 2, "\r\n", 2) != 0)
		buf_append_str(out, "\r\n");
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}

void bounce_build(struct buf *out, const struct queue_env *env,
		  const struct bounce_rcpt *rcpts, size_t n,
		  const struct buf *original, const char *myhostname,
		  int64_t now)
{
	report_build(out, env, rcpts, n, original, myhostname, now, 0, NULL,
		     false);
}

void delay_build(struct buf *out, const struct queue_env *env,
		 const struct bounce_rcpt *rcpts, size_t n,
		 const struct buf *original, const char *myhostname,
		 int64_t now, int64_t until)
{
	report_build(out, env, rcpts, n, original, myhostname, now,
		     until > 0 ? until : 1, NULL, false);
}

void notice_copy_build(struct buf *out, const struct queue_env *env,
		       const struct bounce_rcpt *rcpts, size_t n,
		       const struct buf *original, const char *myhostname,
		       int64_t now, int64_t until, const char *to)
{
	report_build(out, env, rcpts, n, original, myhostname, now,
		     until < 0 ? 0 : until > 0 ? until : 0, to, true);
}
