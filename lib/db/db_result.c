/*
 * db_result.c - rows as text, the same for every driver.
 *
 * Cells are copied out of the driver's buffers, so a result outlives the
 * connection it came from and the connection goes back to the pool at
 * once.  A NULL cell pointer is SQL NULL; "" is the empty string.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "db-private.h"

struct db_result {
	size_t rows, cols, cap_rows;
	char **names;
	char **cells; /* rows * cols, row-major */
};

struct db_result *db_result_new(size_t cols)
{
	struct db_result *res = xcalloc(1, sizeof(*res));
	res->cols = cols;
	res->names = xcalloc(cols == 0 ? 1 : cols, sizeof(char *));
	return res;
}

void db_result_set_colname(struct db_result *res, size_t col, const char *name)
{
	ASSERT(col < res->cols);
	free(res->names[col]);
	res->names[col] = xstrdup(name == NULL ? "" : name);
}

size_t db_result_add_row(struct db_result *res)
{
	if (res->rows == res->cap_rows) {
		res->cap_rows = res->cap_rows == 0 ? 8 : res->cap_rows * 2;
		res->cells = xreallocarray(
		    res->cells, res->cap_rows * (res->cols ? res->cols : 1),
		    sizeof(char *));
	}
	memset(res->cells + res->rows * res->cols, 0,
	       res->cols * sizeof(char *));
	return res->rows++;
}

void db_result_set(struct db_result *res, size_t row, size_t col,
		   const char *value, size_t len)
{
	ASSERT(row < res->rows && col < res->cols);
	char **cell = &res->cells[row * res->cols + col];
	free(*cell);
	*cell = value == NULL ? NULL : xstrndup(value, len);
}

size_t db_result_rows(const struct db_result *res)
{
	return res->rows;
}

size_t db_result_cols(const struct db_result *res)
{
	return res->cols;
}

const char *db_result_value(const struct db_result *res, size_t row, size_t col)
{
	if (row >= res->rows || col >= res->cols)
		panic("db_result_value: cell %zu,%zu outside %zux%zu", row, col,
		      res->rows, res->cols);
	return res->cells[row * res->cols + col];
}

const char *db_result_colname(const struct db_result *res, size_t col)
{
	ASSERT(col < res->cols);
	return res->names[col] == NULL ? "" : res->names[col];
}

void db_result_free(struct db_result **resp)
{
	struct db_result *res = *resp;
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->rows * res->cols; i++)
		free(res->cells[i]);
	for (size_t i = 0; i < res->cols; i++)
		free(res->names[i]);
	free(res->cells);
	free(res->names);
	free(res);
	*resp = NULL;
}
