/* Unit tests of the text writers of src/tasks/task_util.c: a document written
 * as text holds the very bytes json-c writes for the same values
 * (JSON_C_TO_STRING_PLAIN). */
#include "tasks/task_util.h"
#include "tests/unit/check.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text of task_text_similarity next to json-c's of task_json_similarity
 * and printf's "%.6f" of the clamped value. */
static void check_similarity(double sim)
{
	struct printbuf *pb = printbuf_new();
	json_object *node = task_json_similarity(sim);
	char want[64];
	double clamped = sim < 0 ? 0 : sim > 1 ? 1 : sim;
	snprintf(want, sizeof(want), "%.6f", clamped);
	task_text_similarity(pb, sim);
	CHECK(strcmp(pb->buf, want) == 0, "%.17g: %s, printf %s", sim, pb->buf, want);
	CHECK(strcmp(json_object_to_json_string_ext(node, JSON_C_TO_STRING_PLAIN), want) == 0, "%.17g", sim);
	json_object_put(node);
	printbuf_free(pb);
}

static void test_similarity(void)
{
	/* Ties at the seventh decimal (k / 128) round to even as printf does. */
	for (int k = 0; k <= 128; k++)
		check_similarity(k / 128.0);
	check_similarity(-0.25);
	check_similarity(1.5);
	check_similarity(0.1234565);   /* not a float: printf's own path */
	uint64_t s = 12345;
	for (int i = 0; i < 200000; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		check_similarity((float)((double)(s >> 11) / 9007199254740992.0));
	}
}

static void check_string(const char *s)
{
	struct printbuf *pb = printbuf_new();
	json_object *str = json_object_new_string(s);
	task_text_string(pb, s);
	const char *want = json_object_to_json_string_ext(str, JSON_C_TO_STRING_PLAIN);
	CHECK(strcmp(pb->buf, want) == 0, "%s: %s, json-c %s", s, pb->buf, want);
	json_object_put(str);
	printbuf_free(pb);
}

static void test_strings(void)
{
	check_string("3f6c1d2e-8b4a-4c7e-9d1f-5a2b3c4d5e6f");
	check_string("");
	check_string("a/b");
	check_string("q\"uote\\back");
	check_string("tab\there\nnew\x01\x1f");
	check_string("caf\xc3\xa9 \x7f");
}

/* A node holding text is written as that text, inside other nodes too. */
static void test_text_node(void)
{
	struct printbuf *pb = printbuf_new();
	printbuf_strappend(pb, "[{\"a\":1}]");
	json_object *doc = json_object_new_object();
	json_object_object_add(doc, "result", task_json_text_array(pb));
	json_object_object_add(doc, "errors", json_object_new_array());
	const char *got = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	CHECK(strcmp(got, "{\"result\":[{\"a\":1}],\"errors\":[]}") == 0, "%s", got);
	json_object_put(doc);
}

int main(void)
{
	test_similarity();
	test_strings();
	test_text_node();
	return CHECK_DONE();
}
