-- Postern schema, version 6 (PostgreSQL): the IMAP/LMTP backend of a
-- mailbox (docs/proxy.md).  Same column and meaning as the SQLite file.

ALTER TABLE mailboxes ADD COLUMN backend VARCHAR(255) NULL;
