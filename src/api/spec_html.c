/* Renders the OpenAPI spec as one HTML page: a table of contents, every
 * operation grouped by tag (parameters, request body, every response with
 * its examples) and every component schema (type, constraints, composition,
 * a properties table with required marks; $refs become in-page links).
 *
 * The page is built once per api process and cached by the caller, so the
 * code favours plainness over speed. It writes through an open_memstream(3)
 * buffer; every string taken from the spec is HTML-escaped on the way out. */
#include "api/spec_html.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMAS_REF "#/components/schemas/"
#define MAX_DEPTH 6            /* nesting of inline schemas rendered in place */

struct page {
	FILE *f;
	const struct spec *spec;
};

/* One operation of the spec, in path order. */
struct op {
	const char *path, *method, *tag;
	json_object *op, *path_item;
};

struct op_list {
	struct op *v;
	size_t n, cap;
};

static const char *const methods[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace", NULL};

static const char page_css[] =
	"*{box-sizing:border-box}"
	"body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
	"color:#1d2330;background:#f6f7f9}"
	"a{color:#1559b3;text-decoration:none}a:hover{text-decoration:underline}"
	"code,pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:13px}"
	"code{background:#eef1f5;border-radius:3px;padding:0 3px}"
	"pre{background:#1f2430;color:#e6e9ef;padding:10px 12px;border-radius:6px;overflow:auto;max-height:420px}"
	"pre code{background:none;padding:0}"
	"#toc{position:fixed;top:0;left:0;bottom:0;width:310px;overflow:auto;background:#fff;"
	"border-right:1px solid #dde1e7;padding:14px 12px;font-size:13px}"
	"#toc h2{font-size:15px;margin:12px 0 6px}#toc ul{list-style:none;margin:0;padding:0 0 0 8px}"
	"#toc li{margin:1px 0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}"
	"#toc .tag{font-weight:600;margin-top:6px}"
	"#filter{width:100%;padding:6px 8px;border:1px solid #c8ced8;border-radius:4px;font-size:13px}"
	"main{margin-left:310px;padding:20px 36px 60px;max-width:1280px}"
	"header h1{margin:0 0 4px;font-size:28px}.ver{color:#5b6475}"
	"h2.grp{margin:36px 0 10px;padding-bottom:4px;border-bottom:2px solid #dde1e7;font-size:22px}"
	"section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 18px;margin:14px 0;overflow-x:auto}"
	"section h3{margin:0 0 6px;font-size:18px;word-break:break-all}"
	"h4{margin:14px 0 6px;font-size:14px;text-transform:uppercase;letter-spacing:.04em;color:#5b6475}"
	".m{display:inline-block;min-width:64px;text-align:center;border-radius:4px;color:#fff;"
	"font:600 12px/20px 'DejaVu Sans Mono',monospace;padding:0 6px;margin-right:6px;vertical-align:1px}"
	"#toc .m{min-width:50px;font-size:10px;line-height:16px}"
	".m-get{background:#2f80d1}.m-post{background:#2e9d5b}.m-put{background:#c9821a}"
	".m-patch{background:#8e5bc9}.m-delete{background:#cc3d3d}.m-head,.m-options,.m-trace{background:#6b7280}"
	".path{font-size:16px;background:none}.sum{color:#5b6475;font-weight:400;font-size:15px}"
	".meta{color:#5b6475;font-size:13px;margin:0 0 6px}"
	".desc{white-space:pre-line;margin:4px 0}"
	"table{border-collapse:collapse;width:100%;margin:4px 0 8px;font-size:14px}"
	"th,td{border:1px solid #e1e5eb;padding:5px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}"
	"th{background:#f1f3f6;font-weight:600}td table{font-size:13px;margin:6px 0 2px}"
	"td.in{white-space:nowrap}td>.desc:first-child{margin-top:0}"
	"td td,td th{padding:3px 5px}"
	"details{margin:4px 0}summary{cursor:pointer;color:#5b6475;font-size:13px}"
	".req{color:#cc3d3d;font-weight:700;margin-left:2px}"
	".cons{display:block;color:#3d4554;font-size:13px}.cons b{font-weight:600;color:#5b6475}"
	".cons code{overflow-wrap:anywhere}"
	".resp{border-left:4px solid #c8ced8;padding:2px 0 2px 12px;margin:10px 0}"
	".resp.s2{border-color:#2e9d5b}.resp.s4{border-color:#c9821a}.resp.s5{border-color:#cc3d3d}"
	".code{font-weight:700;font-family:'DejaVu Sans Mono',monospace;margin-right:8px}"
	".exname{font-size:13px;color:#5b6475;margin:6px 0 2px}"
	".comp ul{margin:4px 0;padding-left:22px}"
	"@media (max-width:900px){#toc{position:static;width:auto;max-height:none;border:0}main{margin:0;padding:12px}}"
	"@media print{#toc{display:none}main{margin:0}}";

/* Filters the table of contents as the reader types. */
static const char page_js[] =
	"(function(){var f=document.getElementById('filter');if(!f)return;"
	"f.addEventListener('input',function(){var q=f.value.toLowerCase();"
	"var items=document.querySelectorAll('#toc li.e');"
	"for(var i=0;i<items.length;i++){var li=items[i];"
	"li.style.display=li.textContent.toLowerCase().indexOf(q)<0?'none':'';}});})();";

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int get_true(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static size_t array_len(json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void esc_n(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		switch (s[i]) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(s[i], f);
		}
	}
}

static void esc(FILE *f, const char *s)
{
	if (s)
		esc_n(f, s, strlen(s));
}

/* An HTML id from prefix and name: only [A-Za-z0-9_.-], anything else as '_'. */
static void put_id(FILE *f, const char *prefix, const char *name)
{
	fputs(prefix, f);
	for (const char *c = name; *c; c++) {
		int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			 *c == '_' || *c == '-' || *c == '.';
		fputc(ok ? *c : '_', f);
	}
}

/* Where an operation is anchored: its operationId, else method and path. */
static void put_op_id(FILE *f, const struct op *o)
{
	const char *id = get_str(o->op, "operationId");
	if (id) {
		put_id(f, "op-", id);
		return;
	}
	put_id(f, "op-", o->method);
	put_id(f, "-", o->path);
}

/* Length of an inline span opened by mark at s[0], or 0 when it is not closed
 * on the same line. */
static size_t span_len(const char *s, char mark)
{
	if (s[1] == '\0' || s[1] == ' ' || s[1] == mark)
		return 0;
	for (size_t i = 1; s[i] && s[i] != '\n'; i++)
		if (s[i] == mark)
			return i + 1;
	return 0;
}

/* Free text of the spec (descriptions): escaped, `code` and *emphasis*
 * marked up, trailing blank lines dropped; line breaks are kept by CSS. */
static void put_text(FILE *f, const char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		n--;
	for (size_t i = 0; i < n;) {
		size_t len = (s[i] == '`' || s[i] == '*') ? span_len(s + i, s[i]) : 0;
		if (len && i + len <= n) {
			fputs(s[i] == '`' ? "<code>" : "<em>", f);
			esc_n(f, s + i + 1, len - 2);
			fputs(s[i] == '`' ? "</code>" : "</em>", f);
			i += len;
			continue;
		}
		esc_n(f, s + i, 1);
		i++;
	}
}

static void put_desc(FILE *f, json_object *o)
{
	const char *d = get_str(o, "description");
	json_object *all = get(o, "allOf");
	/* allOf: [{$ref, description}] carries the text next to the reference. */
	if (!d && array_len(all) == 1)
		d = get_str(json_object_array_get_idx(all, 0), "description");
	if (!d || !*d)
		return;
	fputs("<div class=\"desc\">", f);
	put_text(f, d);
	fputs("</div>\n", f);
}

/* A number the way a person wrote it: the shortest of %.15g and %.17g that
 * reads back as the same double (0.99, not 0.98999999999999999). */
static void put_double(FILE *f, double d)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, sizeof(buf), "%.17g", d);
	esc(f, buf);
}

static void put_indent(FILE *f, int pretty, int level)
{
	if (!pretty)
		return;
	fputc('\n', f);
	for (int i = 0; i < level; i++)
		fputs("  ", f);
}

/* JSON text of v, escaped for HTML; pretty: two-space indentation. */
static void put_json(FILE *f, json_object *v, int pretty, int level)
{
	size_t i = 0;
	switch (json_object_get_type(v)) {
	case json_type_double:
		put_double(f, json_object_get_double(v));
		return;
	case json_type_object:
		if (!json_object_object_length(v)) {
			fputs("{}", f);
			return;
		}
		fputc('{', f);
		json_object_object_foreach(v, key, member) {
			fputs(i++ ? (pretty ? "," : ", ") : "", f);
			put_indent(f, pretty, level + 1);
			json_object *k = json_object_new_string(key);
			esc(f, k ? json_object_to_json_string_ext(k, JSON_C_TO_STRING_NOSLASHESCAPE) : "\"\"");
			json_object_put(k);
			fputs(": ", f);
			put_json(f, member, pretty, level + 1);
		}
		put_indent(f, pretty, level);
		fputc('}', f);
		return;
	case json_type_array:
		if (!json_object_array_length(v)) {
			fputs("[]", f);
			return;
		}
		fputc('[', f);
		for (i = 0; i < json_object_array_length(v); i++) {
			fputs(i ? (pretty ? "," : ", ") : "", f);
			put_indent(f, pretty, level + 1);
			put_json(f, json_object_array_get_idx(v, i), pretty, level + 1);
		}
		put_indent(f, pretty, level);
		fputc(']', f);
		return;
	default:
		esc(f, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
}

/* A value as compact JSON (enum members, defaults, short examples). */
static void put_value(FILE *f, json_object *v)
{
	fputs("<code>", f);
	put_json(f, v, 0, 0);
	fputs("</code>", f);
}

/* A block example: strings as they are (text/plain, CSV), the rest as pretty JSON. */
static void put_example(FILE *f, const char *name, json_object *v)
{
	if (name) {
		fputs("<div class=\"exname\">Example <code>", f);
		esc(f, name);
		fputs("</code></div>", f);
	} else {
		fputs("<div class=\"exname\">Example</div>", f);
	}
	fputs("<pre><code>", f);
	if (json_object_is_type(v, json_type_string))
		esc(f, json_object_get_string(v));
	else
		put_json(f, v, 1, 0);
	fputs("</code></pre>\n", f);
}

/* `example` and `examples` ({name: {summary, value}}) of a media type or parameter. */
static void put_examples(FILE *f, json_object *o)
{
	json_object *ex = get(o, "example");
	if (ex)
		put_example(f, NULL, ex);
	json_object *all = get(o, "examples");
	if (!all || !json_object_is_type(all, json_type_object))
		return;
	json_object_object_foreach(all, name, e) {
		const char *summary = get_str(e, "summary");
		if (summary) {
			fputs("<div class=\"exname\">", f);
			esc(f, summary);
			fputs("</div>", f);
		}
		json_object *value = get(e, "value");
		put_example(f, name, value ? value : e);
	}
}

/* A schema name that may wrap after its underscores (long names in narrow cells). */
static void put_name_wrapping(FILE *f, const char *name)
{
	for (const char *c = name; *c; c++) {
		esc_n(f, c, 1);
		if (*c == '_' && c[1])
			fputs("<wbr>", f);
	}
}

/* The link (or plain name) of a $ref: schemas are anchored in the page. */
static void put_ref(FILE *f, const char *ref)
{
	size_t plen = strlen(SCHEMAS_REF);
	if (strncmp(ref, SCHEMAS_REF, plen) == 0) {
		fputs("<a href=\"#", f);
		put_id(f, "schema-", ref + plen);
		fputs("\">", f);
		put_name_wrapping(f, ref + plen);
		fputs("</a>", f);
		return;
	}
	const char *slash = strrchr(ref, '/');
	fputs("<code>", f);
	esc(f, slash ? slash + 1 : ref);
	fputs("</code>", f);
}

static void put_type(struct page *p, json_object *s, int depth);

static void put_type_list(struct page *p, json_object *list, const char *label, const char *sep, int depth)
{
	size_t n = array_len(list);
	if (n == 1) {
		put_type(p, json_object_array_get_idx(list, 0), depth + 1);
		return;
	}
	fputs(label, p->f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(sep, p->f);
		put_type(p, json_object_array_get_idx(list, i), depth + 1);
	}
	fputs(")", p->f);
}

/* One-line summary of a schema's type: a link, "array of X", "string (uuid)", "one of (A | B)". */
static void put_type(struct page *p, json_object *s, int depth)
{
	FILE *f = p->f;
	const char *ref = get_str(s, "$ref");
	const char *type = get_str(s, "type");
	if (depth > MAX_DEPTH) {
		fputs("…", f);
	} else if (ref) {
		put_ref(f, ref);
	} else if (type && strcmp(type, "array") == 0) {
		fputs("array of ", f);
		put_type(p, get(s, "items"), depth + 1);
	} else if (type) {
		esc(f, type);
		if (get_str(s, "format")) {
			fputs(" (", f);
			esc(f, get_str(s, "format"));
			fputs(")", f);
		}
	} else if (get(s, "allOf")) {
		put_type_list(p, get(s, "allOf"), "all of (", ", ", depth);
	} else if (get(s, "oneOf")) {
		put_type_list(p, get(s, "oneOf"), "one of (", " | ", depth);
	} else if (get(s, "anyOf")) {
		put_type_list(p, get(s, "anyOf"), "any of (", " | ", depth);
	} else if (get(s, "properties")) {
		fputs("object", f);
	} else {
		fputs("any", f);
	}
	if (get_true(s, "nullable"))
		fputs(" | null", f);
}

static void put_con_label(FILE *f, const char *prefix, const char *label)
{
	fputs("<span class=\"cons\"><b>", f);
	esc(f, prefix);
	esc(f, label);
	fputs(":</b> ", f);
}

static void put_con_value(FILE *f, const char *prefix, const char *label, json_object *v)
{
	put_con_label(f, prefix, label);
	put_value(f, v);
	fputs("</span>", f);
}

/* Constraints of a schema, one line each; those of inline array items follow
 * with an "items " prefix. */
static void put_constraints(struct page *p, json_object *s, const char *prefix, int depth)
{
	static const char *const plain[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
					    "multipleOf", "minLength", "maxLength", "minItems", "maxItems",
					    "uniqueItems", "minProperties", "maxProperties", "readOnly",
					    "writeOnly", "deprecated", NULL};
	FILE *f = p->f;
	if (!s || !json_object_is_type(s, json_type_object) || depth > MAX_DEPTH)
		return;
	json_object *en = get(s, "enum");
	if (array_len(en)) {
		put_con_label(f, prefix, "enum");
		for (size_t i = 0; i < array_len(en); i++) {
			if (i)
				fputs(", ", f);
			put_value(f, json_object_array_get_idx(en, i));
		}
		fputs("</span>", f);
	}
	if (get(s, "default"))
		put_con_value(f, prefix, "default", get(s, "default"));
	for (size_t i = 0; plain[i]; i++)
		if (get(s, plain[i]))
			put_con_value(f, prefix, plain[i], get(s, plain[i]));
	if (get(s, "pattern"))
		put_con_value(f, prefix, "pattern", get(s, "pattern"));
	json_object *ap = get(s, "additionalProperties");
	if (ap && json_object_is_type(ap, json_type_boolean) && !json_object_get_boolean(ap)) {
		put_con_label(f, prefix, "additional properties");
		fputs("not allowed</span>", f);
	} else if (ap && json_object_is_type(ap, json_type_object)) {
		put_con_label(f, prefix, "additional properties");
		put_type(p, ap, depth + 1);
		fputs("</span>", f);
	}
	json_object *ex = get(s, "example");
	if (ex && !json_object_is_type(ex, json_type_object) && !json_object_is_type(ex, json_type_array))
		put_con_value(f, prefix, "example", ex);
	const char *type = get_str(s, "type");
	json_object *items = get(s, "items");
	if (type && strcmp(type, "array") == 0 && items && !get(items, "$ref")) {
		char sub[64];
		snprintf(sub, sizeof(sub), "%sitems ", prefix);
		put_constraints(p, items, sub, depth + 1);
	}
}

static int is_required(json_object *required, const char *name)
{
	for (size_t i = 0; i < array_len(required); i++) {
		const char *r = json_object_get_string(json_object_array_get_idx(required, i));
		if (r && strcmp(r, name) == 0)
			return 1;
	}
	return 0;
}

static void put_schema_body(struct page *p, json_object *s, int depth, int head);

/* Whether a schema has more to show than its one-line type: properties, a
 * discriminator, inline composition members or inline array items. Referenced
 * schemas are links in the type line already. */
static int has_inline_detail(json_object *s)
{
	static const char *const lists[] = {"allOf", "oneOf", "anyOf", NULL};
	if (!s || get(s, "$ref"))
		return 0;
	if (get(s, "properties") || get(s, "discriminator"))
		return 1;
	for (size_t i = 0; lists[i]; i++) {
		json_object *list = get(s, lists[i]);
		for (size_t j = 0; j < array_len(list); j++)
			if (!get(json_object_array_get_idx(list, j), "$ref"))
				return 1;
	}
	json_object *items = get(s, "items");
	return items && !get(items, "$ref") && has_inline_detail(items);
}

static void put_props_table(struct page *p, json_object *s, int depth)
{
	FILE *f = p->f;
	json_object *props = get(s, "properties");
	json_object *required = get(s, "required");
	if (props && json_object_is_type(props, json_type_object)) {
		fputs("<table class=\"props\"><thead><tr><th>Property</th><th>Type</th><th>Description</th></tr>"
		      "</thead><tbody>\n", f);
		json_object_object_foreach(props, name, prop) {
			fputs("<tr><td class=\"name\"><code>", f);
			put_name_wrapping(f, name);
			fputs("</code>", f);
			if (is_required(required, name))
				fputs("<span class=\"req\" title=\"required\">*</span>", f);
			fputs("</td><td>", f);
			put_type(p, prop, depth);
			fputs("</td><td>", f);
			put_desc(f, prop);
			put_constraints(p, prop, "", depth);
			if (depth < MAX_DEPTH && has_inline_detail(prop))
				put_schema_body(p, prop, depth + 1, 0);
			fputs("</td></tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}
	/* Names required here but defined elsewhere (by a variant) or nowhere. */
	int first = 1;
	for (size_t i = 0; i < array_len(required); i++) {
		const char *r = json_object_get_string(json_object_array_get_idx(required, i));
		if (!r || get(props, r))
			continue;
		fputs(first ? "<p class=\"meta\">Also required: " : ", ", f);
		fputs("<code>", f);
		esc(f, r);
		fputs("</code>", f);
		first = 0;
	}
	if (!first)
		fputs("</p>\n", f);
}

static void put_composition(struct page *p, json_object *s, const char *key, const char *label, int depth)
{
	FILE *f = p->f;
	json_object *list = get(s, key);
	if (!array_len(list))
		return;
	fputs("<div class=\"comp\"><b>", f);
	esc(f, label);
	fputs("</b><ul>", f);
	for (size_t i = 0; i < array_len(list); i++) {
		json_object *m = json_object_array_get_idx(list, i);
		fputs("<li>", f);
		if (get(m, "$ref") || depth >= MAX_DEPTH) {
			put_type(p, m, depth);
			put_desc(f, m);
		} else {
			put_desc(f, m);
			put_schema_body(p, m, depth + 1, 1);
		}
		fputs("</li>", f);
	}
	fputs("</ul></div>\n", f);
}

static void put_discriminator(struct page *p, json_object *s)
{
	FILE *f = p->f;
	json_object *d = get(s, "discriminator");
	if (!d)
		return;
	fputs("<p class=\"meta\">Discriminator: <code>", f);
	esc(f, get_str(d, "propertyName"));
	fputs("</code></p>\n", f);
	json_object *mapping = get(d, "mapping");
	if (!mapping || !json_object_is_type(mapping, json_type_object))
		return;
	fputs("<table class=\"map\"><thead><tr><th>Value</th><th>Schema</th></tr></thead><tbody>", f);
	json_object_object_foreach(mapping, value, target) {
		fputs("<tr><td><code>", f);
		esc(f, value);
		fputs("</code></td><td>", f);
		if (json_object_is_type(target, json_type_string))
			put_ref(f, json_object_get_string(target));
		fputs("</td></tr>", f);
	}
	fputs("</tbody></table>\n", f);
}

/* Composition, discriminator, properties and inline items of a schema; with
 * head, first its type line and constraints (callers that show them next to
 * a name pass 0). The description is always the caller's. */
static void put_schema_body(struct page *p, json_object *s, int depth, int head)
{
	FILE *f = p->f;
	if (!s || !json_object_is_type(s, json_type_object))
		return;
	const char *type = get_str(s, "type");
	if (head && (get(s, "$ref") || (type && (strcmp(type, "object") || !get(s, "properties"))))) {
		fputs("<p class=\"meta\">Type: ", f);
		put_type(p, s, depth);
		fputs("</p>\n", f);
	}
	if (head)
		put_constraints(p, s, "", depth);
	put_composition(p, s, "allOf", "All of", depth);
	put_composition(p, s, "oneOf", "One of", depth);
	put_composition(p, s, "anyOf", "Any of", depth);
	put_discriminator(p, s);
	put_props_table(p, s, depth);
	json_object *items = get(s, "items");
	if (items && !get(items, "$ref") && has_inline_detail(items) && depth < MAX_DEPTH) {
		fputs("<div class=\"comp\"><b>Items</b>", f);
		put_desc(f, items);
		put_schema_body(p, items, depth + 1, 0);
		fputs("</div>\n", f);
	}
	json_object *ex = get(s, "example");
	if (depth == 0 && ex && (json_object_is_type(ex, json_type_object) || json_object_is_type(ex, json_type_array)))
		put_example(f, NULL, ex);
}

static int op_add(struct op_list *l, const struct op *o)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct op *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *o;
	return 0;
}

/* Every operation of the spec, in the order of its paths. */
static int collect_ops(struct page *p, struct op_list *l)
{
	json_object *paths = get(spec_root(p->spec), "paths");
	if (!paths || !json_object_is_type(paths, json_type_object))
		return 0;
	json_object_object_foreach(paths, path, item) {
		json_object_object_foreach(item, method, op) {
			for (size_t i = 0; methods[i]; i++) {
				if (strcmp(methods[i], method))
					continue;
				json_object *tags = get(op, "tags");
				const char *tag = array_len(tags) ? json_object_get_string(json_object_array_get_idx(tags, 0))
								  : NULL;
				struct op o = {path, method, tag ? tag : "default", op, item};
				if (op_add(l, &o))
					return -1;
			}
		}
	}
	return 0;
}

/* Operations are grouped by their first tag, tags in order of first use. */
static int tag_seen_before(const struct op_list *l, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(l->v[j].tag, l->v[i].tag) == 0)
			return 1;
	return 0;
}

static void put_method(FILE *f, const char *method)
{
	fputs("<span class=\"m m-", f);
	esc(f, method);
	fputs("\">", f);
	for (const char *c = method; *c; c++)
		fputc(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c, f);
	fputs("</span>", f);
}

static void put_toc(struct page *p, const struct op_list *l)
{
	FILE *f = p->f;
	fputs("<nav id=\"toc\"><input id=\"filter\" type=\"search\" placeholder=\"Filter contents\" "
	      "aria-label=\"Filter contents\">\n<h2><a href=\"#operations\">Operations</a></h2><ul>\n", f);
	for (size_t i = 0; i < l->n; i++) {
		if (tag_seen_before(l, i))
			continue;
		fputs("<li class=\"tag\"><a href=\"#", f);
		put_id(f, "tag-", l->v[i].tag);
		fputs("\">", f);
		esc(f, l->v[i].tag);
		fputs("</a><ul>\n", f);
		for (size_t j = i; j < l->n; j++) {
			if (strcmp(l->v[j].tag, l->v[i].tag))
				continue;
			fputs("<li class=\"e\"><a href=\"#", f);
			put_op_id(f, &l->v[j]);
			fputs("\" title=\"", f);
			esc(f, get_str(l->v[j].op, "operationId"));
			fputs("\">", f);
			put_method(f, l->v[j].method);
			esc(f, l->v[j].path);
			fputs("</a></li>\n", f);
		}
		fputs("</ul></li>\n", f);
	}
	fputs("</ul>\n<h2><a href=\"#schemas\">Schemas</a></h2><ul>\n", f);
	json_object *schemas = get(get(spec_root(p->spec), "components"), "schemas");
	if (schemas && json_object_is_type(schemas, json_type_object)) {
		json_object_object_foreach(schemas, name, s) {
			(void)s;
			fputs("<li class=\"e\"><a href=\"#", f);
			put_id(f, "schema-", name);
			fputs("\">", f);
			esc(f, name);
			fputs("</a></li>\n", f);
		}
	}
	fputs("</ul></nav>\n", f);
}

static void put_param_row(struct page *p, json_object *prm)
{
	FILE *f = p->f;
	json_object *schema = get(prm, "schema");
	fputs("<tr><td class=\"in\"><code>", f);
	esc(f, get_str(prm, "name"));
	fputs("</code>", f);
	if (get_true(prm, "required"))
		fputs("<span class=\"req\" title=\"required\">*</span>", f);
	fputs("</td><td class=\"in\">", f);
	esc(f, get_str(prm, "in"));
	fputs("</td><td>", f);
	put_type(p, schema, 0);
	fputs("</td><td>", f);
	put_desc(f, prm);
	put_constraints(p, schema, "", 0);
	if (get(prm, "example"))
		put_con_value(f, "", "example", get(prm, "example"));
	fputs("</td></tr>\n", f);
}

static int param_overridden(struct page *p, json_object *prm, json_object *op_params)
{
	const char *name = get_str(prm, "name"), *in = get_str(prm, "in");
	for (size_t i = 0; name && in && i < array_len(op_params); i++) {
		json_object *o = spec_resolve(p->spec, json_object_array_get_idx(op_params, i));
		const char *oname = get_str(o, "name"), *oin = get_str(o, "in");
		if (oname && oin && strcmp(oname, name) == 0 && strcmp(oin, in) == 0)
			return 1;
	}
	return 0;
}

/* Path-level parameters, then the operation's (which win on the same name and place). */
static void put_params(struct page *p, const struct op *o)
{
	FILE *f = p->f;
	json_object *shared = get(o->path_item, "parameters"), *own = get(o->op, "parameters");
	if (!array_len(shared) && !array_len(own))
		return;
	fputs("<h4>Parameters</h4><table class=\"params\"><thead><tr><th>Name</th><th>In</th><th>Type</th>"
	      "<th>Description</th></tr></thead><tbody>\n", f);
	for (size_t i = 0; i < array_len(shared); i++) {
		json_object *prm = spec_resolve(p->spec, json_object_array_get_idx(shared, i));
		if (prm && !param_overridden(p, prm, own))
			put_param_row(p, prm);
	}
	for (size_t i = 0; i < array_len(own); i++) {
		json_object *prm = spec_resolve(p->spec, json_object_array_get_idx(own, i));
		if (prm)
			put_param_row(p, prm);
	}
	fputs("</tbody></table>\n", f);
}

/* The media types of a request body or response: schema link or inline schema, examples. */
static void put_content(struct page *p, json_object *content)
{
	FILE *f = p->f;
	if (!content || !json_object_is_type(content, json_type_object))
		return;
	json_object_object_foreach(content, mtype, media) {
		json_object *schema = get(media, "schema");
		fputs("<p class=\"meta\">Content <code>", f);
		esc(f, mtype);
		fputs("</code>", f);
		if (schema && get(schema, "$ref")) {
			fputs(": ", f);
			put_type(p, schema, 0);
		}
		fputs("</p>\n", f);
		if (schema && !get(schema, "$ref")) {
			put_desc(f, schema);
			put_schema_body(p, schema, 1, 1);
		}
		put_examples(f, media);
	}
}

static void put_request_body(struct page *p, const struct op *o)
{
	FILE *f = p->f;
	json_object *rb = get(o->op, "requestBody");
	if (!rb)
		return;
	const char *ref = get_str(rb, "$ref");
	rb = spec_resolve(p->spec, rb);
	fputs("<h4>Request body</h4>", f);
	if (ref) {
		fputs("<p class=\"meta\">Defined as ", f);
		put_ref(f, ref);
		fputs("</p>", f);
	}
	fputs(get_true(rb, "required") ? "<p class=\"meta\">Required.</p>\n" : "<p class=\"meta\">Optional.</p>\n",
	      f);
	put_desc(f, rb);
	put_content(p, get(rb, "content"));
}

static void put_headers(struct page *p, json_object *headers)
{
	FILE *f = p->f;
	if (!headers || !json_object_is_type(headers, json_type_object) || !json_object_object_length(headers))
		return;
	fputs("<details><summary>Headers:", f);
	int first = 1;
	json_object_object_foreach(headers, hname, unused) {
		(void)unused;
		fputs(first ? " <code>" : ", <code>", f);
		esc(f, hname);
		fputs("</code>", f);
		first = 0;
	}
	fputs("</summary><table class=\"hdrs\"><thead><tr><th>Header</th><th>Type</th><th>Description</th></tr>"
	      "</thead><tbody>", f);
	json_object_object_foreach(headers, name, h) {
		json_object *hd = spec_resolve(p->spec, h);
		fputs("<tr><td class=\"in\"><code>", f);
		esc(f, name);
		fputs("</code></td><td>", f);
		put_type(p, get(hd, "schema"), 0);
		fputs("</td><td>", f);
		put_desc(f, hd);
		put_constraints(p, get(hd, "schema"), "", 0);
		fputs("</td></tr>", f);
	}
	fputs("</tbody></table></details>\n", f);
}

static void put_responses(struct page *p, const struct op *o)
{
	FILE *f = p->f;
	json_object *responses = get(o->op, "responses");
	if (!responses || !json_object_is_type(responses, json_type_object))
		return;
	fputs("<h4>Responses</h4>\n", f);
	json_object_object_foreach(responses, code, r) {
		const char *ref = get_str(r, "$ref");
		json_object *resp = spec_resolve(p->spec, r);
		fprintf(f, "<div class=\"resp s%c\"><span class=\"code\">", code[0]);
		esc(f, code);
		fputs("</span>", f);
		esc(f, get_str(resp, "description"));
		if (ref) {
			fputs(" <span class=\"meta\">(", f);
			put_ref(f, ref);
			fputs(")</span>", f);
		}
		put_headers(p, get(resp, "headers"));
		put_content(p, get(resp, "content"));
		fputs("</div>\n", f);
	}
}

static void put_operation(struct page *p, const struct op *o)
{
	FILE *f = p->f;
	const char *id = get_str(o->op, "operationId");
	fputs("<section class=\"op\" id=\"", f);
	put_op_id(f, o);
	fputs("\"><h3>", f);
	put_method(f, o->method);
	fputs("<code class=\"path\">", f);
	esc(f, o->path);
	fputs("</code> <span class=\"sum\">", f);
	esc(f, get_str(o->op, "summary"));
	fputs("</span></h3>\n<p class=\"meta\">", f);
	if (id) {
		fputs("operationId <code>", f);
		esc(f, id);
		fputs("</code>", f);
	}
	if (get_true(o->op, "deprecated"))
		fputs(" · <b>deprecated</b>", f);
	fputs("</p>\n", f);
	put_desc(f, o->op);
	put_params(p, o);
	put_request_body(p, o);
	put_responses(p, o);
	fputs("</section>\n", f);
}

static void put_operations(struct page *p, const struct op_list *l)
{
	FILE *f = p->f;
	fputs("<h2 class=\"grp\" id=\"operations\">Operations</h2>\n", f);
	for (size_t i = 0; i < l->n; i++) {
		if (tag_seen_before(l, i))
			continue;
		fputs("<h2 class=\"grp\" id=\"", f);
		put_id(f, "tag-", l->v[i].tag);
		fputs("\">", f);
		esc(f, l->v[i].tag);
		fputs("</h2>\n", f);
		for (size_t j = i; j < l->n; j++)
			if (strcmp(l->v[j].tag, l->v[i].tag) == 0)
				put_operation(p, &l->v[j]);
	}
}

static void put_schemas(struct page *p)
{
	FILE *f = p->f;
	json_object *schemas = get(get(spec_root(p->spec), "components"), "schemas");
	fputs("<h2 class=\"grp\" id=\"schemas\">Schemas</h2>\n", f);
	if (!schemas || !json_object_is_type(schemas, json_type_object))
		return;
	json_object_object_foreach(schemas, name, s) {
		fputs("<section class=\"schema\" id=\"", f);
		put_id(f, "schema-", name);
		fputs("\"><h3>", f);
		esc(f, name);
		fputs("</h3>\n", f);
		put_desc(f, s);
		put_schema_body(p, s, 0, 1);
		fputs("</section>\n", f);
	}
}

static void put_header(struct page *p)
{
	FILE *f = p->f;
	json_object *info = get(spec_root(p->spec), "info");
	fputs("<header><h1>", f);
	esc(f, get_str(info, "title") ? get_str(info, "title") : "API");
	fputs("</h1><p class=\"ver\">Version <code>", f);
	esc(f, get_str(info, "version"));
	fputs("</code> · OpenAPI <code>", f);
	esc(f, get_str(spec_root(p->spec), "openapi"));
	fputs("</code> · also as YAML: <code>GET /2/docs/spec</code> with <code>Accept: application/x-yaml</code>"
	      "</p>\n", f);
	put_desc(f, info);
	fputs("</header>\n", f);
}

char *spec_render_html(const struct spec *spec, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	struct op_list ops = {NULL, 0, 0};
	struct page p = {open_memstream(&buf, &n), spec};
	if (!p.f)
		return NULL;
	int rc = collect_ops(&p, &ops);
	const char *title = get_str(get(spec_root(spec), "info"), "title");
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>", p.f);
	esc(p.f, title ? title : "API");
	fputs(" — API reference</title>\n<style>", p.f);
	fputs(page_css, p.f);
	fputs("</style></head>\n<body>\n", p.f);
	put_toc(&p, &ops);
	fputs("<main>\n", p.f);
	put_header(&p);
	put_operations(&p, &ops);
	put_schemas(&p);
	fputs("</main>\n<script>", p.f);
	fputs(page_js, p.f);
	fputs("</script>\n</body></html>\n", p.f);
	if (ferror(p.f))
		rc = -1;
	if (fclose(p.f))
		rc = -1;
	free(ops.v);
	if (rc) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = n;
	return buf;
}
