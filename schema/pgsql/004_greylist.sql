-- Postern schema, version 4 (PostgreSQL): greylisting for check_greylist
-- (mta/smtpd-greylist.c, docs/restrictions.md).  Same tables and meaning
-- on every driver.  Times are Unix seconds; passed_at 0: not passed yet.

CREATE TABLE IF NOT EXISTS greylist (
	client_net VARCHAR(64) NOT NULL,
	sender VARCHAR(320) NOT NULL,
	recipient VARCHAR(320) NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen BIGINT NOT NULL,
	passed_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (client_net, sender, recipient)
);
CREATE INDEX IF NOT EXISTS greylist_last_seen ON greylist (last_seen);

CREATE TABLE IF NOT EXISTS greylist_clients (
	client_net VARCHAR(64) NOT NULL PRIMARY KEY,
	passes BIGINT NOT NULL DEFAULT 0,
	last_seen BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS greylist_clients_last_seen ON greylist_clients (last_seen);
