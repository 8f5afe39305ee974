-- Postern schema, version 6 (SQLite): the IMAP/LMTP backend of a
-- mailbox for postern-imap-proxy (docs/proxy.md).  backend is
-- "host:port" of the backend that serves the mailbox; NULL: the proxy
-- picks one of $proxy_backends by rendezvous hashing over the address.

ALTER TABLE mailboxes ADD COLUMN backend VARCHAR(255) NULL;
