/* What the contract promises about an operation's answers, and the
 * self-check of every answer against it ([API] RESPONSE_SELF_CHECK). */
#ifndef LUNA_API_CONTRACT_H
#define LUNA_API_CONTRACT_H
#include <json-c/json.h>
#include "common/schema.h"

/* One operation of the spec, resolved at start-up. */
struct op_contract {
	const char *method, *path;     /* the route, e.g. "GET", "/2/tasks/{task_id}" */
	const char *op_id;             /* operationId */
	json_object *responses;        /* status → response object */
};

/* 1 when the operation declares this status among its responses. */
int contract_declares(const struct spec *s, const struct op_contract *op, int status);

/*
 * Checks one answer: its status is declared; its media type (ctype without
 * parameters, NULL for no body) is one the response declares; every required
 * header is present and its value (ctype, request_id, or a line of headers,
 * "Name: value\r\n…") matches the header's schema; body, when not NULL, is
 * valid against the media type's schema (pass NULL for streamed or non-JSON
 * bodies). Logs one "contract violation" line per mismatch and returns their
 * number.
 */
int contract_check(const struct spec *s, const struct op_contract *op, int status, const char *ctype,
		   const char *request_id, const char *headers, json_object *body);
#endif
