/* The task console (/2/ui, an extension): a static page, its script and its
 * style sheet from the ui/ folder of [API] DOCS_DIR, read at start-up. The
 * page talks to the public JSON API only; nothing here knows about tasks. */
#include "api/router.h"
#include "common/errors.h"

static void reply_static(struct request *req, const struct static_file *file, const char *ctype)
{
	if (!file->data) {
		reply_error(req, 500, E_INTERNAL, "the console (ui/ of [API] DOCS_DIR) is missing");
		return;
	}
	/* Installed files change only with the package: a browser may keep them a while. */
	reply_body(req, 200, ctype, "Cache-Control: max-age=300\r\n", file->data, file->len);
}

void h_console_page(struct request *req)
{
	reply_static(req, &req->api->console_html, "text/html");
}

void h_console_script(struct request *req)
{
	reply_static(req, &req->api->console_js, "text/javascript");
}

void h_console_style(struct request *req)
{
	reply_static(req, &req->api->console_css, "text/css");
}
