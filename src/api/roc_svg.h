/* A ROC task's result drawn as a self-contained SVG picture: the answer of
 * GET /2/tasks/{task_id}/result with Accept: image/svg+xml (an extension).
 * It depends on json-c and stdio only, so the unit test links it alone. */
#ifndef LUNA_API_ROC_SVG_H
#define LUNA_API_ROC_SVG_H
#include <json-c/json.h>
#include <stddef.h>

/* The picture's geometry in SVG user units: the plot area starts at
 * (ROC_SVG_X0, ROC_SVG_Y0) and spans ROC_SVG_PLOT_W x ROC_SVG_PLOT_H; FPR runs
 * left to right over [0, 1], TPR bottom to top over [0, 1]. */
#define ROC_SVG_WIDTH 640
#define ROC_SVG_HEIGHT 500
#define ROC_SVG_X0 70
#define ROC_SVG_Y0 40
#define ROC_SVG_PLOT_W 540
#define ROC_SVG_PLOT_H 380

/* The SVG of a stored ROC result document ({"result": {"roc": [...], ...},
 * "errors": [...]}): the curve as one polyline with a point per entry of
 * "roc" (in their order, coordinates with two decimals), the key points and
 * the equal-error point as circles, the AUC and the top-N hit probabilities
 * as text. Returns a malloc'd NUL-terminated text and its length, or NULL
 * when doc has no "result.roc" list (or memory runs out). */
char *roc_svg_render(json_object *doc, size_t *len);
#endif
