#include "list.h"

size_t list_count(const struct list_node *head)
{
	size_t n = 0;
	for (const struct list_node *p = head->next; p != head; p = p->next)
		n++;
	return n;
}
