-- Postern schema, version 9 (PostgreSQL): the address verification cache of
-- reject_unverified_sender / reject_unverified_recipient (Postfix's
-- verify(8); mta/smtpd-verify.c, queued/verify.c, docs/address-verify.md),
-- shared by every MX node on the database.  Same table and meaning on
-- every driver.  Times are Unix seconds.  status: 0 deliverable, 1
-- undeliverable (a 5xx), 2 temporary failure (4xx, no answer); reply:
-- the remote's reply or why; probed_at: when that result came (0: no
-- result yet); requested_at: when the last probe was asked for.

CREATE TABLE IF NOT EXISTS address_verify (
	address VARCHAR(320) NOT NULL PRIMARY KEY,
	status INTEGER NOT NULL DEFAULT 2,
	reply VARCHAR(512) NOT NULL DEFAULT '',
	probed_at BIGINT NOT NULL DEFAULT 0,
	requested_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS address_verify_probed_at ON address_verify (probed_at);
