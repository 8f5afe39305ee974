#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/list.h"

static void test_append_grows_and_terminates(void **state)
{
	struct buf *b = buf_new_size(1);
	for (int i = 0; i < 1000; i++)
		buf_append_str(b, "abc");
	assert_int_equal(buf_len(b), 3000);
	assert_int_equal(buf_data(b)[3000], '\0');
	assert_memory_equal(buf_data(b) + 2997, "abc", 3);
	buf_free(&b);
	assert_null(b);
}

static void test_binary_safe(void **state)
{
	struct buf *b = buf_new();
	buf_append(b, "a\0b", 3);
	assert_int_equal(buf_len(b), 3);
	assert_memory_equal(buf_data(b), "a\0b", 3);
	buf_free(&b);
}

static void test_printf_large(void **state)
{
	struct buf *b = buf_new_str("x=");
	char big[5000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(b, "%s/%d", big, 42);
	assert_int_equal(buf_len(b), 2 + 4999 + 3);
	assert_string_equal(buf_data(b) + 2 + 4999, "/42");
	buf_free(&b);
}

static void test_consume_truncate_steal(void **state)
{
	struct buf *b = buf_new_str("hello world");
	buf_consume(b, 6);
	assert_true(buf_eq_str(b, "world"));
	buf_truncate(b, 3);
	assert_true(buf_eq_str(b, "wor"));
	buf_consume(b, 99);
	assert_int_equal(buf_len(b), 0);
	buf_set_str(b, "mine");
	char *s = buf_steal(b);
	assert_string_equal(s, "mine");
	assert_int_equal(buf_len(b), 0);
	free(s);
	buf_free(&b);
}

struct item {
	int v;
	struct list_node node;
};

static void test_list(void **state)
{
	struct list_node head, *n, *tmp;
	struct item items[4];
	list_init(&head);
	assert_true(list_empty(&head));
	for (int i = 0; i < 4; i++) {
		items[i].v = i;
		list_push_back(&head, &items[i].node);
	}
	assert_int_equal(list_count(&head), 4);
	LIST_FOREACH(n, tmp, &head)
	{
		if (LIST_ENTRY(n, struct item, node)->v % 2 == 0)
			list_remove(n);
	}
	assert_int_equal(list_count(&head), 2);
	assert_int_equal(LIST_ENTRY(list_first(&head), struct item, node)->v,
			 1);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_array(void **state)
{
	struct array *a = array_new();
	array_push(a, "c");
	array_push(a, "a");
	array_push(a, "b");
	array_sort(a, cmp_str);
	assert_string_equal(array_get(a, 0), "a");
	assert_string_equal(array_get(a, 2), "c");
	array_remove(a, 0);
	assert_int_equal(array_len(a), 2);
	assert_string_equal(array_get(a, 0), "b");
	assert_null(array_get(a, 5));
	assert_string_equal(array_pop(a), "c");
	array_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_grows_and_terminates),
		cmocka_unit_test(test_binary_safe),
		cmocka_unit_test(test_printf_large),
		cmocka_unit_test(test_consume_truncate_steal),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_array),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
