/* Unit tests of the image sources and the S3 signing: name selection (the
 * spec's prefix/postfix tables row by row), name safety, network-disk roots
 * and links on a temporary tree, zip limits on archives built with libzip,
 * SigV4/SigV2 against the published AWS examples, ARN endpoints, image
 * sniffing. */
#include "backends/handlers.h"
#include "backends/s3.h"
#include "backends/sources.h"
#include "backends/storage.h"
#include "backends/storage_s3.h"
#include <errno.h>
#include "check.h"
#include "common/errors.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

/* ---- selection ------------------------------------------------------------ */

struct names {
	char buf[2048];
};

/* The limits of the default configuration. */
static void default_limits(struct source_limits *lim)
{
	struct luna_config cfg;
	char err[256];
	CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
	source_limits_from_config(lim, &cfg);
	CHECK(lim->max_files == 1000000 && lim->max_file_bytes == (size_t)32 << 20 && lim->max_ratio == 100 &&
	      lim->max_depth == 32 && lim->max_archive_bytes == 8ULL << 30 && lim->max_total_bytes == 16ULL << 30);
	CHECK(lim->download_timeout_s == 3600 && lim->ftp_timeout_s == 120);
}

static void select_all(const char *const *files, const struct source_filter *f, struct names *out)
{
	out->buf[0] = 0;
	for (size_t i = 0; files[i]; i++) {
		if (!source_name_selected(f, files[i]))
			continue;
		if (out->buf[0])
			strcat(out->buf, ",");
		strcat(out->buf, files[i]);
	}
}

static void test_prefix_table(void)
{
	static const char *const tree[] = {"prefix/123_file.jpg", "prefix/file2.jpg", "prefix_file.jpg",
					   "temp_file.jpg", NULL};
	static const struct {
		const char *prefix, *expect;
	} rows[] = {
		{"prefix", "prefix/123_file.jpg,prefix/file2.jpg,prefix_file.jpg"},
		{"prefix/", "prefix/123_file.jpg,prefix/file2.jpg"},
		{"prefix/123", "prefix/123_file.jpg"},
		{"temp", "temp_file.jpg"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct source_filter f = {rows[i].prefix, NULL, 1};
		struct names got;
		select_all(tree, &f, &got);
		CHECK(strcmp(got.buf, rows[i].expect) == 0);
		if (strcmp(got.buf, rows[i].expect) != 0)
			printf("  prefix '%s': got %s\n", rows[i].prefix, got.buf);
	}
}

static void test_postfix_table(void)
{
	static const char *const tree[] = {"dir/face1.jpg", "dir/face2.png", "file.jpg", "temp_file.png", NULL};
	struct source_filter jpg = {NULL, ".jpg", 1}, png = {NULL, ".png", 1};
	struct names got;
	select_all(tree, &jpg, &got);
	CHECK(strcmp(got.buf, "dir/face1.jpg,file.jpg") == 0);
	select_all(tree, &png, &got);
	CHECK(strcmp(got.buf, "dir/face2.png,temp_file.png") == 0);
}

static void test_not_recursive(void)
{
	struct source_filter top = {NULL, NULL, 0}, in_dir = {"prefix/", NULL, 0}, word = {"prefix", NULL, 0};
	CHECK(source_name_selected(&top, "a.jpg"));
	CHECK(!source_name_selected(&top, "dir/a.jpg"));
	CHECK(source_name_selected(&in_dir, "prefix/a.jpg"));
	CHECK(!source_name_selected(&in_dir, "prefix/sub/a.jpg"));
	CHECK(source_name_selected(&word, "prefix_file.jpg"));
	CHECK(!source_name_selected(&word, "prefix/a.jpg"));
	/* Folders worth walking. */
	CHECK(source_dir_may_match(&in_dir, "prefix"));
	CHECK(!source_dir_may_match(&in_dir, "prefix/sub"));
	CHECK(!source_dir_may_match(&in_dir, "other"));
	struct source_filter rec = {"prefix/1", NULL, 1};
	CHECK(source_dir_may_match(&rec, "prefix"));
	CHECK(!source_dir_may_match(&rec, "temp"));
	CHECK(source_dir_may_match(&rec, "prefix/123"));
}

static void test_name_safety(void)
{
	CHECK(source_relative_name_safe("a.png"));
	CHECK(source_relative_name_safe("dir/sub/a.png"));
	CHECK(source_relative_name_safe("..a.png"));
	CHECK(!source_relative_name_safe("../a.png"));
	CHECK(!source_relative_name_safe("dir/../../a.png"));
	CHECK(!source_relative_name_safe("/etc/passwd"));
	CHECK(!source_relative_name_safe("dir//a.png"));
	CHECK(!source_relative_name_safe("./a.png"));
	CHECK(!source_relative_name_safe("dir/"));
	CHECK(!source_relative_name_safe("..\\a.png"));
	CHECK(!source_relative_name_safe("a\nb.png"));
	CHECK(!source_relative_name_safe(""));
}

/* ---- network disk ----------------------------------------------------------- */

static void put_file(const char *dir, const char *rel, const char *data)
{
	char path[1024], tmp[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + strlen(dir) + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			mkdir(tmp, 0755);
			*p = '/';
		}
	FILE *f = fopen(path, "wb");
	if (f) {
		fputs(data, f);
		fclose(f);
	}
}

static int collect_name(void *ud, const char *key, const char *name)
{
	struct names *n = ud;
	(void)key;
	if (n->buf[0])
		strcat(n->buf, ",");
	strcat(n->buf, name);
	return 0;
}

static void test_network_disk(const char *base)
{
	char root[512], outside[512], link[600], target[600], roots[1100];
	struct source_error err = {0};
	struct source_limits lim;
	struct names got = {""};
	default_limits(&lim);
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	mkdir(root, 0755);
	mkdir(outside, 0755);
	put_file(root, "prefix/123_file.jpg", "1");
	put_file(root, "prefix/file2.jpg", "2");
	put_file(root, "prefix_file.jpg", "3");
	put_file(root, "temp_file.jpg", "4");
	put_file(outside, "secret.jpg", "s");
	snprintf(link, sizeof(link), "%s/escape.jpg", root);
	snprintf(target, sizeof(target), "%s/secret.jpg", outside);
	CHECK(symlink(target, link) == 0);
	snprintf(link, sizeof(link), "%s/prefix/loop", root);
	CHECK(symlink(root, link) == 0);
	snprintf(roots, sizeof(roots), "/nonexistent:%s", root);

	CHECK(source_network_disk_check(roots, root, &err) == 0);
	CHECK(source_network_disk_check(roots, outside, &err) == -1 && strstr(err.detail, "outside"));
	/* Outside the roots, existing or not: the same answer. */
	char missing[600], msg_existing[512];
	snprintf(missing, sizeof(missing), "%s/outside-missing", base);
	snprintf(msg_existing, sizeof(msg_existing), "%s", err.detail);
	CHECK(source_network_disk_check(roots, missing, &err) == -1);
	CHECK(strcmp(strstr(msg_existing, "' ") ? strstr(msg_existing, "' ") : msg_existing,
		     strstr(err.detail, "' ") ? strstr(err.detail, "' ") : err.detail) == 0,
	      "'%s' vs '%s'", msg_existing, err.detail);
	/* A link inside the roots leading outside: the same answer whether its target exists. */
	char link_out[600], link_gone[600], gone[600], msg_link[512];
	snprintf(link_out, sizeof(link_out), "%s/to-outside", root);
	snprintf(link_gone, sizeof(link_gone), "%s/to-nowhere", root);
	snprintf(gone, sizeof(gone), "%s/nowhere", outside);
	CHECK(symlink(outside, link_out) == 0 && symlink(gone, link_gone) == 0);
	CHECK(source_network_disk_check(roots, link_out, &err) == -1);
	snprintf(msg_link, sizeof(msg_link), "%s", strstr(err.detail, "' ") ? strstr(err.detail, "' ") : "");
	CHECK(source_network_disk_check(roots, link_gone, &err) == -1);
	CHECK(strcmp(msg_link, strstr(err.detail, "' ") ? strstr(err.detail, "' ") : "") == 0, "'%s' vs '%s'", msg_link,
	      err.detail);
	unlink(link_out);
	unlink(link_gone);
	char dotdot[600];
	snprintf(dotdot, sizeof(dotdot), "%s/prefix/..", root);
	CHECK(source_network_disk_check(roots, dotdot, &err) == -1 && strstr(err.detail, ".."));
	CHECK(source_network_disk_check(roots, "relative", &err) == -1);
	CHECK(source_network_disk_check("", root, &err) == -1 && strstr(err.detail, "NETWORK_DISK_ROOTS"));

	/* Without follow_links: links are neither listed nor opened. */
	struct source_filter f = {"prefix", NULL, 1};
	struct source *s = source_network_disk_open(roots, root, &f, 0, &lim, &err);
	CHECK(s != NULL);
	if (s) {
		CHECK(s->ops->list(s, collect_name, &got) == 0);
		CHECK(strcmp(got.buf, "prefix/123_file.jpg,prefix/file2.jpg,prefix_file.jpg") == 0);
		void *data = NULL;
		size_t len = 0;
		CHECK(s->ops->fetch(s, "prefix/file2.jpg", &data, &len) == 0 && len == 1 && ((char *)data)[0] == '2');
		free(data);
		CHECK(s->ops->fetch(s, "escape.jpg", &data, &len) == -1);
		CHECK(s->ops->fetch(s, "prefix/loop/temp_file.jpg", &data, &len) == -1);
		CHECK(s->ops->fetch(s, "../outside/secret.jpg", &data, &len) == -1 && strstr(s->err.detail, "not allowed"));
		source_close(s);
	}
	/* With follow_links: the loop is cut, the escaping link is listed and refused. */
	struct source_filter all = {NULL, NULL, 1};
	s = source_network_disk_open(roots, root, &all, 1, &lim, &err);
	CHECK(s != NULL);
	if (s) {
		got.buf[0] = 0;
		CHECK(s->ops->list(s, collect_name, &got) == 0);
		CHECK(strstr(got.buf, "escape.jpg") != NULL);
		CHECK(strstr(got.buf, "prefix/loop/prefix/loop") == NULL);
		void *data = NULL;
		size_t len = 0;
		CHECK(s->ops->fetch(s, "escape.jpg", &data, &len) == -1 && strstr(s->err.detail, "outside the allowed"));
		CHECK(s->ops->fetch(s, "prefix/loop/temp_file.jpg", &data, &len) == 0);
		free(data);
		source_close(s);
	}
	/* Per-file size limit. */
	lim.max_file_bytes = 0;
	s = source_network_disk_open(roots, root, &all, 0, &lim, &err);
	if (s) {
		void *data = NULL;
		size_t len = 0;
		CHECK(s->ops->fetch(s, "temp_file.jpg", &data, &len) == -1 && strstr(s->err.detail, "larger than"));
		source_close(s);
	}
}

/* ---- zip --------------------------------------------------------------------- */

/* Builds an archive in a temporary file; entries: name, data, length. */
struct entry {
	const char *name;
	const char *data;
	size_t len;
};

static FILE *build_zip_em(const char *dir, const struct entry *e, size_t n, const char *password, zip_uint16_t em,
			  char *path_out)
{
	int zerr = 0;
	snprintf(path_out, 600, "%s/test-%d.zip", dir, rand());
	zip_t *z = zip_open(path_out, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	if (!z)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		zip_source_t *src = zip_source_buffer(z, e[i].data, e[i].len, 0);
		zip_int64_t idx = zip_file_add(z, e[i].name, src, ZIP_FL_ENC_UTF_8);
		if (password)
			zip_file_set_encryption(z, (zip_uint64_t)idx, em, password);
	}
	if (zip_close(z))
		return NULL;
	return fopen(path_out, "rb");
}

static FILE *build_zip(const char *dir, const struct entry *e, size_t n, const char *password, char *path_out)
{
	return build_zip_em(dir, e, n, password, ZIP_EM_AES_256, path_out);
}

struct keyed {
	char keys[64][16];
	char names[64][128];
	int n;
};

static int collect_keyed(void *ud, const char *key, const char *name)
{
	struct keyed *k = ud;
	if (k->n < 64) {
		snprintf(k->keys[k->n], 16, "%s", key);
		snprintf(k->names[k->n], 128, "%s", name);
		k->n++;
	}
	return 0;
}

static int key_of(const struct keyed *k, const char *name)
{
	for (int i = 0; i < k->n; i++)
		if (strcmp(k->names[i], name) == 0)
			return i;
	return -1;
}

static void test_zip(const char *dir)
{
	static char zeros[3 << 20];
	char path[600];
	struct source_limits lim;
	struct source_error err = {0};
	default_limits(&lim);
	struct entry e[] = {
		{"a.png", "\x89PNG\r\n\x1a\nAAAA", 12},
		{"dir/", "", 0},
		{"dir/b.png", "\x89PNG\r\n\x1a\nBBBB", 12},
		{"../evil.png", "x", 1},
		{"/abs.png", "x", 1},
		{"C:/drive.png", "x", 1},
		{"flat.bin", zeros, sizeof(zeros)},
	};
	FILE *f = build_zip(dir, e, sizeof(e) / sizeof(e[0]), NULL, path);
	CHECK(f != NULL);
	struct source *s = f ? source_zip_open(f, NULL, &lim, &err) : NULL;
	CHECK(s != NULL);
	if (s) {
		struct keyed k = {0};
		CHECK(s->ops->list(s, collect_keyed, &k) == 0);
		CHECK(k.n == 6);                      /* the folder entry is not listed */
		void *data = NULL;
		size_t len = 0;
		int i = key_of(&k, "dir/b.png");
		CHECK(i >= 0 && s->ops->fetch(s, k.keys[i], &data, &len) == 0 && len == 12 && memcmp(data, "\x89PNG", 4) == 0);
		free(data);
		const char *unsafe[] = {"../evil.png", "/abs.png", "C:/drive.png"};
		for (size_t u = 0; u < 3; u++) {
			i = key_of(&k, unsafe[u]);
			CHECK(i >= 0 && s->ops->fetch(s, k.keys[i], &data, &len) == -1 && strstr(s->err.detail, "not allowed"));
		}
		i = key_of(&k, "flat.bin");
		CHECK(i >= 0 && s->ops->fetch(s, k.keys[i], &data, &len) == -1 && strstr(s->err.detail, "zip bomb"));
		CHECK(s->ops->fetch(s, "999", &data, &len) == -1);
		CHECK(s->ops->fetch(s, "1x", &data, &len) == -1);
		source_close(s);
	}
	/* Whole-archive limits: entry count and total size. */
	struct source_limits small = lim;
	small.max_files = 3;
	f = fopen(path, "rb");
	s = f ? source_zip_open(f, NULL, &small, &err) : NULL;
	if (s) {
		struct keyed k = {0};
		CHECK(s->ops->list(s, collect_keyed, &k) == -1 && strstr(s->err.detail, "more than 3 entries"));
		source_close(s);
	}
	small = lim;
	small.max_total_bytes = 1 << 20;
	f = fopen(path, "rb");
	s = f ? source_zip_open(f, NULL, &small, &err) : NULL;
	if (s) {
		struct keyed k = {0};
		CHECK(s->ops->list(s, collect_keyed, &k) == -1 && strstr(s->err.detail, "zip bomb"));
		source_close(s);
	}
	small = lim;
	small.max_file_bytes = 4;
	f = fopen(path, "rb");
	s = f ? source_zip_open(f, NULL, &small, &err) : NULL;
	if (s) {
		struct keyed k = {0};
		void *data = NULL;
		size_t len = 0;
		CHECK(s->ops->list(s, collect_keyed, &k) == 0);
		CHECK(s->ops->fetch(s, k.keys[key_of(&k, "a.png")], &data, &len) == -1 && strstr(s->err.detail, "larger"));
		source_close(s);
	}
	/* Truncated archive and not an archive. */
	f = fopen(path, "rb");
	if (f) {
		fseek(f, 0, SEEK_END);
		long size = ftell(f);
		rewind(f);
		char *buf = malloc((size_t)size);
		if (buf && fread(buf, 1, (size_t)size, f) == (size_t)size) {
			FILE *t = tmpfile();
			fwrite(buf, 1, (size_t)size / 2, t);
			rewind(t);
			s = source_zip_open(t, NULL, &lim, &err);
			CHECK(s == NULL && err.code == E_BAD_SOURCE && strstr(err.detail, "truncated"));
		}
		free(buf);
		fclose(f);
	}
	FILE *t = tmpfile();
	fputs("not a zip at all", t);
	rewind(t);
	s = source_zip_open(t, NULL, &lim, &err);
	CHECK(s == NULL && strstr(err.detail, "not a zip"));
	/* Passwords (AES). */
	struct entry p[] = {{"p.png", "\x89PNG\r\n\x1a\nPPPP", 12}};
	const char *pw[] = {"right", "wrong", NULL};
	for (int w = 0; w < 3; w++) {
		f = build_zip(dir, p, 1, "right", path);
		s = f ? source_zip_open(f, pw[w], &lim, &err) : NULL;
		CHECK(s != NULL);
		if (!s)
			continue;
		void *data = NULL;
		size_t len = 0;
		int r = s->ops->fetch(s, "0", &data, &len);
		if (w == 0)
			CHECK(r == 0 && len == 12);
		else
			CHECK(r == -1 && strstr(s->err.detail, "password"));
		free(data);
		source_close(s);
	}
}

/* A wrong password for a ZipCrypto entry passes the entry's one-byte check
 * once in 256 tries, and its data then fails to inflate: the error must
 * still name the password (not only "Zlib error"). 1,500 wrong passwords
 * meet that case ~6 times. */
static void test_zip_crypto_wrong_password(const char *dir)
{
	static char png[8192];
	memcpy(png, "\x89PNG\r\n\x1a\n", 8);
	for (size_t i = 8; i < sizeof(png); i++)
		png[i] = (char)('a' + i % 7); /* compressible: the entry is deflated */
	struct entry p[] = {{"p.png", png, sizeof(png)}};
	char path[600], pw[32];
	struct source_limits lim;
	struct source_error err = {0};
	default_limits(&lim);
	FILE *f = build_zip_em(dir, p, 1, "right-one", ZIP_EM_TRAD_PKWARE, path);
	CHECK(f != NULL);
	if (!f)
		return;
	fclose(f);
	int named = 1, past_check = 0;
	for (int w = 0; w < 1500; w++) {
		snprintf(pw, sizeof(pw), "wrong-%d", w);
		FILE *g = fopen(path, "rb"); /* the source owns it */
		struct source *s = g ? source_zip_open(g, pw, &lim, &err) : NULL;
		if (!s) {
			named = 0;
			break;
		}
		void *data = NULL;
		size_t len = 0;
		int r = s->ops->fetch(s, "0", &data, &len);
		if (r != -1 || !strstr(s->err.detail, "password")) {
			fprintf(stderr, "wrong password %s: %d, %s\n", pw, r, s->err.detail);
			named = 0;
		}
		past_check += r == -1 && !strstr(s->err.detail, "wrong password for");
		free(data);
		source_close(s);
		if (!named)
			break;
	}
	remove(path);
	CHECK(named);
	fprintf(stderr, "zipcrypto: %d of 1500 wrong passwords passed the entry's check\n", past_check);
}

/* ---- S3 signing ----------------------------------------------------------------- */

static void test_sigv4(void)
{
	/* The AWS S3 documentation's "GET Object" example. */
	const char *ak = "AKIAIOSFODNN7EXAMPLE", *sk = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char out[512], hex[65];
	struct s3_header h[] = {
		{"x-amz-date", "20130524T000000Z"},
		{"range", "bytes=0-9"},
		{"host", "examplebucket.s3.amazonaws.com"},
		{"x-amz-content-sha256", empty},
	};
	s3_sign_v4("GET", "/test.txt", "", h, 4, empty, "20130524T000000Z", "us-east-1", "s3", ak, sk, out, sizeof(out));
	CHECK(strcmp(out, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
			  "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
			  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") == 0);
	/* Its "GET Bucket (List Objects)" example. */
	struct s3_header l[] = {
		{"host", "examplebucket.s3.amazonaws.com"},
		{"x-amz-content-sha256", empty},
		{"x-amz-date", "20130524T000000Z"},
	};
	s3_sign_v4("GET", "/", "max-keys=2&prefix=J", l, 3, empty, "20130524T000000Z", "us-east-1", "s3", ak, sk, out,
		   sizeof(out));
	CHECK(strstr(out, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") != NULL);
	s3_sha256_hex("abc", 3, hex);
	CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
	s3_sha256_hex("", 0, hex);
	CHECK(strcmp(hex, empty) == 0);
}

static void test_sigv2(void)
{
	/* The AWS "Signing and authenticating REST requests" example (GET object). */
	char out[256];
	s3_sign_v2("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg",
		   "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", out, sizeof(out));
	CHECK(strncmp(out, "AWS AKIAIOSFODNN7EXAMPLE:", 25) == 0);
	s3_sign_v2("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg", "AKIAIOSFODNN7EXAMPLE",
		   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", out, sizeof(out));
	CHECK(strcmp(out, "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=") == 0);
}

static void test_arn(void)
{
	char ep[256], region[64], service[32];
	CHECK(s3_arn_endpoint("arn:aws:s3:eu-central-1:000000000000:accesspoint/bucket-with-images", ep, sizeof(ep),
			      region, sizeof(region), service, sizeof(service)) == 0);
	CHECK(strcmp(ep, "https://bucket-with-images-000000000000.s3-accesspoint.eu-central-1.amazonaws.com") == 0);
	CHECK(strcmp(region, "eu-central-1") == 0 && strcmp(service, "s3") == 0);
	CHECK(s3_arn_endpoint("arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/ap1",
			      ep, sizeof(ep), region, sizeof(region), service, sizeof(service)) == 0);
	CHECK(strcmp(ep, "https://ap1-123456789012.op-01ac5d28a6a232904.s3-outposts.us-west-2.amazonaws.com") == 0);
	CHECK(strcmp(service, "s3-outposts") == 0);
	CHECK(s3_arn_endpoint("arn:aws:s3:::plain-bucket", ep, sizeof(ep), region, sizeof(region), service,
			      sizeof(service)) == -1);
	CHECK(s3_arn_endpoint("not-an-arn", ep, sizeof(ep), region, sizeof(region), service, sizeof(service)) == -1);
}

static void test_image_types(void)
{
	CHECK(strcmp(image_content_type("\xff\xd8\xff\xe0", 4), "image/jpeg") == 0);
	CHECK(strcmp(image_content_type("\x89PNG\r\n\x1a\n", 8), "image/png") == 0);
	CHECK(image_content_type("GIF89a", 6) == NULL);
	CHECK(image_content_type("hello", 5) == NULL);
	CHECK(image_content_type("", 0) == NULL);
}

static void test_source_validate(void)
{
	struct luna_config cfg;
	struct source_error err = {0};
	char msg[256];
	config_load(&cfg, NULL, msg, sizeof(msg));
	json_object *ok = json_tokener_parse("{\"source_type\":\"zip\",\"reference\":\"https://x/a.zip\"}");
	json_object *file = json_tokener_parse("{\"source_type\":\"zip\",\"reference\":\"file:///etc/passwd\"}");
	json_object *arn = json_tokener_parse("{\"source_type\":\"s3\",\"reference\":{\"bucket_name\":"
					      "\"arn:aws:s3:eu-central-1:0:accesspoint/b\",\"region\":\"x\"},"
					      "\"authorization\":{}}");
	json_object *nd = json_tokener_parse("{\"source_type\":\"network_disk\",\"reference\":{\"path\":\"/tmp\"}}");
	/* The default outbound policy allows no client-given URL. */
	CHECK(source_validate(&cfg, ok, &err) == -1 && err.code == E_BAD_JSON &&
	      strstr(err.detail, "Path: 'content.source.reference'") && strstr(err.detail, "[OUTBOUND] ALLOW"));
	snprintf(cfg.outbound_allow, sizeof(cfg.outbound_allow), "x, 127.0.0.1:21, 10.0.0.0/8");
	CHECK(source_validate(&cfg, ok, &err) == 0);
	CHECK(source_validate(&cfg, file, &err) == -1 && err.code == E_BAD_SOURCE);
	CHECK(source_validate(&cfg, arn, &err) == -1 && strstr(err.detail, "ARN"));
	CHECK(source_validate(&cfg, nd, &err) == -1 && strstr(err.detail, "NETWORK_DISK_ROOTS"));
	json_object_put(ok);
	json_object_put(file);
	json_object_put(arn);
	json_object_put(nd);

	/* Outside the allow-list: 12022 naming the JSON path; names that may
	 * resolve into an allowed network are left to the connect-time check. */
	static const struct {
		const char *json, *path;
	} refused[] = {
		{"{\"source_type\":\"zip\",\"reference\":\"http://169.254.169.254/latest/meta-data\"}",
		 "content.source.reference"},
		{"{\"source_type\":\"zip\",\"reference\":\"http://user:pw@[::1]:8080/a.zip\"}", "content.source.reference"},
		{"{\"source_type\":\"s3\",\"reference\":{\"bucket_name\":\"b\",\"endpoint\":\"http://127.0.0.1:9000\"},"
		 "\"authorization\":{}}",
		 "content.source.reference.endpoint"},
		{"{\"source_type\":\"ftp\",\"reference\":{\"host\":\"127.0.0.1\",\"port\":2121}}",
		 "content.source.reference.host"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		json_object *src = json_tokener_parse(refused[i].json);
		char want[128];
		snprintf(want, sizeof(want), "Path: '%s'", refused[i].path);
		CHECK(source_validate(&cfg, src, &err) == -1 && err.code == E_BAD_JSON && strstr(err.detail, want) &&
			      !strstr(err.detail, "pw"),
		      "%s: %s", refused[i].json, err.detail);
		json_object_put(src);
	}
	/* An ARN's endpoint is a name: refused when only names are allowed. */
	json_object *arn_src = json_tokener_parse("{\"source_type\":\"s3\",\"reference\":{\"bucket_name\":"
						  "\"arn:aws:s3:eu-central-1:000000000000:accesspoint/b\"},\"authorization\":{}}");
	CHECK(source_validate(&cfg, arn_src, &err) == 0);
	snprintf(cfg.outbound_allow, sizeof(cfg.outbound_allow), "x");
	CHECK(source_validate(&cfg, arn_src, &err) == -1 && strstr(err.detail, "'content.source.reference.bucket_name'"));
	json_object_put(arn_src);
	snprintf(cfg.outbound_allow, sizeof(cfg.outbound_allow), "x, 127.0.0.1:21, 10.0.0.0/8");
	static const char *const allowed[] = {
		"{\"source_type\":\"zip\",\"reference\":\"https://10.9.8.7/a.zip\"}",
		"{\"source_type\":\"zip\",\"reference\":\"http://images.internal/a.zip\"}",
		"{\"source_type\":\"ftp\",\"reference\":{\"host\":\"127.0.0.1\"}}",
		"{\"source_type\":\"s3\",\"reference\":{\"bucket_name\":\"b\",\"endpoint\":\"http://x\"},"
		"\"authorization\":{}}",
	};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		json_object *src = json_tokener_parse(allowed[i]);
		CHECK(source_validate(&cfg, src, &err) == 0, "%s: %s", allowed[i], err.detail);
		json_object_put(src);
	}
}

/* ---- S3 against a live server (tests/integration/test_storage_s3.py sets
 * LUNA_S3_TEST_ENDPOINT to s3rver behind the SigV4-checking proxy) ---------- */

static int collect_key(void *ud, const char *key, long long size)
{
	struct names *n = ud;
	(void)size;
	if (n->buf[0])
		strcat(n->buf, ",");
	strcat(n->buf, key);
	return 0;
}

static int collect_count(void *ud, const char *key, long long size)
{
	(void)key, (void)size;
	(*(int *)ud)++;
	return 0;
}

static void test_s3_live(const char *endpoint, const char *bucket, const char *dir)
{
	struct luna_config cfg;
	char err[256], path[600];
	config_load(&cfg, NULL, err, sizeof(err));
	snprintf(cfg.s3_endpoint, sizeof(cfg.s3_endpoint), "%s", endpoint);
	snprintf(cfg.s3_bucket, sizeof(cfg.s3_bucket), "%s", bucket);
	snprintf(cfg.s3_access_key, sizeof(cfg.s3_access_key), "S3RVER");
	snprintf(cfg.s3_secret_key, sizeof(cfg.s3_secret_key), "S3RVER");
	struct storage *st = storage_s3_open(&cfg, err, sizeof(err));
	CHECK(st != NULL);
	if (!st)
		return;
	CHECK(st->ops->check(st, err, sizeof(err)) == 0);
	CHECK(st->ops->put(st, "blob-1", "hello", 5) == 0);
	void *data = NULL;
	size_t len = 0;
	CHECK(st->ops->get(st, "blob-1", &data, &len) == 0 && len == 5 && memcmp(data, "hello", 5) == 0);
	free(data);
	FILE *f = NULL;
	CHECK(st->ops->open_read(st, "blob-1", &f, &len) == 0 && len == 5);
	if (f) {
		char buf[8] = "";
		CHECK(fread(buf, 1, 8, f) == 5 && memcmp(buf, "hello", 5) == 0);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/upload.bin", dir);
	FILE *w = fopen(path, "wb");
	for (int i = 0; w && i < 300000; i++)
		fputc(i & 0xff, w);
	if (w)
		fclose(w);
	CHECK(st->ops->put_file(st, "blob-2", path) == 0 && access(path, F_OK) != 0);
	CHECK(st->ops->get(st, "blob-2", &data, &len) == 0 && len == 300000 && ((unsigned char *)data)[299999] == (299999 & 0xff));
	free(data);
	CHECK(st->ops->del(st, "blob-1") == 0);
	errno = 0;
	CHECK(st->ops->get(st, "blob-1", &data, &len) == -1 && errno == ENOENT);
	CHECK(st->ops->del(st, "blob-1") == 0);            /* missing is fine */
	CHECK(st->ops->put(st, "../escape", "x", 1) == -1 && errno == EINVAL);
	st->ops->close(st);

	/* A wrong secret is refused by the server. */
	snprintf(cfg.s3_secret_key, sizeof(cfg.s3_secret_key), "not-the-secret");
	st = storage_s3_open(&cfg, err, sizeof(err));
	CHECK(st && st->ops->put(st, "blob-3", "x", 1) == -1);
	storage_close(st);

	/* Listing (paged by the server at 1000 keys), with and without delimiter, v4 and v2. */
	struct s3_config c = {.endpoint = endpoint, .bucket = bucket, .access_key = "S3RVER", .secret_key = "S3RVER"};
	struct s3 *s3 = s3_open(&c, err, sizeof(err));
	struct http_error he = {0};
	CHECK(s3 != NULL);
	if (!s3)
		return;
	const char *keys[] = {"dir/a b.png", "dir/sub/c.png", "dir/\xc3\xa9t\xc3\xa9.png", "dir2/x.png", "top&amp.png"};
	for (size_t i = 0; i < 5; i++)
		CHECK(s3_put(s3, keys[i], "x", 1, &he) == 0);
	struct names got = {""};
	CHECK(s3_list(s3, "dir/", NULL, collect_key, &got, NULL, &he) == 0);
	CHECK(strcmp(got.buf, "dir/a b.png,dir/sub/c.png,dir/\xc3\xa9t\xc3\xa9.png") == 0);
	got.buf[0] = 0;
	CHECK(s3_list(s3, "dir/", "/", collect_key, &got, NULL, &he) == 0);
	CHECK(strcmp(got.buf, "dir/a b.png,dir/\xc3\xa9t\xc3\xa9.png") == 0);
	got.buf[0] = 0;
	CHECK(s3_list(s3, "top", NULL, collect_key, &got, NULL, &he) == 0 && strcmp(got.buf, "top&amp.png") == 0);
	for (int i = 0; i < 1005; i++) {
		char k[32];
		snprintf(k, sizeof(k), "many/%04d.png", i);
		s3_put(s3, k, "y", 1, &he);
	}
	int count = 0;
	CHECK(s3_list(s3, "many/", NULL, collect_count, &count, NULL, &he) == 0 && count == 1005);
	if (count != 1005)
		printf("  listing of 1005 keys: %d keys, %s\n", count, he.detail);
	s3_close(s3);
	c.sigv2 = 1;
	s3 = s3_open(&c, err, sizeof(err));
	got.buf[0] = 0;
	CHECK(s3 && s3_list(s3, "dir2/", NULL, collect_key, &got, NULL, &he) == 0 && strcmp(got.buf, "dir2/x.png") == 0);
	if (strcmp(got.buf, "dir2/x.png") != 0)
		printf("  v2 listing: '%s', %s\n", got.buf, he.detail);
	void *d2 = NULL;
	size_t l2 = 0;
	CHECK(s3 && s3_get(s3, "dir/a b.png", 10, &d2, &l2, NULL, &he) == 0 && l2 == 1);
	free(d2);
	s3_close(s3);
}

int main(void)
{
	char dir[] = "/tmp/luna-test-sources-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	test_prefix_table();
	test_postfix_table();
	test_not_recursive();
	test_name_safety();
	test_network_disk(dir);
	test_zip(dir);
	test_zip_crypto_wrong_password(dir);
	test_sigv4();
	test_sigv2();
	test_arn();
	test_image_types();
	test_source_validate();
	if (getenv("LUNA_S3_TEST_ENDPOINT"))
		test_s3_live(getenv("LUNA_S3_TEST_ENDPOINT"), getenv("LUNA_S3_TEST_BUCKET"), dir);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("cannot remove %s\n", dir);
	return CHECK_DONE();
}
