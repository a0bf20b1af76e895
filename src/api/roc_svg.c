/* A ROC result as SVG (see roc_svg.h). Everything written comes from numbers
 * of the result, so no text needs XML escaping. The stream grows in memory
 * (open_memstream): a curve of 20,000 points is about 300 KB of SVG. */
#include "api/roc_svg.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A rate of the result clamped to [0, 1] (absent or not finite: 0). */
static double rate(json_object *point, const char *key)
{
	json_object *v = get(point, key);
	double d = v ? json_object_get_double(v) : 0.0;
	if (!isfinite(d) || d < 0.0)
		return 0.0;
	return d > 1.0 ? 1.0 : d;
}

static double x_of(double fpr)
{
	return ROC_SVG_X0 + fpr * ROC_SVG_PLOT_W;
}

static double y_of(double tpr)
{
	return ROC_SVG_Y0 + (1.0 - tpr) * ROC_SVG_PLOT_H;
}

static void write_head(FILE *f, json_object *result)
{
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"role=\"img\" aria-labelledby=\"roc-title\">\n"
		"<title id=\"roc-title\">ROC curve, AUC %.6f</title>\n"
		"<style>text{font:13px sans-serif;fill:#222}.grid{stroke:#ddd;stroke-width:1}"
		".axis{stroke:#444;stroke-width:1;fill:none}.chance{stroke:#aaa;stroke-dasharray:4 4}"
		".roc{fill:none;stroke:#1f5fbf;stroke-width:2}.key-point{fill:#e08a00;stroke:#222}"
		".eer{fill:#c0282d;stroke:#222}</style>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
		ROC_SVG_WIDTH, ROC_SVG_HEIGHT, ROC_SVG_WIDTH, ROC_SVG_HEIGHT, rate(result, "auc"));
}

/* Grid lines and tick labels every 0.2 on both axes, the frame, the axis
 * titles and the diagonal of a random guess. */
static void write_axes(FILE *f)
{
	for (int i = 0; i <= 5; i++) {
		double v = i / 5.0, x = x_of(v), y = y_of(v);
		fprintf(f, "<line class=\"grid\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\"/>", x, ROC_SVG_Y0, x,
			ROC_SVG_Y0 + ROC_SVG_PLOT_H);
		fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>", ROC_SVG_X0, y,
			ROC_SVG_X0 + ROC_SVG_PLOT_W, y);
		fprintf(f, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%.1f</text>", x,
			ROC_SVG_Y0 + ROC_SVG_PLOT_H + 18, v);
		fprintf(f, "<text x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%.1f</text>\n", ROC_SVG_X0 - 8, y + 4, v);
	}
	fprintf(f, "<rect class=\"axis\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", ROC_SVG_X0, ROC_SVG_Y0,
		ROC_SVG_PLOT_W, ROC_SVG_PLOT_H);
	fprintf(f, "<line class=\"chance\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x_of(0), y_of(0),
		x_of(1), y_of(1));
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">FPR (false positive rate)</text>\n",
		ROC_SVG_X0 + ROC_SVG_PLOT_W / 2, ROC_SVG_Y0 + ROC_SVG_PLOT_H + 40);
	fprintf(f, "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\">TPR (true positive "
		"rate)</text>\n", ROC_SVG_Y0 + ROC_SVG_PLOT_H / 2);
}

/* The curve: one "x,y" pair per point of the result, in its order. */
static void write_curve(FILE *f, json_object *roc)
{
	size_t n = json_object_array_length(roc);
	fputs("<polyline class=\"roc\" points=\"", f);
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(roc, i);
		fprintf(f, "%s%.2f,%.2f", i ? " " : "", x_of(rate(p, "FPR")), y_of(rate(p, "TPR")));
	}
	fputs("\"/>\n", f);
}

static void write_marker(FILE *f, const char *class, json_object *p, double r)
{
	fprintf(f, "<circle class=\"%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\"><title>FPR %.6g, TPR %.6g, similarity "
		"%.6g</title></circle>\n", class, x_of(rate(p, "FPR")), y_of(rate(p, "TPR")), r, rate(p, "FPR"),
		rate(p, "TPR"), rate(p, "similarity"));
}

/* The key points (one circle each) and the equal-error point, when there is one. */
static void write_markers(FILE *f, json_object *result)
{
	json_object *keys = get(result, "key_points");
	size_t n = json_object_is_type(keys, json_type_array) ? json_object_array_length(keys) : 0;
	for (size_t i = 0; i < n; i++)
		write_marker(f, "key-point", json_object_array_get_idx(keys, i), 4);
	json_object *eer = get(result, "type_I_and_II_error_rates_equal_point");
	if (json_object_is_type(eer, json_type_object)) {
		write_marker(f, "eer", eer, 6);
		fprintf(f, "<text class=\"eer-label\" x=\"%.2f\" y=\"%.2f\">EER %.4f</text>\n", x_of(rate(eer, "FPR")) + 10,
			y_of(rate(eer, "TPR")) + 18, rate(eer, "FPR"));
	}
}

/* AUC and the top-N hit probabilities above the plot ("-" for a null). */
static void write_summary(FILE *f, json_object *result)
{
	fprintf(f, "<text class=\"summary\" x=\"%d\" y=\"%d\">AUC %.6f", ROC_SVG_X0, ROC_SVG_Y0 - 14,
		rate(result, "auc"));
	json_object *hits = get(result, "hit_top_probability");
	for (int n = 1; n <= 5; n++) {
		char key[16];
		snprintf(key, sizeof(key), "top-%d", n);
		json_object *v = get(hits, key);
		if (v)
			fprintf(f, " \xc2\xb7 top-%d %.4f", n, rate(hits, key));
		else
			fprintf(f, " \xc2\xb7 top-%d -", n);
	}
	fputs("</text>\n", f);
}

char *roc_svg_render(json_object *doc, size_t *len)
{
	json_object *result = get(doc, "result");
	json_object *roc = get(result, "roc");
	if (!json_object_is_type(roc, json_type_array))
		return NULL;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	write_head(f, result);
	write_axes(f);
	write_curve(f, roc);
	write_markers(f, result);
	write_summary(f, result);
	fputs("</svg>\n", f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = size;
	return buf;
}
