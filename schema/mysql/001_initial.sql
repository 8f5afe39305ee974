-- Postern schema, version 1 (MariaDB 10.5+).  Same tables and columns as
-- sqlite/001_initial.sql and pgsql/001_initial.sql; see schema/README.md.
-- Times are Unix seconds (UTC); flags are 0/1 integers.  Tables are
-- InnoDB, utf8mb4 with the binary collation so comparisons and UNIQUE are
-- exact, as on SQLite and PostgreSQL.  Every statement is IF NOT EXISTS:
-- MariaDB commits DDL implicitly, so a migration that failed half-way must
-- be re-runnable.

CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER NOT NULL PRIMARY KEY,
	name VARCHAR(200) NOT NULL,
	applied_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS domains (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	name VARCHAR(253) NOT NULL UNIQUE CHECK (name = lower(name)),
	description VARCHAR(255) NOT NULL DEFAULT '',
	max_mailboxes INTEGER NOT NULL DEFAULT 0,
	quota_bytes BIGINT NOT NULL DEFAULT 0,
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	updated_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP())
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS mailboxes (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	domain_id BIGINT NOT NULL,
	local_part VARCHAR(64) NOT NULL,
	address VARCHAR(320) NOT NULL UNIQUE CHECK (address = lower(address)),
	password_hash VARCHAR(255) NOT NULL,
	name VARCHAR(255) NOT NULL DEFAULT '',
	quota_bytes BIGINT NOT NULL DEFAULT 0,
	active SMALLINT NOT NULL DEFAULT 1,
	used_bytes BIGINT NOT NULL DEFAULT 0,
	message_count BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	updated_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	FOREIGN KEY (domain_id) REFERENCES domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS mailboxes_domain_id ON mailboxes (domain_id);

CREATE TABLE IF NOT EXISTS aliases (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	domain_id BIGINT NOT NULL,
	source VARCHAR(320) NOT NULL UNIQUE CHECK (source = lower(source)),
	destinations TEXT NOT NULL,
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	updated_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	FOREIGN KEY (domain_id) REFERENCES domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS aliases_domain_id ON aliases (domain_id);

CREATE TABLE IF NOT EXISTS alias_domains (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	alias_domain VARCHAR(253) NOT NULL UNIQUE
		CHECK (alias_domain = lower(alias_domain)),
	target_domain_id BIGINT NOT NULL,
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	FOREIGN KEY (target_domain_id) REFERENCES domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS alias_domains_target ON alias_domains (target_domain_id);

CREATE TABLE IF NOT EXISTS admins (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	username VARCHAR(255) NOT NULL UNIQUE,
	password_hash VARCHAR(255) NOT NULL,
	role VARCHAR(16) NOT NULL CHECK (role IN ('superadmin', 'domain')),
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP())
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS admin_domains (
	admin_id BIGINT NOT NULL,
	domain_id BIGINT NOT NULL,
	PRIMARY KEY (admin_id, domain_id),
	FOREIGN KEY (admin_id) REFERENCES admins (id) ON DELETE CASCADE,
	FOREIGN KEY (domain_id) REFERENCES domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS admin_domains_domain_id ON admin_domains (domain_id);

CREATE TABLE IF NOT EXISTS tokens (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	admin_id BIGINT NULL,
	secret_hash VARCHAR(255) NOT NULL UNIQUE,
	description VARCHAR(255) NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	expires_at BIGINT NULL,
	revoked SMALLINT NOT NULL DEFAULT 0,
	FOREIGN KEY (admin_id) REFERENCES admins (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS tokens_admin_id ON tokens (admin_id);

CREATE TABLE IF NOT EXISTS audit (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	at BIGINT NOT NULL DEFAULT (UNIX_TIMESTAMP()),
	actor VARCHAR(255) NOT NULL DEFAULT '',
	client_address VARCHAR(64) NOT NULL DEFAULT '',
	action VARCHAR(64) NOT NULL,
	object_type VARCHAR(64) NOT NULL DEFAULT '',
	object_id VARCHAR(320) NOT NULL DEFAULT '',
	details TEXT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_object ON audit (object_type, object_id);
