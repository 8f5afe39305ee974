-- Postern schema, version 13 (SQLite): SMTP TLS Reporting (RFC 8460),
-- per-URI delivery state.  Same tables and meaning on every driver.
--
-- tlsrpt_deliveries: where each report went, so that a retry sends it
-- only to the rua URIs that have not taken it (postern tlsrpt send,
-- docs/tlsrpt.md).  One row per UTC day, policy domain and rua URI (as
-- written in the record: "mailto:..." or "https://..."), written before
-- the first attempt with delivered_at 0, which becomes the Unix time of
-- the 2xx answer (https) or of queueing the mail (mailto).  report_id is
-- the same on every row of a (day, domain): a retry reuses it, since it
-- is the same report.  Purged with the other tlsrpt_ tables.
CREATE TABLE IF NOT EXISTS tlsrpt_deliveries (
	day VARCHAR(10) NOT NULL,
	policy_domain VARCHAR(255) NOT NULL,
	rua VARCHAR(512) NOT NULL,
	report_id TEXT NOT NULL,
	delivered_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (day, policy_domain, rua)
);
