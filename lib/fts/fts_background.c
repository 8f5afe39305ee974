/*
 * fts_background.c - the background catch-up thread (fts_background.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/array.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "fts/fts.h"
#include "fts/fts_background.h"
#include "store/store_name.h"

/* Sleep between two transactions: the lock and a core for the others. */
#define BG_PAUSE_MS 20
/* A transaction also ends after this long (big messages). */
#define BG_BATCH_MS 150
/* How long a background writer waits for the lock. */
#define BG_BUSY_MS 2000

struct job {
	char *mailbox_path;
	char *folder; /* NULL: INBOX */
	char *dir;
	struct fts_min_free min;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static bool started, stopping;
static struct array *queue; /* struct job *, guarded by lock */
static struct job *running; /* guarded by lock */

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->mailbox_path);
	free(j->folder);
	free(j->dir);
	free(j);
}

static bool same(const struct job *j, const char *mailbox_path,
		 const char *folder)
{
	if (j == NULL || strcmp(j->mailbox_path, mailbox_path) != 0)
		return false;
	if (j->folder == NULL || folder == NULL)
		return j->folder == folder;
	return strcmp(j->folder, folder) == 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool should_stop(void)
{
	pthread_mutex_lock(&lock);
	bool s = stopping;
	pthread_mutex_unlock(&lock);
	return s;
}

/* The files of dir/new and dir/cur: paths and unique parts. */
static void list_folder(const char *dir, struct array *paths,
			struct array *uniques)
{
	static const char *const subs[] = {"new", "cur"};
	for (size_t s = 0; s < 2; s++) {
		char *sub = xasprintf("%s/%s", dir, subs[s]);
		DIR *d = opendir(sub);
		struct dirent *de;
		while (d != NULL && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			struct store_name parsed;
			struct error perr = {0};
			size_t len =
			    store_name_parse(de->d_name, &parsed, &perr) == 0
				? parsed.unique_len
				: strlen(de->d_name);
			array_push(paths, xasprintf("%s/%s", sub, de->d_name));
			array_push(uniques, xstrndup(de->d_name, len));
		}
		if (d != NULL)
			closedir(d);
		free(sub);
	}
}

static void catchup(const struct job *j)
{
	struct array *paths = array_new(), *uniques = array_new();
	struct array *missing = NULL;
	struct error err = {0};
	unsigned added = 0;
	struct fts *fts = fts_open(j->mailbox_path, BG_BUSY_MS, &err);

	if (fts == NULL)
		goto fail;
	list_folder(j->dir, paths, uniques);
	const char **names = xcalloc(array_len(uniques) + 1, sizeof(*names));
	for (size_t i = 0; i < array_len(uniques); i++)
		names[i] = array_get(uniques, i);
	int r = fts_missing(fts, j->folder, names, array_len(uniques), &missing,
			    &err);
	free(names);
	if (r < 0)
		goto fail;
	size_t k = 0, n = array_len(missing);
	while (k < n) {
		if (should_stop())
			break;
		int room = fts_space_check(j->mailbox_path, &j->min, &err);
		if (room <= 0)
			goto fail;
		if (fts_begin(fts, &err) < 0)
			goto fail;
		int64_t t0 = now_ms();
		unsigned in_batch = 0;
		for (; k < n && in_batch < FTS_BG_BATCH &&
		       now_ms() - t0 < BG_BATCH_MS;
		     k++) {
			size_t i = (uintptr_t)array_get(missing, k);
			int fd =
			    open(array_get(paths, i), O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue; /* moved or expunged: next time */
			struct error derr = {0};
			r = fts_add_file(fts, j->folder, array_get(uniques, i),
					 fd, &derr);
			close(fd);
			if (r == 0) {
				in_batch++;
				continue;
			}
			if (derr.code != NULL &&
			    strcmp(derr.code, FTS_ERR_NOSPACE) == 0) {
				err = derr;
				fts_rollback(fts);
				goto fail;
			}
			log_warn("background full-text index: %s", derr.msg);
		}
		if (fts_commit(fts, &err) < 0)
			goto fail;
		added += in_batch;
		usleep(BG_PAUSE_MS * 1000);
	}
	if (added > 0)
		log_info("background full-text index of %s%s%s: %u message(s) "
			 "added",
			 j->mailbox_path, j->folder != NULL ? " " : "",
			 j->folder != NULL ? j->folder : "", added);
	goto out;
fail:
	log_warn("background full-text index of %s: %s (%u added, the rest "
		 "left for the next catch-up)",
		 j->mailbox_path, err.msg, added);
out:
	fts_close(&fts);
	array_free(&missing);
	array_free_with(&paths, free);
	array_free_with(&uniques, free);
}

static void *thread_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!stopping && array_len(queue) == 0)
			pthread_cond_wait(&cond, &lock);
		if (stopping)
			break;
		running = array_get(queue, 0);
		array_remove(queue, 0);
		pthread_mutex_unlock(&lock);
		catchup(running);
		pthread_mutex_lock(&lock);
		job_free(running);
		running = NULL;
		pthread_cond_broadcast(&cond);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void stop_at_exit(void)
{
	fts_background_stop();
}

bool fts_background_catchup(const char *mailbox_path, const char *folder,
			    const char *folder_dir,
			    const struct fts_min_free *min)
{
	bool queued = false;
	pthread_mutex_lock(&lock);
	if (stopping)
		goto out;
	if (queue == NULL)
		queue = array_new();
	if (same(running, mailbox_path, folder))
		goto out;
	for (size_t i = 0; i < array_len(queue); i++)
		if (same(array_get(queue, i), mailbox_path, folder))
			goto out;
	if (!started) {
		/* No signal for this thread: the daemons take theirs on the
		 * loop thread (signalfd or a handler there). */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int rc = pthread_create(&thread, NULL, thread_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			log_warn("background full-text index: cannot start "
				 "a thread");
			goto out;
		}
		started = true;
		atexit(stop_at_exit);
	}
	struct job *j = xcalloc(1, sizeof(*j));
	j->mailbox_path = xstrdup(mailbox_path);
	j->folder = folder != NULL ? xstrdup(folder) : NULL;
	j->dir = xstrdup(folder_dir);
	j->min = *min;
	array_push(queue, j);
	pthread_cond_broadcast(&cond);
	queued = true;
out:
	pthread_mutex_unlock(&lock);
	return queued;
}

bool fts_background_pending(const char *mailbox_path, const char *folder)
{
	bool found = false;
	pthread_mutex_lock(&lock);
	found = same(running, mailbox_path, folder);
	for (size_t i = 0; !found && queue != NULL && i < array_len(queue); i++)
		found = same(array_get(queue, i), mailbox_path, folder);
	pthread_mutex_unlock(&lock);
	return found;
}

bool fts_background_wait_idle(unsigned timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	int rc = 0;
	while (rc == 0 &&
	       (running != NULL || (queue != NULL && array_len(queue) > 0)))
		rc = pthread_cond_timedwait(&cond, &lock, &until);
	bool idle = running == NULL && (queue == NULL || array_len(queue) == 0);
	pthread_mutex_unlock(&lock);
	return idle;
}

void fts_background_stop(void)
{
	pthread_mutex_lock(&lock);
	bool join = started && !stopping;
	stopping = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	if (join)
		pthread_join(thread, NULL);
	pthread_mutex_lock(&lock);
	while (queue != NULL && array_len(queue) > 0) {
		job_free(array_get(queue, 0));
		array_remove(queue, 0);
	}
	array_free(&queue);
	pthread_mutex_unlock(&lock);
}
