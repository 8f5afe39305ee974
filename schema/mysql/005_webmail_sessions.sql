-- Postern schema, version 5 (MariaDB): webmail sessions shared by every
-- webmail process and node.  Same tables and meaning as
-- sqlite/005_webmail_sessions.sql; every statement is safe to re-run
-- (DDL commits implicitly here).

CREATE TABLE IF NOT EXISTS webmail_sessions (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	id_hash CHAR(64) NOT NULL UNIQUE,
	mailbox_id BIGINT NOT NULL,
	address VARCHAR(320) NOT NULL,
	created_at BIGINT NOT NULL,
	last_at BIGINT NOT NULL,
	INDEX webmail_sessions_mailbox_id (mailbox_id),
	INDEX webmail_sessions_last_at (last_at),
	FOREIGN KEY (mailbox_id) REFERENCES mailboxes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS webmail_login_failures (
	key_hash CHAR(64) NOT NULL,
	at BIGINT NOT NULL,
	INDEX webmail_login_failures_key (key_hash, at),
	INDEX webmail_login_failures_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
