-- DKIM signing keys (MariaDB 10.5+); same table as sqlite/002_dkim_keys.sql.
-- One statement, IF NOT EXISTS: safe to re-run (DDL commits implicitly).

CREATE TABLE IF NOT EXISTS dkim_keys (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	domain_id BIGINT NOT NULL,
	selector VARCHAR(63) NOT NULL CHECK (selector = lower(selector)),
	algorithm VARCHAR(20) NOT NULL
		CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
	private_key TEXT NOT NULL,
	public_key TEXT NOT NULL,
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	retired_at BIGINT NULL,
	UNIQUE KEY dkim_keys_domain_selector (domain_id, selector),
	FOREIGN KEY (domain_id) REFERENCES domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
