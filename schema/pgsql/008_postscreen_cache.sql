-- Postern schema, version 8 (PostgreSQL): the postscreen cache
-- (postscreen/psc-cache.c, docs/postscreen.md), shared by every MX that
-- uses this database, so a client that passed on one node is not tested
-- again on another.  Same table and meaning on every driver.  Times are
-- Unix seconds: until which each test's pass holds (0: not passed);
-- expires is the largest of them, for the cleanup.

CREATE TABLE IF NOT EXISTS postscreen_cache (
	client_addr VARCHAR(64) NOT NULL PRIMARY KEY,
	pregreet_until BIGINT NOT NULL DEFAULT 0,
	dnsbl_until BIGINT NOT NULL DEFAULT 0,
	pipelining_until BIGINT NOT NULL DEFAULT 0,
	non_smtp_until BIGINT NOT NULL DEFAULT 0,
	bare_newline_until BIGINT NOT NULL DEFAULT 0,
	expires BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS postscreen_cache_expires ON postscreen_cache (expires);
