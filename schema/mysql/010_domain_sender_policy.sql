-- Postern schema, version 10 (MariaDB): a hosted domain's own sender policy
-- for mail TO it (check_domain_sender_access, mta/smtpd-domain-policy.c;
-- lib/provision/prov_sender_policy.c; admin API
-- /api/v1/domains/{name}/sender-policy; docs/domain-sender-policy.md).
-- kind: 'sender' (value: an address, a domain, or .domain for its
-- subdomains; '<>' the null sender) or 'client' (value: an IP address or
-- CIDR network); action: 'allow' or 'block'.  Deleting the domain
-- deletes its entries.
-- Every statement is safe to re-run (DDL commits implicitly here).

CREATE TABLE IF NOT EXISTS domain_sender_policy (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	domain_id BIGINT NOT NULL,
	kind VARCHAR(16) NOT NULL,
	value VARCHAR(320) NOT NULL,
	action VARCHAR(16) NOT NULL,
	created_at BIGINT NOT NULL DEFAULT 0,
	UNIQUE (domain_id, kind, value),
	FOREIGN KEY (domain_id) REFERENCES domains (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
