/* luna-tasks-admin import: loads objects into the local objects database. */
#include "admin/admin.h"
#include "common/errors.h"
#include <stdio.h>

int admin_import(struct admin *ad, int argc, char **argv)
{
	(void)ad;
	(void)argc;
	(void)argv;
	fprintf(stderr, "import: %s\n", luna_error_def(E_NOT_IMPLEMENTED)->detail_fmt);
	return 1;
}
