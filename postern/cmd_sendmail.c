/*
 * cmd_sendmail - postern sendmail [-t] [-i] [-oi] [-f sender] [-F name]
 * [-oX...] [--] [rcpt ...]: the sendmail command line that cron, PHP's
 * mail() and scripts expect, in the role of Postfix's sendmail + postdrop.
 *
 * The message (rewritten by sendmail_msg.c) and its envelope are written
 * as queue-socket records (queue/submit.h: B F R... D... C) into ONE file
 * of $maildrop_directory ($queue_directory/maildrop): a temporary ".NAME"
 * created O_EXCL, fsync'd, renamed to NAME, and the folder fsync'd.  Exit 0
 * only after that; EX_TEMPFAIL (75) when any step fails, so the caller keeps
 * the mail.  Nothing needs postern-queued to be running: its pickup
 * (queued/pickup.c) takes the file in when it starts.
 *
 * Invoked through a link whose name is "sendmail" (main.c), the command
 * line is sendmail's own; the configuration folder then comes from
 * -C DIR, else $POSTERN_CONFIG_DIR, else postern's -c default.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "postern.h"
#include "queue/submit.h"
#include "queue/submit_milter.h"
#include "rewrite/rewrite.h"
#include "sendmail_msg.h"

/* sysexits.h values, spelled out as the sendmail interface defines them. */
#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_NOUSER 67
#define EX_TEMPFAIL 75

static const char usage[] =
    "usage: postern sendmail [-t] [-i] [-oi] [-f SENDER] [-F NAME]\n"
    "                        [-C CONFIG_DIR] [-oX...] [--] [RCPT...]\n"
    "\n"
    "Read a message on standard input and queue it for delivery, as\n"
    "sendmail does.  Input ends at EOF, or at a line holding a lone \".\"\n"
    "unless -i or -oi is given.\n"
    "  -t        also send to the To, Cc and Bcc addresses of the message\n"
    "            (Bcc is always removed from the message)\n"
    "  -f ADDR   envelope sender (Return-Path); default USER@$myhostname\n"
    "  -F NAME   full name for a From header added when there is none\n"
    "  -oX, -v, -bm, -B, -N, -R, -V   accepted and ignored\n"
    "The message goes to $queue_directory/maildrop, where postern-queued\n"
    "picks it up; it waits there when the mail system is stopped.\n"
    "Exit status 0: safely on disk; 75: try again later.\n";

struct sm_args {
	bool t, i;
	const char *from, *full_name, *config_dir;
	char **rcpts;
	int nrcpts;
};

/* The value of -fX / -f X; NULL (after a message) when missing. */
static const char *opt_value(int argc, char **argv, int *i)
{
	if (argv[*i][2] != '\0')
		return argv[*i] + 2;
	if (*i + 1 >= argc) {
		cli_error("sendmail: option %s needs a value", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static int parse_args(int argc, char **argv, struct sm_args *a)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const char *o = argv[i];

		if (strcmp(o, "--") == 0) {
			i++;
			break;
		}
		switch (o[1]) {
		case 't':
			if (o[2] != '\0')
				goto bad;
			a->t = true;
			break;
		case 'i':
			if (o[2] != '\0')
				goto bad;
			a->i = true;
			break;
		case 'o':
			/* -oi is -i; every other -oX is a sendmail.cf option
			 * that has no meaning here (Postfix ignores them). */
			if (strcmp(o, "-oi") == 0)
				a->i = true;
			break;
		case 'f':
			if ((a->from = opt_value(argc, argv, &i)) == NULL)
				return -1;
			break;
		case 'F':
			if ((a->full_name = opt_value(argc, argv, &i)) == NULL)
				return -1;
			break;
		case 'C':
			if ((a->config_dir = opt_value(argc, argv, &i)) == NULL)
				return -1;
			break;
		case 'B':
		case 'N':
		case 'R':
		case 'V':
			/* Body type, DSN notify, return, envid: ignored. */
			if (opt_value(argc, argv, &i) == NULL)
				return -1;
			break;
		case 'v':
			break;
		case 'b':
			if (strcmp(o, "-bm") == 0)
				break;
			cli_error("sendmail: mode %s is not supported (only "
				  "-bm; see postern queue for -bp)",
				  o);
			return -1;
		default:
			goto bad;
		}
	}
	a->rcpts = argv + i;
	a->nrcpts = argc - i;
	return 0;
bad:
	cli_error("sendmail: unknown option \"%s\" (see --help)", argv[i]);
	return -1;
}

/* A name nobody else picks: time, pid and 64 random bits. */
static char *unique_name(void)
{
	struct timeval tv;
	uint64_t r = 0;

	gettimeofday(&tv, NULL);
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r ^= (uint64_t)tv.tv_usec << 20 ^ (uint64_t)getpid();
	return xasprintf("%llx%05lx.%ld.%016llx", (unsigned long long)tv.tv_sec,
			 (long)tv.tv_usec, (long)getpid(),
			 (unsigned long long)r);
}

static int read_all(FILE *in, struct buf *out, uint64_t limit)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
		buf_append(out, chunk, n);
		if (limit > 0 && buf_len(out) > limit) {
			cli_error("sendmail: message too large (over %llu "
				  "bytes, message_size_limit)",
				  (unsigned long long)limit);
			return EX_DATAERR;
		}
	}
	if (ferror(in)) {
		cli_error("sendmail: read error on standard input: %s",
			  strerror(errno));
		return EX_TEMPFAIL;
	}
	return 0;
}

/*
 * The maildrop folder: mode 1733 (anyone may drop, nobody but its owner
 * may list or take another's file), as Postfix's maildrop is writable
 * for postdrop.  Created here too, so mail can wait before the first
 * start of postern-queued.
 */
static int maildrop_dir(const char *path, char **dir_r)
{
	struct error err = {0};
	char *dir = xstrdup(path);
	char *parent = fs_dirname(dir);

	if (!fs_exists(dir)) {
		if (fs_mkdir_p(parent, 0700, &err) < 0 ||
		    ((mkdir(dir, 01733) < 0 && errno != EEXIST) ||
		     chmod(dir, 01733) < 0)) {
			cli_error("sendmail: cannot create %s: %s", dir,
				  err.kind != ERR_NONE ? err.msg
						       : strerror(errno));
			free(dir);
			free(parent);
			return -1;
		}
	}
	free(parent);
	*dir_r = dir;
	return 0;
}

/* Write data as dir/NAME via dir/.NAME, durably; 0 or -1 (said why). */
static int drop_file(const char *dir, const char *name, const struct buf *data)
{
	char *tmp = xasprintf("%s/.%s", dir, name);
	char *path = xasprintf("%s/%s", dir, name);
	const char *p = buf_data(data);
	size_t left = buf_len(data);
	struct error err;
	int fd, ret = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0) {
		cli_error("sendmail: create %s: %s", tmp, strerror(errno));
		goto out;
	}
	while (left > 0) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error("sendmail: write %s: %s", tmp,
				  strerror(errno));
			goto fail;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		cli_error("sendmail: fsync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		cli_error("sendmail: close %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		cli_error("sendmail: rename %s: %s", path, strerror(errno));
		goto fail;
	}
	/* The rename is what pickup sees; it must survive a crash before
	 * we say 0. */
	if (fs_fsync_dir(dir, &err) < 0) {
		cli_error("sendmail: %s", err.msg);
		/* The file may be picked up anyway: at least once. */
		goto out;
	}
	ret = 0;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	free(path);
	return ret;
}

static char *default_sender(const char *myhostname)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw != NULL && pw->pw_name[0] != '\0')
		return xasprintf("%s@%s", pw->pw_name, myhostname);
	return xasprintf("uid%ld@%s", (long)getuid(), myhostname);
}

static void encode(struct buf *rec, const char *sender,
		   const struct array *rcpts, const struct buf *msg)
{
	submit_rec_put_str(rec, SUBMIT_REC_BEGIN, SUBMIT_PROTO_VERSION);
	submit_rec_put_str(rec, SUBMIT_REC_SENDER, sender);
	for (size_t k = 0; k < array_len(rcpts); k++) {
		struct submit_rcpt r = {.addr = array_get(rcpts, k)};

		submit_rcpt_encode(rec, &r);
	}
	for (size_t off = 0; off < buf_len(msg); off += 65536) {
		size_t n = buf_len(msg) - off;

		submit_rec_put(rec, SUBMIT_REC_DATA, buf_data(msg) + off,
			       n > 65536 ? 65536 : n);
	}
	submit_rec_put(rec, SUBMIT_REC_COMMIT, "", 0);
}

int cmd_sendmail(struct cli *cli, int argc, char **argv)
{
	struct sm_args a = {0};
	struct conf *conf;
	const char *myhostname;
	struct buf *in = NULL, *msg = NULL, *rec = NULL, *sender = NULL;
	struct buf *origin = NULL;
	struct array *rcpts = NULL;
	char *unique = NULL, *dir = NULL, *defsender = NULL;
	struct sendmail_opts o;
	struct error err;
	int ret = EX_TEMPFAIL;

	if (cli_help(argc, argv, usage))
		return 0;
	if (parse_args(argc, argv, &a) < 0)
		return EX_USAGE;
	if (a.config_dir != NULL)
		cli->config_dir = a.config_dir;
	else if (getenv("POSTERN_CONFIG_DIR") != NULL &&
		 strcmp(cli->config_dir, "./var") == 0)
		cli->config_dir = getenv("POSTERN_CONFIG_DIR");
	if ((conf = cli_conf(cli)) == NULL)
		return EX_TEMPFAIL;
	/* Bare names are qualified with $myorigin, as Postfix's cleanup
	 * does for sendmail (docs/rewriting.md). */
	origin = buf_new();
	rewrite_conf_myorigin(conf, origin);
	myhostname = buf_data(origin);

	sender = buf_new();
	if (a.from != NULL) {
		if (sendmail_qualify(a.from, myhostname, sender, &err) < 0) {
			cli_error("sendmail: bad sender: %s", err.msg);
			ret = EX_USAGE;
			goto out;
		}
	} else {
		defsender = default_sender(myhostname);
		buf_set_str(sender, defsender);
	}
	rcpts = array_new();
	for (int k = 0; k < a.nrcpts; k++) {
		struct buf *r = buf_new();

		if (sendmail_qualify(a.rcpts[k], myhostname, r, &err) < 0) {
			cli_error("sendmail: bad recipient: %s", err.msg);
			buf_free(&r);
			ret = EX_NOUSER;
			goto out;
		}
		if (buf_len(r) > 0)
			array_push(rcpts, buf_steal(r));
		buf_free(&r);
	}

	in = buf_new();
	if ((ret = read_all(stdin, in,
			    (uint64_t)conf_size(conf, "message_size_limit"))) !=
	    0)
		goto out;
	unique = unique_name();
	o = (struct sendmail_opts){
	    .ignore_dots = a.i,
	    .extract_rcpts = a.t,
	    .sender = buf_data(sender),
	    .full_name = a.full_name,
	    .myhostname = myhostname,
	    .now = (int64_t)time(NULL),
	    .unique = unique,
	};
	msg = buf_new();
	if (sendmail_msg_build(buf_data(in), buf_len(in), &o, msg, rcpts,
			       &err) < 0) {
		cli_error("sendmail: bad address in the message header: %s",
			  err.msg);
		ret = EX_DATAERR;
		goto out;
	}
	if (array_len(rcpts) == 0) {
		cli_error("sendmail: no recipient addresses found%s",
			  a.t ? " in the message header" : " (use -t?)");
		ret = EX_USAGE;
		goto out;
	}
	if (submit_milter_wanted(conf)) {
		/* $non_smtpd_milters (docs/milter.md): here, before the
		 * drop, so a refusal reaches the caller as an exit code. */
		struct submit_milter_msg mm = {
		    .sender = xstrdup(buf_data(sender)),
		    .rcpts = rcpts,
		    .message = msg,
		};
		int mret = submit_milter_run(conf, &mm, &err);
		buf_set_str(sender, mm.sender);
		free(mm.sender);
		if (mret < 0) {
			cli_error("sendmail: refused by a milter: %s", err.msg);
			ret = err.kind == ERR_PERM ? 69 /* EX_UNAVAILABLE */
						   : EX_TEMPFAIL;
			goto out;
		}
		if (mm.discard || array_len(rcpts) == 0) {
			ret = 0; /* dropped, as Postfix's DISCARD */
			goto out;
		}
	}
	rec = buf_new();
	encode(rec, buf_data(sender), rcpts, msg);
	ret = EX_TEMPFAIL;
	if (maildrop_dir(conf_str(conf, "maildrop_directory"), &dir) < 0)
		goto out;
	if (drop_file(dir, unique, rec) < 0)
		goto out;
	ret = 0;
out:
	buf_free(&in);
	buf_free(&msg);
	buf_free(&rec);
	buf_free(&sender);
	buf_free(&origin);
	if (rcpts != NULL)
		array_free_with(&rcpts, free);
	free(unique);
	free(dir);
	free(defsender);
	conf_free(&conf);
	return ret;
}
