/*
 * bench_fsync - what does an fsync cost on this disk, per message?
 *
 * Compares, for batches of 1, 8 and 32 messages of 4 KiB:
 *   files:   N x (create file, write, fsync, close) + one directory fsync,
 *            Postfix's pattern (one queue file per message);
 *   pfiles:  the same N files fsync'd concurrently by N threads;
 *   segment: N appends to one open segment file + one fdatasync.
 * Prints messages per second for each.  Not a ctest: run by hand,
 *   build-x/tests/bench_fsync [DIR] [ROUNDS]
 * DIR must be on the disk being measured (default: ./bench-fsync.tmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MSG_SIZE 4096

static char payload[MSG_SIZE];
static const char *dir;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_fsync: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fsync_dir(void)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0 || fsync(fd) < 0)
		die("fsync dir");
	close(fd);
}

static void write_one_file(unsigned long n)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/f%lu", dir, n);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(path);
	if (write(fd, payload, MSG_SIZE) != MSG_SIZE || fsync(fd) < 0)
		die("write/fsync");
	close(fd);
}

static void unlink_files(unsigned long from, unsigned long n)
{
	char path[4096];

	for (unsigned long i = from; i < from + n; i++) {
		snprintf(path, sizeof(path), "%s/f%lu", dir, i);
		unlink(path);
	}
}

static void *thread_main(void *arg)
{
	write_one_file((unsigned long)arg);
	return NULL;
}

static double bench_files(int batch, int rounds, int parallel)
{
	unsigned long n = 0;
	double t0 = now();

	for (int r = 0; r < rounds; r++) {
		pthread_t th[64];

		for (int i = 0; i < batch; i++) {
			if (parallel)
				pthread_create(&th[i], NULL, thread_main,
					       (void *)(n + i));
			else
				write_one_file(n + i);
		}
		if (parallel)
			for (int i = 0; i < batch; i++)
				pthread_join(th[i], NULL);
		fsync_dir();
		n += batch;
	}
	double t = now() - t0;

	unlink_files(0, n);
	return n / t;
}

static double bench_segment(int batch, int rounds)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/segment", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	if (fd < 0)
		die(path);
	fsync_dir();
	double t0 = now();

	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < batch; i++)
			if (write(fd, payload, MSG_SIZE) != MSG_SIZE)
				die("write");
		if (fdatasync(fd) < 0)
			die("fdatasync");
	}
	double t = now() - t0;

	close(fd);
	unlink(path);
	return (double)batch * rounds / t;
}

int main(int argc, char **argv)
{
	static const int batches[] = {1, 8, 32};
	int rounds = argc > 2 ? atoi(argv[2]) : 100;

	dir = argc > 1 ? argv[1] : "bench-fsync.tmp";
	mkdir(dir, 0700);
	memset(payload, 'x', sizeof(payload));
	printf("%-6s %12s %12s %12s   (messages/s, 4 KiB each, %d rounds)\n",
	       "batch", "files", "pfiles", "segment", rounds);
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		int b = batches[i];
		int r = rounds * 8 / (b < 8 ? 8 : b) + 1;

		printf("%-6d %12.0f %12.0f %12.0f\n", b, bench_files(b, r, 0),
		       bench_files(b, r, 1), bench_segment(b, r));
	}
	rmdir(dir);
	return 0;
}
