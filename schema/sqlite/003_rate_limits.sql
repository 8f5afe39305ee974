-- Postern schema, version 3 (SQLite): per-mailbox sending limits
-- (docs/ratelimits.md).  Limits: NULL inherits (mailbox -> domain ->
-- $user_daily_message_limit / $user_daily_new_recipient_limit), 0 means
-- unlimited.  Counters: one row per mailbox per UTC day (day = Unix
-- seconds / 86400); recipients the mailbox has sent to, as a hash
-- (32 hex digits of BLAKE2b-128 of the lower-cased address).

ALTER TABLE domains ADD COLUMN daily_message_limit BIGINT NULL;
ALTER TABLE domains ADD COLUMN daily_new_recipient_limit BIGINT NULL;
ALTER TABLE mailboxes ADD COLUMN daily_message_limit BIGINT NULL;
ALTER TABLE mailboxes ADD COLUMN daily_new_recipient_limit BIGINT NULL;

CREATE TABLE send_counters (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	day BIGINT NOT NULL,
	messages BIGINT NOT NULL DEFAULT 0,
	new_recipients BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (mailbox_id, day)
);

CREATE TABLE known_recipients (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	rcpt_hash CHAR(32) NOT NULL,
	first_at BIGINT NOT NULL,
	PRIMARY KEY (mailbox_id, rcpt_hash)
);
