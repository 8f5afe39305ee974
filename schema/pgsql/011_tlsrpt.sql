-- Postern schema, version 11 (PostgreSQL): SMTP TLS Reporting (RFC 8460),
-- the sending side (queued/tlsrpt.c, postern tlsrpt send, docs/tlsrpt.md).
-- Same tables and meaning on every driver; safe to re-run.
--
-- tlsrpt_counters: daily session counters that every delivering node adds
-- to (UPDATE ... sessions = sessions + ?, else INSERT).  One row per UTC
-- day (YYYY-MM-DD), policy domain (lower-case), policy type (tlsa, sts,
-- no-policy-found), MX host, result ('' for successful sessions, else an
-- RFC 8460 4.3 result type), sending and receiving IP ('' for successes).
-- policy_string holds the policy's lines separated by LF, as last seen.
CREATE TABLE IF NOT EXISTS tlsrpt_counters (
	day VARCHAR(10) NOT NULL,
	policy_domain VARCHAR(255) NOT NULL,
	policy_type VARCHAR(16) NOT NULL,
	mx_host VARCHAR(255) NOT NULL,
	result VARCHAR(40) NOT NULL,
	sending_ip VARCHAR(45) NOT NULL,
	receiving_ip VARCHAR(45) NOT NULL,
	policy_string TEXT NOT NULL,
	sessions BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (day, policy_domain, policy_type, mx_host, result,
		     sending_ip, receiving_ip)
);

-- tlsrpt_reports: the reports sent, so that a second run sends nothing
-- again: one row per day and policy domain, with the report id.
CREATE TABLE IF NOT EXISTS tlsrpt_reports (
	day VARCHAR(10) NOT NULL,
	policy_domain VARCHAR(255) NOT NULL,
	report_id VARCHAR(255) NOT NULL,
	rua TEXT NOT NULL,
	sent_at BIGINT NOT NULL,
	PRIMARY KEY (day, policy_domain)
);
