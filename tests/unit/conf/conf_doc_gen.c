/* conf_doc_gen - print docs/config.md (same text as postern config --markdown).
 */
#include <stdio.h>

#include "conf/conf.h"
#include "core/buf.h"

int main(void)
{
	struct buf *b = buf_new();
	conf_doc_markdown(b);
	fwrite(buf_data(b), 1, buf_len(b), stdout);
	buf_free(&b);
	return fflush(stdout) == 0 ? 0 : 1;
}
