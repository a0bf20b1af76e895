/* test_jsts.c - runs the JSON-Schema-Test-Suite draft4 cases against the validator.
 *
 * Usage: test_jsts DIR   (DIR = .../json-schema-test-suite/tests/draft4)
 *
 * Every case of the files below is run, except these skips (not supported):
 *   - refRemote.json (whole file): remote references.
 *   - definitions.json "valid definition" / "invalid definition": $ref to the remote
 *     draft-04 meta-schema.
 *   - ref.json "remote ref, containing refs itself": remote meta-schema;
 *     "Recursive references between schemas": resolution against "id" base URIs.
 *   - optional/format.json "validation of IPv6 addresses" and "validation of host
 *     names": formats we do not check (unknown formats are ignored).
 *   - optional/ecmascript-regex.json: the "regex" format is not checked.
 * optional/bignum.json, optional/zeroTerminatedFloats.json and the other
 * optional/format.json groups run in full.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/schema.h"

struct skip {
	const char *file;
	const char *group;	/* NULL: the whole file */
};

static const struct skip skips[] = {
	{ "refRemote.json", NULL },
	{ "definitions.json", "valid definition" },
	{ "definitions.json", "invalid definition" },
	{ "ref.json", "remote ref, containing refs itself" },
	{ "ref.json", "Recursive references between schemas" },
	{ "optional/format.json", "validation of IPv6 addresses" },
	{ "optional/format.json", "validation of host names" },
	{ "optional/ecmascript-regex.json", NULL },
};

struct counts {
	int passed, failed, skipped_cases, skipped_groups;
};

static int is_skipped(const char *file, const char *group)
{
	size_t i;

	for (i = 0; i < sizeof(skips) / sizeof(skips[0]); i++)
		if (!strcmp(skips[i].file, file) && (!skips[i].group || !strcmp(skips[i].group, group)))
			return 1;
	return 0;
}

static void run_case(const char *file, const char *group, struct spec *s, json_object *schema,
		     json_object *test, struct counts *n)
{
	json_object *data = NULL, *valid = NULL, *desc = NULL;
	struct schema_error err;
	int expect, got;

	json_object_object_get_ex(test, "data", &data);
	json_object_object_get_ex(test, "valid", &valid);
	json_object_object_get_ex(test, "description", &desc);
	expect = json_object_get_boolean(valid);
	got = schema_validate(s, schema, data, 0, &err) == 0;
	if (got == expect) {
		n->passed++;
		return;
	}
	n->failed++;
	printf("FAIL %s | %s | %s: expected %s, got %s (%s: %s)\n", file, group,
	       json_object_get_string(desc), expect ? "valid" : "invalid",
	       got ? "valid" : "invalid", err.path, err.message);
}

static void run_group(const char *file, json_object *g, struct counts *n)
{
	json_object *schema = NULL, *tests = NULL, *desc = NULL;
	const char *group;
	struct spec *s;
	size_t i, cnt;

	json_object_object_get_ex(g, "schema", &schema);
	json_object_object_get_ex(g, "tests", &tests);
	json_object_object_get_ex(g, "description", &desc);
	group = json_object_get_string(desc);
	cnt = json_object_array_length(tests);
	if (is_skipped(file, group)) {
		n->skipped_groups++;
		n->skipped_cases += (int)cnt;
		return;
	}
	s = spec_wrap(schema);
	if (!s) {
		printf("FAIL %s | %s: out of memory\n", file, group);
		n->failed++;
		return;
	}
	for (i = 0; i < cnt; i++)
		run_case(file, group, s, schema, json_object_array_get_idx(tests, i), n);
	spec_free(s);
}

static int run_file(const char *dir, const char *file, struct counts *n)
{
	char path[4096];
	json_object *root;
	size_t i, cnt;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	root = json_object_from_file(path);
	if (!root) {
		printf("FAIL cannot read %s\n", path);
		n->failed++;
		return -1;
	}
	cnt = json_object_array_length(root);
	for (i = 0; i < cnt; i++)
		run_group(file, json_object_array_get_idx(root, i), n);
	json_object_put(root);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the *.json files of dir/sub (sub may be "") to *names. */
static int list_files(const char *dir, const char *sub, char ***names, size_t *count)
{
	char path[4096];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **nn;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		nn = realloc(*names, (*count + 1) * sizeof(*nn));
		if (!nn)
			break;
		*names = nn;
		nn[*count] = malloc(strlen(sub) + len + 2);
		if (!nn[*count])
			break;
		sprintf(nn[*count], "%s%s%s", sub, *sub ? "/" : "", de->d_name);
		(*count)++;
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	struct counts n = { 0, 0, 0, 0 };
	char **names = NULL;
	size_t i, count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s /usr/share/json-schema-test-suite/tests/draft4\n", argv[0]);
		return 2;
	}
	if (list_files(argv[1], "", &names, &count)) {
		printf("FAIL cannot open %s\n", argv[1]);
		printf("0 passed, 1 failed\n");
		return 1;
	}
	list_files(argv[1], "optional", &names, &count);
	qsort(names, count, sizeof(*names), cmp_names);
	for (i = 0; i < count; i++) {
		run_file(argv[1], names[i], &n);
		free(names[i]);
	}
	free(names);
	printf("%zu files, skipped %d cases in %d groups\n", count, n.skipped_cases,
	       n.skipped_groups);
	printf("%d passed, %d failed\n", n.passed, n.failed);
	return n.failed || !count ? 1 : 0;
}
