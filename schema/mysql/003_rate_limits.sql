-- Postern schema, version 3 (MariaDB): per-mailbox sending limits
-- (docs/ratelimits.md).  Same tables and meaning as the SQLite file;
-- every statement is safe to re-run (DDL commits implicitly here).

ALTER TABLE domains ADD COLUMN IF NOT EXISTS daily_message_limit BIGINT NULL;
ALTER TABLE domains ADD COLUMN IF NOT EXISTS daily_new_recipient_limit BIGINT NULL;
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS daily_message_limit BIGINT NULL;
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS daily_new_recipient_limit BIGINT NULL;

CREATE TABLE IF NOT EXISTS send_counters (
	mailbox_id BIGINT NOT NULL,
	day BIGINT NOT NULL,
	messages BIGINT NOT NULL DEFAULT 0,
	new_recipients BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (mailbox_id, day),
	FOREIGN KEY (mailbox_id) REFERENCES mailboxes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS known_recipients (
	mailbox_id BIGINT NOT NULL,
	rcpt_hash CHAR(32) NOT NULL,
	first_at BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, rcpt_hash),
	FOREIGN KEY (mailbox_id) REFERENCES mailboxes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
