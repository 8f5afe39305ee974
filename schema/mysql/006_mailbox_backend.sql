-- Postern schema, version 6 (MariaDB): the IMAP/LMTP backend of a
-- mailbox (docs/proxy.md).  Same column and meaning as the SQLite file;
-- safe to re-run (DDL commits implicitly here).

ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS backend VARCHAR(255) NULL;
