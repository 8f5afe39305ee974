-- Postern schema, version 14 (SQLite): SMTP TLS Reporting (RFC 8460),
-- per-URI claims (docs/tlsrpt.md).  Same meaning on every driver.
--
-- tlsrpt_deliveries.claimed_at: the Unix time a `postern tlsrpt send`
-- run took the URI to send the report to it (an UPDATE that only
-- succeeds while the row is not delivered and not claimed in the last
-- 15 minutes), so two runs at once, on one node or several sharing the
-- database, never both send to it; set back to 0 when the attempt
-- fails.  0: not claimed (rows of before this migration too).
ALTER TABLE tlsrpt_deliveries ADD COLUMN claimed_at BIGINT NOT NULL
	DEFAULT 0;
