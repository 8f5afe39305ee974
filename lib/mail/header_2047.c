/* header_2047 - RFC 2047 encoded-word decoding (see header.h). */
#include "mail/header.h"

#include <string.h>
#include <strings.h>

#include "mail/mime_decode.h"

/* Decoded bytes of adjacent encoded words in one charset, converted
 * together so a multi-byte character split across words survives. */
struct pending {
	struct buf *bytes;
	char charset[64];
};

static void flush(struct pending *pd, struct buf *out)
{
	if (buf_len(pd->bytes) > 0)
		mime_charset_to_utf8(pd->charset, buf_data(pd->bytes),
				     buf_len(pd->bytes), out);
	buf_reset(pd->bytes);
	pd->charset[0] = '\0';
}

/* Parse "=?cs?e?text?=" at s[0..len): true with the pieces filled. */
static bool parse_word(const char *s, size_t len, size_t *word_len_r,
		       const char **cs_r, size_t *cs_len_r, char *enc_r,
		       const char **text_r, size_t *text_len_r)
{
	if (len < 8 || s[0] != '=' || s[1] != '?')
		return false;
	size_t i = 2;
	while (i < len && s[i] != '?' && s[i] != ' ' && s[i] != '\t')
		i++;
	if (i >= len || s[i] != '?' || i == 2 || i - 2 >= 63)
		return false;
	*cs_r = s + 2;
	*cs_len_r = i - 2;
	i++;
	if (i + 1 >= len || s[i + 1] != '?')
		return false;
	char e = s[i];
	if (e != 'B' && e != 'b' && e != 'Q' && e != 'q')
		return false;
	*enc_r = (e == 'B' || e == 'b') ? 'B' : 'Q';
	i += 2;
	size_t t = i;
	/* The text has no blanks (RFC 2047 5), but mailers do break that
	 * rule; we stay strict, like Dovecot, to avoid eating "?=" far off. */
	while (i + 1 < len && !(s[i] == '?' && s[i + 1] == '=')) {
		if (s[i] == ' ' || s[i] == '\t')
			return false;
		i++;
	}
	if (i + 1 >= len)
		return false;
	*text_r = s + t;
	*text_len_r = i - t;
	*word_len_r = i + 2;
	return true;
}

static bool all_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	}
	return true;
}

void header_decode_2047(const char *value, size_t len, struct buf *out)
{
	struct buf *v = buf_new_size(len + 1);
	header_unfold(value, len, v);
	const char *s = buf_data(v);
	size_t n = buf_len(v);
	struct pending pd = {.bytes = buf_new(), .charset = ""};
	size_t lit = 0; /* start of literal text not yet written */
	bool after_word = false;

	for (size_t i = 0; i < n;) {
		size_t wlen, cslen, tlen;
		const char *cs, *text;
		char enc;
		if (s[i] != '=' || !parse_word(s + i, n - i, &wlen, &cs, &cslen,
					       &enc, &text, &tlen)) {
			i++;
			continue;
		}
		/* Blanks between two encoded words disappear. */
		if (!(after_word && all_blank(s + lit, i - lit))) {
			flush(&pd, out);
			mime_utf8_sanitize(s + lit, i - lit, out);
		}
		char charset[64];
		memcpy(charset, cs, cslen);
		charset[cslen] = '\0';
		char *star = strchr(charset, '*'); /* RFC 2231 language */
		if (star != NULL)
			*star = '\0';
		if (strcasecmp(charset, pd.charset) != 0) {
			flush(&pd, out);
			memcpy(pd.charset, charset, strlen(charset) + 1);
		}
		if (enc == 'B')
			mime_base64_decode(text, tlen, pd.bytes);
		else
			mime_q_decode(text, tlen, pd.bytes);
		i += wlen;
		lit = i;
		after_word = true;
	}
	flush(&pd, out);
	mime_utf8_sanitize(s + lit, n - lit, out);
	buf_free(&pd.bytes);
	buf_free(&v);
}
