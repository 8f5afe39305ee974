#include "auth/password.h"

#include <crypt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "core/xmalloc.h"

/* Longest {SCHEME.ENC} name we look at, and longest digest data. */
#define SCHEME_NAME_MAX 32
#define DIGEST_DATA_MAX 4096

enum encoding { ENC_DEFAULT, ENC_HEX, ENC_B64 };

static const struct scheme_def {
	enum password_scheme scheme;
	const char *name;
	size_t digest_len; /* SHA schemes: raw digest size */
	bool can_hash;
} schemes[] = {
    {PASSWORD_SCHEME_ARGON2ID, "ARGON2ID", 0, true},
    {PASSWORD_SCHEME_ARGON2I, "ARGON2I", 0, false},
    {PASSWORD_SCHEME_BLF_CRYPT, "BLF-CRYPT", 0, true},
    {PASSWORD_SCHEME_SHA512_CRYPT, "SHA512-CRYPT", 0, true},
    {PASSWORD_SCHEME_SHA256_CRYPT, "SHA256-CRYPT", 0, true},
    {PASSWORD_SCHEME_MD5_CRYPT, "MD5-CRYPT", 0, false},
    {PASSWORD_SCHEME_CRYPT, "CRYPT", 0, false},
    {PASSWORD_SCHEME_SSHA512, "SSHA512", crypto_hash_sha512_BYTES, false},
    {PASSWORD_SCHEME_SHA512, "SHA512", crypto_hash_sha512_BYTES, false},
    {PASSWORD_SCHEME_SSHA256, "SSHA256", crypto_hash_sha256_BYTES, false},
    {PASSWORD_SCHEME_SHA256, "SHA256", crypto_hash_sha256_BYTES, false},
    {PASSWORD_SCHEME_PLAIN, "PLAIN", 0, false},
    /* Dovecot's aliases of PLAIN. */
    {PASSWORD_SCHEME_PLAIN, "CLEAR", 0, false},
    {PASSWORD_SCHEME_PLAIN, "CLEARTEXT", 0, false},
};

static const struct scheme_def *scheme_def(enum password_scheme scheme)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (schemes[i].scheme == scheme)
			return &schemes[i];
	return NULL;
}

static int lookup_name(const char *name, size_t len,
		       enum password_scheme *scheme_r, enum encoding *enc_r)
{
	enum encoding enc = ENC_DEFAULT;
	const char *dot = memchr(name, '.', len);

	if (dot != NULL) {
		size_t elen = len - (size_t)(dot - name) - 1;

		if (elen == 3 && strncasecmp(dot + 1, "HEX", 3) == 0)
			enc = ENC_HEX;
		else if ((elen == 3 && strncasecmp(dot + 1, "B64", 3) == 0) ||
			 (elen == 6 && strncasecmp(dot + 1, "BASE64", 6) == 0))
			enc = ENC_B64;
		else
			return 0;
		len = (size_t)(dot - name);
	}
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strlen(schemes[i].name) != len ||
		    strncasecmp(schemes[i].name, name, len) != 0)
			continue;
		/* Only the digest schemes have an encoding to choose. */
		if (enc != ENC_DEFAULT && schemes[i].digest_len == 0)
			return 0;
		*scheme_r = schemes[i].scheme;
		*enc_r = enc;
		return 1;
	}
	return 0;
}

int password_scheme_lookup(const char *name, enum password_scheme *scheme_r)
{
	enum encoding enc;

	return lookup_name(name, strlen(name), scheme_r, &enc);
}

const char *password_scheme_name(enum password_scheme scheme)
{
	const struct scheme_def *def = scheme_def(scheme);

	return def != NULL ? def->name : "UNKNOWN";
}

bool password_scheme_can_hash(enum password_scheme scheme)
{
	const struct scheme_def *def = scheme_def(scheme);

	return def != NULL && def->can_hash;
}

/* Dovecot's default scheme is CRYPT: map a bare crypt string by its id. */
static enum password_scheme unprefixed_scheme(const char *s)
{
	static const struct {
		const char *prefix;
		enum password_scheme scheme;
	} ids[] = {
	    {"$argon2id$", PASSWORD_SCHEME_ARGON2ID},
	    {"$argon2i$", PASSWORD_SCHEME_ARGON2I},
	    {"$6$", PASSWORD_SCHEME_SHA512_CRYPT},
	    {"$5$", PASSWORD_SCHEME_SHA256_CRYPT},
	    {"$2y$", PASSWORD_SCHEME_BLF_CRYPT},
	    {"$2b$", PASSWORD_SCHEME_BLF_CRYPT},
	    {"$2a$", PASSWORD_SCHEME_BLF_CRYPT},
	    {"$1$", PASSWORD_SCHEME_MD5_CRYPT},
	};

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		if (str_has_prefix(s, ids[i].prefix))
			return ids[i].scheme;
	if (s[0] == '$')
		return PASSWORD_SCHEME_CRYPT;
	return PASSWORD_SCHEME_UNKNOWN;
}

static int parse_stored(const char *stored, enum password_scheme *scheme_r,
			enum encoding *enc_r, const char **data_r,
			struct error *err)
{
	const char *end;

	*enc_r = ENC_DEFAULT;
	if (stored[0] != '{') {
		*scheme_r = unprefixed_scheme(stored);
		if (*scheme_r == PASSWORD_SCHEME_UNKNOWN)
			return error_set(err, ERR_PERM,
					 "password hash has no {SCHEME} "
					 "prefix and is not a crypt string");
		*data_r = stored;
		return 0;
	}
	end = strchr(stored, '}');
	if (end == NULL || end - stored - 1 > SCHEME_NAME_MAX)
		return error_set(err, ERR_PERM,
				 "malformed {SCHEME} prefix in password hash");
	if (lookup_name(stored + 1, (size_t)(end - stored - 1), scheme_r,
			enc_r) != 1)
		return error_set(err, ERR_PERM,
				 "unknown password scheme {%.*s}",
				 (int)(end - stored - 1), stored + 1);
	*data_r = end + 1;
	return 0;
}

int password_scheme_parse(const char *stored, enum password_scheme *scheme_r,
			  const char **data_r, struct error *err)
{
	enum encoding enc;

	return parse_stored(stored, scheme_r, &enc, data_r, err);
}

static int sodium_ready(struct error *err)
{
	/* Thread-safe and cheap once done. */
	if (sodium_init() < 0)
		return error_set(err, ERR_TEMP, "libsodium failed to start");
	return 0;
}

/* Equal-length constant-time compare; lengths themselves are public. */
static bool ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && sodium_memcmp(a, b, alen) == 0;
}

/* ---- crypt(3) family: libxcrypt -------------------------------------- */

static int crypt_verify(const char *data, const char *plaintext,
			struct error *err)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *out;
	int ret;

	/* crypt_rn, not crypt(): reentrant, and NULL (never a static
	 * failure token) when the setting is unusable. */
	out = crypt_rn(plaintext, data, cd, sizeof(*cd));
	/* A stored hash that cannot come out of crypt(3) at all (cut
	 * short, salt too long) is malformed, not a mismatch; its length
	 * depends on the stored hash only, so this leaks nothing. */
	if (out == NULL || out[0] == '*' || strlen(out) != strlen(data))
		ret = error_set(err, ERR_PERM, "malformed crypt hash");
	else
		ret = ct_equal(out, strlen(out), data, strlen(data)) ? 1 : 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

static int crypt_hash(const char *prefix, unsigned long count,
		      const char *plaintext, struct buf *out, struct error *err)
{
	struct crypt_data *cd;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *hash;
	int ret = 0;

	/* NULL random bytes: libxcrypt reads the kernel CSPRNG itself. */
	if (crypt_gensalt_rn(prefix, count, NULL, 0, setting,
			     sizeof(setting)) == NULL)
		return error_set(err, ERR_TEMP, "crypt_gensalt(%s) failed",
				 prefix);
	cd = xcalloc(1, sizeof(*cd));
	hash = crypt_rn(plaintext, setting, cd, sizeof(*cd));
	if (hash == NULL || hash[0] == '*')
		ret = error_set(err, ERR_TEMP, "crypt(%s) failed", prefix);
	else
		buf_append_str(out, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

/* The "$id$" a named crypt scheme's data starts with. */
static const char *crypt_id(enum password_scheme scheme)
{
	switch (scheme) {
	case PASSWORD_SCHEME_BLF_CRYPT:
		return "$2";
	case PASSWORD_SCHEME_SHA512_CRYPT:
		return "$6$";
	case PASSWORD_SCHEME_SHA256_CRYPT:
		return "$5$";
	case PASSWORD_SCHEME_MD5_CRYPT:
		return "$1$";
	default:
		return "";
	}
}

/* Cost of a stored crypt hash: bcrypt cost or SHA-crypt rounds. */
static unsigned long crypt_cost(enum password_scheme scheme, const char *d)
{
	if (scheme == PASSWORD_SCHEME_BLF_CRYPT) {
		/* $2y$NN$ */
		if (strlen(d) < 7 || d[0] != '$' || d[1] != '2' ||
		    d[3] != '$' || d[6] != '$')
			return 0;
		return strtoul(d + 4, NULL, 10);
	}
	if (strlen(d) < 3)
		return 0;
	if (str_has_prefix(d + 3, "rounds="))
		return strtoul(d + 10, NULL, 10);
	return 5000; /* the SHA-crypt default when rounds= is absent */
}

/* ---- Argon2: libsodium ----------------------------------------------- */

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* A decimal number of at most 10 digits (no sign, no blanks). */
static bool parse_num(const char *s, unsigned long long *v_r,
		      const char **end_r)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 10; i++)
		v = v * 10 + (unsigned long long)(s[i] - '0');
	*v_r = v;
	*end_r = s + i;
	return i > 0;
}

/*
 * Check the PHC string "$argon2id$v=19$m=M,t=T,p=P$salt$hash" and get
 * m (KiB) and t.  libsodium's verify answers -1 both for a mismatch and
 * for garbage, so the shape is checked here to tell the two apart.
 */
static int argon2_params(const char *d, unsigned long long *m_r,
			 unsigned long long *t_r, struct error *err)
{
	unsigned long long v, m, t, p;
	const char *s, *end;
	int fields;

	if (str_has_prefix(d, "$argon2id$"))
		s = d + 10;
	else if (str_has_prefix(d, "$argon2i$"))
		s = d + 9;
	else
		goto bad;
	if (str_has_prefix(s, "v=")) {
		if (!parse_num(s + 2, &v, &end) || *end != '$')
			goto bad;
		s = end + 1;
	}
	if (!str_has_prefix(s, "m=") || !parse_num(s + 2, &m, &end) ||
	    !str_has_prefix(end, ",t=") || !parse_num(end + 3, &t, &end) ||
	    !str_has_prefix(end, ",p=") || !parse_num(end + 3, &p, &end) ||
	    *end != '$' || p == 0 || t == 0)
		goto bad;
	/* salt "$" hash, both unpadded base64 */
	for (s = end + 1, fields = 1; *s != '\0'; s++) {
		if (*s == '$')
			fields++;
		else if (!is_b64_char(*s))
			goto bad;
	}
	if (fields != 2 || s[-1] == '$' || strstr(end, "$$") != NULL)
		goto bad;
	if (m > PASSWORD_ARGON2_MAX_MEMORY / 1024)
		return error_set(err, ERR_PERM,
				 "argon2 hash asks for too much memory "
				 "(m=%llu KiB)",
				 m);
	*m_r = m;
	*t_r = t;
	return 0;
bad:
	return error_set(err, ERR_PERM, "malformed argon2 hash");
}

static int argon2_verify(const char *data, const char *plaintext,
			 struct error *err)
{
	unsigned long long m, t;

	if (argon2_params(data, &m, &t, err) < 0 || sodium_ready(err) < 0)
		return -1;
	if (crypto_pwhash_str_verify(data, plaintext, strlen(plaintext)) != 0)
		return 0;
	return 1;
}

static int argon2id_hash(const char *plaintext, struct buf *out,
			 struct error *err)
{
	char hash[crypto_pwhash_STRBYTES];

	if (sodium_ready(err) < 0)
		return -1;
	if (crypto_pwhash_str_alg(
		hash, plaintext, strlen(plaintext), PASSWORD_ARGON2ID_OPSLIMIT,
		PASSWORD_ARGON2ID_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return error_set(err, ERR_TEMP,
				 "argon2id hashing failed (out of memory)");
	buf_append_str(out, hash);
	return 0;
}

/* ---- SHA digests, Dovecot's {SHA512} / {SSHA512} formats -------------- */

static void digest(size_t digest_len, const char *plaintext,
		   const unsigned char *salt, size_t salt_len,
		   unsigned char *md)
{
	if (digest_len == crypto_hash_sha512_BYTES) {
		crypto_hash_sha512_state st;

		crypto_hash_sha512_init(&st);
		crypto_hash_sha512_update(&st, (const unsigned char *)plaintext,
					  strlen(plaintext));
		crypto_hash_sha512_update(&st, salt, salt_len);
		crypto_hash_sha512_final(&st, md);
	} else {
		crypto_hash_sha256_state st;

		crypto_hash_sha256_init(&st);
		crypto_hash_sha256_update(&st, (const unsigned char *)plaintext,
					  strlen(plaintext));
		crypto_hash_sha256_update(&st, salt, salt_len);
		crypto_hash_sha256_final(&st, md);
	}
}

static int decode_data(const char *data, enum encoding enc, size_t digest_len,
		       bool salted, unsigned char *bin, size_t bin_max,
		       size_t *bin_len_r)
{
	size_t len = strlen(data);
	const char *end;

	/* Like Dovecot, take hex for a base64 scheme when the length says
	 * it can only be hex. */
	if (enc == ENC_DEFAULT && !salted && len == digest_len * 2)
		enc = ENC_HEX;
	if (enc == ENC_HEX) {
		if (sodium_hex2bin(bin, bin_max, data, len, NULL, bin_len_r,
				   &end) == 0 &&
		    end == data + len)
			return 0;
		return -1;
	}
	if (sodium_base642bin(bin, bin_max, data, len, NULL, bin_len_r, &end,
			      sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    end == data + len)
		return 0;
	if (sodium_base642bin(bin, bin_max, data, len, NULL, bin_len_r, &end,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0 &&
	    end == data + len)
		return 0;
	return -1;
}

static int digest_verify(const struct scheme_def *def, enum encoding enc,
			 const char *data, const char *plaintext,
			 struct error *err)
{
	bool salted = def->scheme == PASSWORD_SCHEME_SSHA512 ||
		      def->scheme == PASSWORD_SCHEME_SSHA256;
	unsigned char bin[DIGEST_DATA_MAX], md[crypto_hash_sha512_BYTES];
	size_t bin_len;
	int ret;

	if (sodium_ready(err) < 0)
		return -1;
	if (strlen(data) > DIGEST_DATA_MAX ||
	    decode_data(data, enc, def->digest_len, salted, bin, sizeof(bin),
			&bin_len) < 0)
		return error_set(err, ERR_PERM, "malformed {%s} hash",
				 def->name);
	if (salted ? bin_len <= def->digest_len : bin_len != def->digest_len)
		return error_set(err, ERR_PERM,
				 "{%s} hash has the wrong length", def->name);
	digest(def->digest_len, plaintext, bin + def->digest_len,
	       bin_len - def->digest_len, md);
	ret = sodium_memcmp(md, bin, def->digest_len) == 0 ? 1 : 0;
	sodium_memzero(md, sizeof(md));
	return ret;
}

static int plain_verify(const char *data, const char *plaintext,
			struct error *err)
{
	unsigned char a[crypto_hash_sha512_BYTES], b[crypto_hash_sha512_BYTES];

	if (sodium_ready(err) < 0)
		return -1;
	/* Compare digests so that not even the length leaks. */
	crypto_hash_sha512(a, (const unsigned char *)data, strlen(data));
	crypto_hash_sha512(b, (const unsigned char *)plaintext,
			   strlen(plaintext));
	return sodium_memcmp(a, b, sizeof(a)) == 0 ? 1 : 0;
}

/* ---- public ----------------------------------------------------------- */

int password_hash(const char *scheme, const char *plaintext, struct buf *out,
		  struct error *err)
{
	enum password_scheme s;
	int ret;

	buf_reset(out);
	if (scheme == NULL)
		scheme = PASSWORD_DEFAULT_SCHEME;
	if (password_scheme_lookup(scheme, &s) != 1)
		return error_set(err, ERR_CONFIG, "unknown password scheme %s",
				 scheme);
	if (!password_scheme_can_hash(s))
		return error_set(err, ERR_CONFIG,
				 "password scheme %s is accepted for "
				 "verification only; use ARGON2ID, BLF-CRYPT, "
				 "SHA512-CRYPT or SHA256-CRYPT",
				 password_scheme_name(s));
	buf_printf(out, "{%s}", password_scheme_name(s));
	switch (s) {
	case PASSWORD_SCHEME_ARGON2ID:
		ret = argon2id_hash(plaintext, out, err);
		break;
	case PASSWORD_SCHEME_BLF_CRYPT:
		/* XXX bcrypt uses only the first 72 bytes, as in Dovecot. */
		ret = crypt_hash("$2y$", PASSWORD_BCRYPT_COST, plaintext, out,
				 err);
		break;
	case PASSWORD_SCHEME_SHA512_CRYPT:
		ret = crypt_hash("$6$", PASSWORD_SHACRYPT_ROUNDS, plaintext,
				 out, err);
		break;
	case PASSWORD_SCHEME_SHA256_CRYPT:
		ret = crypt_hash("$5$", PASSWORD_SHACRYPT_ROUNDS, plaintext,
				 out, err);
		break;
	default:
		ret = error_set(err, ERR_CONFIG, "cannot hash with %s",
				password_scheme_name(s));
		break;
	}
	if (ret < 0)
		buf_reset(out);
	return ret;
}

int password_verify(const char *stored, const char *plaintext,
		    struct error *err)
{
	enum password_scheme scheme;
	enum encoding enc;
	const char *data;

	if (parse_stored(stored, &scheme, &enc, &data, err) < 0)
		return -1;
	switch (scheme) {
	case PASSWORD_SCHEME_ARGON2ID:
	case PASSWORD_SCHEME_ARGON2I:
		return argon2_verify(data, plaintext, err);
	case PASSWORD_SCHEME_BLF_CRYPT:
	case PASSWORD_SCHEME_SHA512_CRYPT:
	case PASSWORD_SCHEME_SHA256_CRYPT:
	case PASSWORD_SCHEME_MD5_CRYPT:
		/* XXX stricter than Dovecot, which hands any string to
		 * crypt(3): "{SHA512-CRYPT}junk" would otherwise be taken
		 * as a DES hash and merely mismatch. */
		if (!str_has_prefix(data, crypt_id(scheme)))
			return error_set(
			    err, ERR_PERM, "{%s} hash does not start with %s",
			    password_scheme_name(scheme), crypt_id(scheme));
		return crypt_verify(data, plaintext, err);
	case PASSWORD_SCHEME_CRYPT:
		/* Like Dovecot, crypt(3) decides by the data's own id. */
		return crypt_verify(data, plaintext, err);
	case PASSWORD_SCHEME_SSHA512:
	case PASSWORD_SCHEME_SHA512:
	case PASSWORD_SCHEME_SSHA256:
	case PASSWORD_SCHEME_SHA256:
		return digest_verify(scheme_def(scheme), enc, data, plaintext,
				     err);
	case PASSWORD_SCHEME_PLAIN:
		return plain_verify(data, plaintext, err);
	case PASSWORD_SCHEME_UNKNOWN:
		break;
	}
	return error_set(err, ERR_PERM, "unknown password scheme");
}

bool password_needs_upgrade(const char *stored, const char *default_scheme)
{
	enum password_scheme have, want;
	enum encoding enc;
	const char *data;
	unsigned long long m, t;

	if (default_scheme == NULL)
		default_scheme = PASSWORD_DEFAULT_SCHEME;
	if (parse_stored(stored, &have, &enc, &data, NULL) < 0)
		return true;
	/* An unknown default is a config error reported elsewhere; do not
	 * churn hashes over it. */
	if (password_scheme_lookup(default_scheme, &want) != 1 ||
	    !password_scheme_can_hash(want))
		return false;
	if (have != want)
		return true;
	switch (have) {
	case PASSWORD_SCHEME_ARGON2ID:
		if (!str_has_prefix(data, "$argon2id$") ||
		    argon2_params(data, &m, &t, NULL) < 0)
			return true;
		return m * 1024 < PASSWORD_ARGON2ID_MEMLIMIT ||
		       t < PASSWORD_ARGON2ID_OPSLIMIT;
	case PASSWORD_SCHEME_BLF_CRYPT:
		return crypt_cost(have, data) < PASSWORD_BCRYPT_COST;
	case PASSWORD_SCHEME_SHA512_CRYPT:
		return !str_has_prefix(data, "$6$") ||
		       crypt_cost(have, data) < PASSWORD_SHACRYPT_ROUNDS;
	case PASSWORD_SCHEME_SHA256_CRYPT:
		return !str_has_prefix(data, "$5$") ||
		       crypt_cost(have, data) < PASSWORD_SHACRYPT_ROUNDS;
	default:
		return false;
	}
}
