/*
 * password_tool - command-line face of lib/auth/password.h for
 * test_password_doveadm.sh:
 *   password_tool hash SCHEME      password on stdin, prints the hash
 *   password_tool verify STORED    password on stdin
 * Exit status: 0 ok / match, 1 mismatch, 2 error.
 */
#include <stdio.h>
#include <string.h>

#include "auth/password.h"
#include "core/buf.h"

int main(int argc, char **argv)
{
	char line[1024];
	struct error err = {0};
	int rc;

	if (argc != 3 || fgets(line, sizeof(line), stdin) == NULL) {
		fprintf(stderr, "usage: password_tool hash|verify ARG "
				"<password\n");
		return 2;
	}
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(argv[1], "hash") == 0) {
		struct buf *out = buf_new();

		rc = password_hash(argv[2], line, out, &err);
		if (rc == 0)
			printf("%s\n", buf_data(out));
		buf_free(&out);
		if (rc == 0)
			return 0;
	} else {
		rc = password_verify(argv[2], line, &err);
		if (rc >= 0)
			return rc == 1 ? 0 : 1;
	}
	fprintf(stderr, "password_tool: %s\n", err.msg);
	return 2;
}
