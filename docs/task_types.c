/* Prints the manual's table of task types (docs/manual.md, line
 * @TASK_TYPES@) from the registry itself, task_types[]: what a type is,
 * where it is created, what its result is and what it needs. The build runs
 * it when it renders the manual (docs/Makefile.inc). */
#include "tasks/task_type.h"
#include <stdio.h>

int main(void)
{
	puts("| type | name | created by | result | needs |");
	puts("|---|---|---|---|---|");
	for (size_t i = 0; task_types[i]; i++) {
		const struct task_type *t = task_types[i];
		printf("| %d | `%s` | `POST /2/tasks/%s` | %s | %s |\n", t->id, t->name, t->name,
		       t->result_is_zip ? "zip archive" : "JSON document",
		       t->needs_handlers ? "a handlers service (`[HANDLERS] URL`)" : "—");
	}
	return ferror(stdout) ? 1 : 0;
}
