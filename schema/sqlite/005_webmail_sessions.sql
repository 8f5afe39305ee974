-- Postern schema, version 5 (SQLite): webmail sessions shared by every
-- webmail process and node (webmail/wm-session.c, docs/webmail.md).
-- A session is known by the hex SHA-256 of its id, never the id itself
-- (the cookie), so a copy of the database logs nobody in; its CSRF token
-- is derived from the id and is not stored.  id gives the login order
-- (the oldest sessions of an address beyond 32 are removed).  Deleting
-- a mailbox ends its sessions.  Failed webmail logins: one row per
-- failure, key_hash the hex SHA-256 of "user:ADDRESS" or "ip:ADDRESS".

CREATE TABLE webmail_sessions (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	id_hash CHAR(64) NOT NULL UNIQUE,
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	address VARCHAR(320) NOT NULL,
	created_at BIGINT NOT NULL,
	last_at BIGINT NOT NULL
);
CREATE INDEX webmail_sessions_mailbox_id ON webmail_sessions (mailbox_id);
CREATE INDEX webmail_sessions_last_at ON webmail_sessions (last_at);

CREATE TABLE webmail_login_failures (
	key_hash CHAR(64) NOT NULL,
	at BIGINT NOT NULL
);
CREATE INDEX webmail_login_failures_key ON webmail_login_failures (key_hash, at);
CREATE INDEX webmail_login_failures_at ON webmail_login_failures (at);
