-- DKIM signing keys (SQLite); docs/dkim.md.  One row per key: a domain
-- signs with its active keys (at most one per algorithm), keeps rotated
-- ones published (active = 0, retired_at NULL) until they are retired,
-- and keeps retired rows (private key erased) for the record.
-- The private key is PEM text here, beside the domain it signs for, so
-- every MTA sharing the database signs with the same keys; see docs/dkim.md.

CREATE TABLE dkim_keys (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
	selector VARCHAR(63) NOT NULL CHECK (selector = lower(selector)),
	algorithm VARCHAR(20) NOT NULL
		CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
	private_key TEXT NOT NULL,
	public_key TEXT NOT NULL,
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
	retired_at BIGINT NULL,
	UNIQUE (domain_id, selector)
);
