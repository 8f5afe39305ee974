-- Postern schema, version 12 (PostgreSQL): SMTP TLS Reporting (RFC 8460),
-- receiving-mx-helo (docs/tlsrpt.md).  Same meaning on every driver.
--
-- tlsrpt_counters.receiving_mx_helo: the name the receiving MX gave in
-- its EHLO (or HELO) reply, for failure rows; '' for successes, rows of
-- before this migration and failures before the reply.  Not part of the
-- key: the last name seen for the row's MX host and address.
ALTER TABLE tlsrpt_counters ADD COLUMN IF NOT EXISTS receiving_mx_helo
	VARCHAR(255) NOT NULL DEFAULT '';
