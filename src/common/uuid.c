/* UUID v4 from getrandom(2), read a few KiB at a time. */
#include "common/uuid.h"
#include "common/fmt.h"
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Random bytes for uuids: one getrandom call per 256 uuids instead of one
 * per uuid. The pool is per process: a fork empties the child's copy, so a
 * parent and its children never hand out the same bytes. */
#define POOL_SIZE 4096
static struct {
	pthread_mutex_t lock;
	unsigned char bytes[POOL_SIZE];
	size_t used;                   /* bytes already handed out */
} pool = {PTHREAD_MUTEX_INITIALIZER, {0}, POOL_SIZE};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_lock_for_fork(void)
{
	pthread_mutex_lock(&pool.lock);
}

static void pool_unlock_in_parent(void)
{
	pthread_mutex_unlock(&pool.lock);
}

static void pool_empty_in_child(void)
{
	memset(pool.bytes, 0, sizeof(pool.bytes));
	pool.used = sizeof(pool.bytes);
	pthread_mutex_unlock(&pool.lock);
}

static void pool_watch_forks(void)
{
	pthread_atfork(pool_lock_for_fork, pool_unlock_in_parent, pool_empty_in_child);
}

static void fill(unsigned char *b, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(b + got, len - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
}

static void random_bytes(unsigned char *out, size_t len)
{
	pthread_once(&pool_once, pool_watch_forks);
	pthread_mutex_lock(&pool.lock);
	if (sizeof(pool.bytes) - pool.used < len) {
		fill(pool.bytes, sizeof(pool.bytes));
		pool.used = 0;
	}
	memcpy(out, pool.bytes + pool.used, len);
	memset(pool.bytes + pool.used, 0, len);   /* each byte is handed out once */
	pool.used += len;
	pthread_mutex_unlock(&pool.lock);
}

void uuid4(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	random_bytes(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p = '\0';
}

int uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

void request_id_new(char out[48])
{
	/* "%010lld,%s" by hand; a time beyond 10 digits is cut like snprintf would. */
	char buf[64];
	char *p = fmt_dec(buf, (long long)time(NULL), 10);
	*p++ = ',';
	uuid4(p);
	size_t n = strlen(buf);
	if (n > 47)
		n = 47;
	memcpy(out, buf, n);
	out[n] = '\0';
}

int request_id_valid(const char *s)
{
	if (!s || strlen(s) != 47 || s[10] != ',')
		return 0;
	for (int i = 0; i < 10; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return uuid_valid(s + 11);
}
