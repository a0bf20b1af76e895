/* floor_match SOCKET ACCOUNT REF_LIST CAND_LIST VERSION LIMIT THRESHOLD: the
 * floor of bench/scale's cross match, what no implementation can beat: the
 * bare candidate query read into memory with MariaDB Connector/C, then
 * match_topk (libluna's kernel, every core) on the same arrays.
 *
 * Reads the descriptors (type face, VERSION) of the faces of ACCOUNT in
 * REF_LIST and in CAND_LIST (the list's rows counted first, then the rows
 * streamed with mysql_use_result into arrays of that size: nothing grows or
 * is copied twice), normalises them and runs match_topk(refs, cands, LIMIT,
 * THRESHOLD). Prints one line: "query_s kernel_s total_s refs cands hits". */
#include "match/match.h"
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(MYSQL *db, const char *what)
{
	fprintf(stderr, "floor_match: %s: %s\n", what, db ? mysql_error(db) : "out of memory");
	exit(1);
}

/* The list's descriptors: *n rows of *d floats (ids are read and kept as
 * the task keeps them). */
static float *load(MYSQL *db, const char *account, const char *list, const char *version, size_t *n, size_t *d,
		   char (**ids)[37])
{
	char sql[1024];
	/* From the list's rows, each descriptor by primary key, the account the
	 * descriptor carries compared, as the task's cursor reads a list with no
	 * other filter (no face row): left alone, the optimizer walks every
	 * face of the account and looks each up in the list, which costs the
	 * account's size, not the list's. */
	const char *from = "FROM list_face lf STRAIGHT_JOIN descriptor d ON d.owner_id = lf.face_id";
	/* The list's rows bound the rows read: counted on list_face's key alone
	 * (counting the join read every descriptor twice). */
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM list_face WHERE list_id = '%s'", list);
	if (mysql_query(db, sql))
		die(db, "count");
	MYSQL_RES *r = mysql_store_result(db);
	MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
	if (!row)
		die(db, "count");
	size_t cap = strtoull(row[0], NULL, 10);
	mysql_free_result(r);
	snprintf(sql, sizeof(sql),
		 "SELECT lf.face_id, d.vector %s WHERE lf.list_id = '%s' AND d.account_id = '%s' AND "
		 "d.descriptor_type = 1 AND d.descriptor_version = %s",
		 from, list, account, version);
	if (mysql_query(db, sql) || !(r = mysql_use_result(db)))
		die(db, "query");
	float *x = NULL;
	*ids = malloc((cap ? cap : 1) * 37);
	*n = 0;
	*d = 0;
	while ((row = mysql_fetch_row(r)) && *n < cap) {
		unsigned long *len = mysql_fetch_lengths(r);
		if (!x) {
			*d = len[1] / sizeof(float);
			x = malloc(cap * *d * sizeof(float));
			if (!x || !*ids)
				die(NULL, "arrays");
		}
		memcpy(x + *n * *d, row[1], *d * sizeof(float));
		snprintf((*ids)[*n], 37, "%s", row[0]);
		(*n)++;
	}
	mysql_free_result(r);
	return x;
}

/* The SQL text is built from the arguments: only ids and numbers pass. */
static int plain(const char *s)
{
	return strspn(s, "0123456789abcdef-") == strlen(s) && strlen(s) <= 36;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: floor_match SOCKET ACCOUNT REF_LIST CAND_LIST VERSION LIMIT THRESHOLD\n");
		return 2;
	}
	for (int i = 2; i <= 5; i++)
		if (!plain(argv[i])) {
			fprintf(stderr, "floor_match: '%s' is not an id or a number\n", argv[i]);
			return 2;
		}
	size_t k = strtoull(argv[6], NULL, 10), nr, nc, dr, dc;
	float threshold = strtof(argv[7], NULL);
	MYSQL *db = mysql_init(NULL);
	if (!db || !mysql_real_connect(db, NULL, "root", NULL, "luna_objects", 0, argv[1], 0))
		die(db, "connect");
	char(*rid)[37], (*cid)[37];
	double t0 = now();
	float *refs = load(db, argv[2], argv[3], argv[5], &nr, &dr, &rid);
	float *cands = load(db, argv[2], argv[4], argv[5], &nc, &dc, &cid);
	if (!refs || !cands || dr != dc)
		die(NULL, "descriptors");
	match_normalize(refs, nr, dr);
	match_normalize(cands, nc, dc);
	double t1 = now();
	struct match_hit *hits = malloc(nr * k * sizeof(*hits));
	size_t *counts = calloc(nr, sizeof(*counts));
	if (!hits || !counts || match_topk(refs, nr, cands, nc, dr, k, threshold, 0, 0, hits, counts))
		die(NULL, "match_topk");
	double t2 = now();
	size_t total = 0;
	for (size_t i = 0; i < nr; i++)
		total += counts[i];
	printf("%.3f %.3f %.3f %zu %zu %zu\n", t1 - t0, t2 - t1, t2 - t0, nr, nc, total);
	mysql_close(db);
	return 0;
}
