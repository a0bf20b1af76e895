/* gen_faces N D ACCOUNT LIST VERSION DIR [SEED]: the data of bench/scale.
 *
 * Writes N faces of one account, each in one list and with one D-dimensional
 * random unit vector, twice:
 *   DIR/faces.jsonl                   the import file (vector_b64, the
 *                                     API's field names);
 *   DIR/face.tsv, DIR/descriptor.tsv, the same rows as the tables hold them,
 *   DIR/list_face.tsv                 for the reference load (LOAD DATA,
 *                                     tab-separated, '\' escapes; the
 *                                     vector as its raw float32 bytes).
 * Deterministic (fixed seed, or SEED: another set of faces). The ids are given in the file so that both
 * loads write the same keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_u64(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void random_uuid(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	uint64_t r0 = next_u64(), r1 = next_u64();
	memcpy(b, &r0, 8);
	memcpy(b + 8, &r1, 8);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o = '\0';
}

static void put_b64(FILE *f, const unsigned char *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
		fputc(t[v >> 18 & 63], f);
		fputc(t[v >> 12 & 63], f);
		fputc(i + 1 < n ? t[v >> 6 & 63] : '=', f);
		fputc(i + 2 < n ? t[v & 63] : '=', f);
	}
}

/* LOAD DATA's default escaping: \0, \t, \n and \ itself. */
static void put_escaped(FILE *f, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (p[i]) {
		case 0: fputs("\\0", f); break;
		case '\t': fputs("\\t", f); break;
		case '\n': fputs("\\n", f); break;
		case '\\': fputs("\\\\", f); break;
		default: fputc(p[i], f);
		}
	}
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	return f;
}

int main(int argc, char **argv)
{
	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: gen_faces N D ACCOUNT LIST VERSION DIR [SEED]\n");
		return 2;
	}
	if (argc == 8)
		rng_state ^= strtoull(argv[7], NULL, 10) * 0x2545f4914f6cdd1dULL;
	long n = atol(argv[1]), d = atol(argv[2]), version = atol(argv[5]);
	const char *account = argv[3], *list = argv[4], *dir = argv[6];
	if (n <= 0 || d <= 0 || d > 16384)
		return 2;
	const char *t = "2026-01-02 03:04:05.000000", *t_json = "2026-01-02T03:04:05Z";
	FILE *jl = open_out(dir, "faces.jsonl"), *face = open_out(dir, "face.tsv"),
	     *desc = open_out(dir, "descriptor.tsv"), *lf = open_out(dir, "list_face.tsv");
	float *v = malloc((size_t)d * sizeof(float));
	unsigned char *le = malloc((size_t)d * 4);
	if (!v || !le)
		return 1;
	for (long i = 0; i < n; i++) {
		char id[37];
		random_uuid(id);
		double norm = 0;
		for (long k = 0; k < d; k++) {
			v[k] = (float)((double)(next_u64() >> 11) / 9007199254740992.0 * 2 - 1);
			norm += (double)v[k] * v[k];
		}
		norm = sqrt(norm);
		for (long k = 0; k < d; k++) {
			v[k] = (float)(v[k] / norm);
			uint32_t u;
			memcpy(&u, &v[k], 4);
			le[4 * k] = (unsigned char)u;
			le[4 * k + 1] = (unsigned char)(u >> 8);
			le[4 * k + 2] = (unsigned char)(u >> 16);
			le[4 * k + 3] = (unsigned char)(u >> 24);
		}
		fprintf(jl,
			"{\"face_id\":\"%s\",\"account_id\":\"%s\",\"external_id\":\"ext-%ld\",\"create_time\":\"%s\","
			"\"lists\":[\"%s\"],\"descriptors\":[{\"vector_b64\":\"",
			id, account, i, t_json, list);
		put_b64(jl, le, (size_t)d * 4);
		fputs("\"}]}\n", jl);
		/* face: face_id account_id event_id attribute_id user_data external_id avatar create_time */
		fprintf(face, "%s\t%s\t\\N\t\\N\t\text-%ld\t\t%s\n", id, account, i, t);
		/* descriptor: owner_id descriptor_type descriptor_version owner_kind account_id vector */
		fprintf(desc, "%s\t1\t%ld\t1\t%s\t", id, version, account);
		put_escaped(desc, le, (size_t)d * 4);
		fputc('\n', desc);
		fprintf(lf, "%s\t%s\t%s\n", list, id, t);
	}
	free(v);
	free(le);
	return fclose(jl) || fclose(face) || fclose(desc) || fclose(lf) ? 1 : 0;
}
