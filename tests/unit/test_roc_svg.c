/* The ROC picture of GET /2/tasks/{id}/result (src/api/roc_svg.c): the SVG is
 * well-formed XML (checked by a small parser below: every element closed in
 * order, attributes quoted, no bare '<' or '&' in text), its polyline has
 * one point per point of the result at the documented coordinates, and the
 * key points and the equal-error point are drawn. */
#include "api/roc_svg.h"
#include "tests/unit/check.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

static json_object *point(double fpr, double tpr, double sim)
{
	json_object *p = json_object_new_object();
	json_object_object_add(p, "FPR", json_object_new_double(fpr));
	json_object_object_add(p, "TPR", json_object_new_double(tpr));
	json_object_object_add(p, "similarity", json_object_new_double(sim));
	return p;
}

/* A result document of n curve points, nkeys key points and the EER point
 * (or null); top-5 is null, as the service writes it when undefined. */
static json_object *roc_doc(int n, int nkeys, int with_eer)
{
	json_object *roc = json_object_new_array();
	for (int i = 0; i < n; i++) {
		double f = n > 1 ? (double)i / (n - 1) : 0;
		json_object_array_add(roc, point(f * f, sqrt(f), 1.0 - f));
	}
	json_object *keys = json_object_new_array();
	for (int i = 0; i < nkeys; i++)
		json_object_array_add(keys, point(pow(10, -i - 1), 0.9 - 0.1 * i, 0.8));
	json_object *hits = json_object_new_object();
	for (int i = 1; i <= 4; i++) {
		char key[8];
		snprintf(key, sizeof(key), "top-%d", i);
		json_object_object_add(hits, key, json_object_new_double(0.9 + 0.01 * i));
	}
	json_object_object_add(hits, "top-5", NULL);
	json_object *result = json_object_new_object();
	json_object_object_add(result, "roc", roc);
	json_object_object_add(result, "hit_top_probability", hits);
	json_object_object_add(result, "auc", json_object_new_double(0.987654));
	json_object_object_add(result, "type_I_and_II_error_rates_equal_point",
			       with_eer ? point(0.0625, 0.9375, 0.55) : NULL);
	json_object_object_add(result, "key_points", keys);
	json_object *doc = json_object_new_object();
	json_object_object_add(doc, "result", result);
	json_object_object_add(doc, "errors", json_object_new_array());
	return doc;
}

/* The name at p (letters, digits, '-', '_', ':'); its length. */
static size_t name_len(const char *p)
{
	size_t n = 0;
	while (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_' || p[n] == ':')
		n++;
	return n;
}

/* Attributes up to '>' or "/>": name="value" with no '<' or '&' in the value. */
static const char *skip_attributes(const char *p)
{
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '>' || (p[0] == '/' && p[1] == '>'))
			return p;
		size_t n = name_len(p);
		if (n == 0 || p[n] != '=' || p[n + 1] != '"')
			return NULL;
		p += n + 2;
		while (*p && *p != '"' && *p != '<' && *p != '&')
			p++;
		if (*p != '"')
			return NULL;
		p++;
	}
}

/* Well-formed as far as this picture needs: one XML declaration, then
 * elements properly nested under one root, text without '<' or '&'. */
static int well_formed(const char *s)
{
	const char *stack[MAX_DEPTH];
	size_t lens[MAX_DEPTH], depth = 0;
	int roots = 0;
	if (strncmp(s, "<?xml ", 6) != 0 || !(s = strstr(s, "?>")))
		return 0;
	for (s += 2; *s;) {
		if (*s == '&')
			return 0;
		if (*s != '<') {
			if (depth == 0 && !isspace((unsigned char)*s))
				return 0;
			s++;
			continue;
		}
		if (s[1] == '/') {
			size_t n = name_len(s + 2);
			if (depth == 0 || n != lens[depth - 1] || strncmp(s + 2, stack[depth - 1], n) || s[2 + n] != '>')
				return 0;
			depth--;
			s += 3 + n;
			continue;
		}
		size_t n = name_len(s + 1);
		const char *end = n ? skip_attributes(s + 1 + n) : NULL;
		if (!end || (depth == 0 && roots++))
			return 0;
		if (*end == '>') {
			if (depth == MAX_DEPTH)
				return 0;
			stack[depth] = s + 1;
			lens[depth++] = n;
			s = end + 1;
		} else {
			s = end + 2;
		}
	}
	return depth == 0 && roots == 1;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* The polyline's points checked against the result's: x from FPR, y from TPR. */
static void check_curve(const char *svg, json_object *roc)
{
	const char *p = strstr(svg, "<polyline class=\"roc\" points=\"");
	CHECK(p != NULL);
	if (!p)
		return;
	p += strlen("<polyline class=\"roc\" points=\"");
	size_t n = json_object_array_length(roc), i = 0, bad = 0;
	while (*p != '"') {
		char *end;
		double x = strtod(p, &end);
		if (*end != ',')
			break;
		double y = strtod(end + 1, &end);
		if (i < n) {
			json_object *pt = json_object_array_get_idx(roc, i), *f, *t;
			json_object_object_get_ex(pt, "FPR", &f);
			json_object_object_get_ex(pt, "TPR", &t);
			double want_x = ROC_SVG_X0 + json_object_get_double(f) * ROC_SVG_PLOT_W;
			double want_y = ROC_SVG_Y0 + (1 - json_object_get_double(t)) * ROC_SVG_PLOT_H;
			bad += fabs(x - want_x) > 0.006 || fabs(y - want_y) > 0.006;
		}
		i++;
		p = *end == ' ' ? end + 1 : end;
	}
	CHECK(i == n, "%zu points drawn, %zu in the result", i, n);
	CHECK(bad == 0, "%zu points off their place", bad);
}

static void test_full_result(void)
{
	json_object *doc = roc_doc(2001, 4, 1);
	size_t len = 0;
	char *svg = roc_svg_render(doc, &len);
	CHECK(svg != NULL && len == strlen(svg));
	if (svg) {
		CHECK(well_formed(svg), "not well-formed:\n%.400s", svg);
		CHECK(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
		check_curve(svg, json_object_object_get(json_object_object_get(doc, "result"), "roc"));
		CHECK(count(svg, "class=\"key-point\"") == 4);
		CHECK(count(svg, "<circle class=\"eer\" cx=\"103.75\" cy=\"63.75\"") == 1, "%s", strstr(svg, "eer"));
		CHECK(strstr(svg, "AUC 0.987654") != NULL);
		CHECK(strstr(svg, "top-4 0.9400") != NULL && strstr(svg, "top-5 -") != NULL);
		CHECK(strstr(svg, "http") == strstr(svg, "http://www.w3.org/2000/svg"), "nothing links elsewhere");
	}
	free(svg);
	json_object_put(doc);
}

static void test_without_eer_or_points(void)
{
	json_object *doc = roc_doc(0, 0, 0);
	size_t len = 0;
	char *svg = roc_svg_render(doc, &len);
	CHECK(svg != NULL);
	if (svg) {
		CHECK(well_formed(svg));
		CHECK(strstr(svg, "points=\"\"") != NULL);
		CHECK(count(svg, "class=\"eer\"") == 0 && count(svg, "class=\"key-point\"") == 0);
	}
	free(svg);
	json_object_put(doc);
}

static void test_not_a_roc_result(void)
{
	size_t len = 0;
	json_object *doc = json_tokener_parse("{\"result\": {\"clusters\": []}, \"errors\": []}");
	CHECK(roc_svg_render(doc, &len) == NULL);
	json_object_put(doc);
	CHECK(roc_svg_render(NULL, &len) == NULL);
}

static void test_checker_can_fail(void)
{
	CHECK(!well_formed("<?xml version=\"1.0\"?><svg><g></svg></g>"));
	CHECK(!well_formed("<?xml version=\"1.0\"?><svg a=b/>"));
	CHECK(!well_formed("<?xml version=\"1.0\"?><svg>a & b</svg>"));
	CHECK(!well_formed("<?xml version=\"1.0\"?><svg/><svg/>"));
	CHECK(well_formed("<?xml version=\"1.0\"?>\n<svg a=\"1\"><g/><text>x</text></svg>\n"));
}

int main(void)
{
	test_checker_can_fail();
	test_full_result();
	test_without_eer_or_points();
	test_not_a_roc_result();
	return CHECK_DONE();
}
