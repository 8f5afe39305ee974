-- Postern schema, version 1 (SQLite).  Same tables and columns as
-- the other drivers' 001_initial.sql; see schema/README.md.
-- Times are Unix seconds (UTC); flags are 0/1 integers.

CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER NOT NULL PRIMARY KEY,
	name VARCHAR(200) NOT NULL,
	applied_at BIGINT NOT NULL
);

CREATE TABLE domains (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	name VARCHAR(253) NOT NULL UNIQUE CHECK (name = lower(name)),
	description VARCHAR(255) NOT NULL DEFAULT '',
	max_mailboxes INTEGER NOT NULL DEFAULT 0,
	quota_bytes BIGINT NOT NULL DEFAULT 0,
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
	updated_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

CREATE TABLE mailboxes (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
	local_part VARCHAR(64) NOT NULL,
	address VARCHAR(320) NOT NULL UNIQUE CHECK (address = lower(address)),
	password_hash VARCHAR(255) NOT NULL,
	name VARCHAR(255) NOT NULL DEFAULT '',
	quota_bytes BIGINT NOT NULL DEFAULT 0,
	active SMALLINT NOT NULL DEFAULT 1,
	used_bytes BIGINT NOT NULL DEFAULT 0,
	message_count BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
	updated_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX mailboxes_domain_id ON mailboxes (domain_id);

CREATE TABLE aliases (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
	source VARCHAR(320) NOT NULL UNIQUE CHECK (source = lower(source)),
	destinations TEXT NOT NULL,
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
	updated_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX aliases_domain_id ON aliases (domain_id);

CREATE TABLE alias_domains (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	alias_domain VARCHAR(253) NOT NULL UNIQUE
		CHECK (alias_domain = lower(alias_domain)),
	target_domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX alias_domains_target ON alias_domains (target_domain_id);

CREATE TABLE admins (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	username VARCHAR(255) NOT NULL UNIQUE,
	password_hash VARCHAR(255) NOT NULL,
	role VARCHAR(16) NOT NULL CHECK (role IN ('superadmin', 'domain')),
	active SMALLINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

CREATE TABLE admin_domains (
	admin_id INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
	domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
	PRIMARY KEY (admin_id, domain_id)
);
CREATE INDEX admin_domains_domain_id ON admin_domains (domain_id);

CREATE TABLE tokens (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	admin_id INTEGER NULL REFERENCES admins (id) ON DELETE CASCADE,
	secret_hash VARCHAR(255) NOT NULL UNIQUE,
	description VARCHAR(255) NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
	expires_at BIGINT NULL,
	revoked SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX tokens_admin_id ON tokens (admin_id);

CREATE TABLE audit (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	at BIGINT NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
	actor VARCHAR(255) NOT NULL DEFAULT '',
	client_address VARCHAR(64) NOT NULL DEFAULT '',
	action VARCHAR(64) NOT NULL,
	object_type VARCHAR(64) NOT NULL DEFAULT '',
	object_id VARCHAR(320) NOT NULL DEFAULT '',
	details TEXT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_object ON audit (object_type, object_id);
