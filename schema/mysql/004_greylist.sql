-- Postern schema, version 4 (MariaDB): greylisting for check_greylist
-- (mta/smtpd-greylist.c, docs/restrictions.md).  Same tables and meaning
-- on every driver; every statement is safe to re-run (DDL commits
-- implicitly here).  Times are Unix seconds; passed_at 0: not passed yet.
-- The key is (64 + 320 + 320) * 4 = 2816 bytes, within InnoDB's 3072.

CREATE TABLE IF NOT EXISTS greylist (
	client_net VARCHAR(64) NOT NULL,
	sender VARCHAR(320) NOT NULL,
	recipient VARCHAR(320) NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen BIGINT NOT NULL,
	passed_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (client_net, sender, recipient)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS greylist_last_seen ON greylist (last_seen);

CREATE TABLE IF NOT EXISTS greylist_clients (
	client_net VARCHAR(64) NOT NULL PRIMARY KEY,
	passes BIGINT NOT NULL DEFAULT 0,
	last_seen BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS greylist_clients_last_seen ON greylist_clients (last_seen);
