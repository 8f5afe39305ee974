-- Postern schema, version 3 (PostgreSQL): per-mailbox sending limits
-- (docs/ratelimits.md).  Same tables and meaning as the SQLite file.

ALTER TABLE domains ADD COLUMN daily_message_limit BIGINT NULL;
ALTER TABLE domains ADD COLUMN daily_new_recipient_limit BIGINT NULL;
ALTER TABLE mailboxes ADD COLUMN daily_message_limit BIGINT NULL;
ALTER TABLE mailboxes ADD COLUMN daily_new_recipient_limit BIGINT NULL;

CREATE TABLE send_counters (
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	day BIGINT NOT NULL,
	messages BIGINT NOT NULL DEFAULT 0,
	new_recipients BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (mailbox_id, day)
);

CREATE TABLE known_recipients (
	mailbox_id BIGINT NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	rcpt_hash CHAR(32) NOT NULL,
	first_at BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, rcpt_hash)
);
