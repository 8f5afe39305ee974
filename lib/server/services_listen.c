/*
 * services_listen - open the sockets a services-table entry names.  Both
 * the master (which holds them across child restarts) and a daemon run by
 * hand use this, so they bind the same way.
 */
#include <stdlib.h>

#include "core/fsutil.h"
#include "ev/net.h"
#include "server/services.h"

int service_addr_listen(const struct service_addr *addr, struct error *err)
{
	int fd;
	if (addr->type == SERVICE_UNIX) {
		char *dir = fs_dirname(addr->path);
		int rc = fs_mkdir_p(dir, 0755, err);
		free(dir);
		if (rc < 0) {
			error_prefix(err, "cannot listen on %s", addr->text);
			return -1;
		}
		/* Local clients (the MTA, a Postfix in front) of other
		 * users may deliver; the folder's mode restricts further. */
		fd = net_listen_unix(addr->path, 0666, 0, err);
	} else {
		fd = net_listen_tcp(addr->host, addr->port, 0, err);
	}
	/* net.h's message names the address already. */
	return fd;
}
