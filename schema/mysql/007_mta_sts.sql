-- Postern schema, version 7 (MariaDB): the MTA-STS policy cache of the
-- SMTP client (queued/mta_sts.c, docs/outbound.md), shared by every node
-- that delivers mail.  Same table and meaning on every driver; safe to
-- re-run.  One row per policy domain (lower-case): the TXT record's id
-- the policy was fetched under, its mode (enforce, testing, none), its mx
-- patterns separated by one space, max_age in seconds, and fetched_at
-- (Unix seconds).  The row is good until fetched_at + max_age.

CREATE TABLE IF NOT EXISTS mta_sts_policies (
	domain VARCHAR(255) NOT NULL PRIMARY KEY,
	policy_id VARCHAR(32) NOT NULL,
	mode VARCHAR(16) NOT NULL,
	mx TEXT NOT NULL,
	max_age BIGINT NOT NULL,
	fetched_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
