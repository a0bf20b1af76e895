#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz/ with clang, ASan and UBSan in a
# temporary directory and runs each for its share of SECONDS (default 30, split
# evenly, at least 1 s each), seeded from tests/fuzz/corpus/<seeds>:
#   fuzz_validate  request bodies and query strings against the spec's schemas
#   fuzz_where     filter objects -> parameterised SQL (objects_where_build)
#   fuzz_content   task contents through the account rule and each type's validate
#   fuzz_cron      cron expressions and their next due times in IANA zones
# Exits nonzero on a crash, a leak, a timeout or a build failure; on failure the
# temporary directory (with the crashing input) is kept and its path printed.
# The spec is $LUNA_SPEC, default docs/luna-tasks.yaml of this repository.
set -eu

secs=${1:-30}
case "$secs" in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
each=$((secs / 4))
[ "$each" -ge 1 ] || each=1

root=$(cd "$(dirname "$0")/../.." && pwd)
LUNA_SPEC=${LUNA_SPEC:-$root/docs/luna-tasks.yaml}
export LUNA_SPEC
CC=${FUZZ_CC:-clang}

work=$(mktemp -d "${TMPDIR:-/tmp}/luna-fuzz.XXXXXX")
keep=1
cleanup() {
	if [ "$keep" -eq 0 ]; then
		rm -rf "$work"
	else
		echo "fuzz: kept $work" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# What configure's config.h and the Makefile's AM_CPPFLAGS give the sources.
CFLAGS="-g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -D_GNU_SOURCE -DSYSCONFDIR=\"/etc\" -DPKGDATADIR=\"/usr/share/luna-tasks\" \
	-DLOCALSTATEDIR=\"/var\" -I $root/src -I $root"
SCHEMA_SRC="$(cd "$root" && echo src/common/schema_*.c) src/common/yaml_json.c src/common/query.c src/common/encoding.c \
	src/common/json_text.c src/common/json_path.c src/common/pyrepr.c src/common/timefmt.c"

# build NAME PKG-CONFIG-MODULES SOURCES…
build() {
	name=$1 pkgs=$2
	shift 2
	srcs=""
	for s in "$@"; do srcs="$srcs $root/$s"; done
	# shellcheck disable=SC2046,SC2086
	"$CC" $CFLAGS $(pkg-config --cflags $pkgs) "$root/tests/fuzz/$name.c" $srcs -o "$work/$name" \
		$(pkg-config --libs $pkgs) -lpthread -lm
}

build fuzz_validate "json-c yaml-0.1" $SCHEMA_SRC
build fuzz_cron "json-c" src/common/cron.c src/common/tzinfo.c src/common/timefmt.c
build fuzz_where "json-c" src/backends/objects_local_filters.c src/common/sql_build.c src/common/arena.c src/common/timefmt.c \
	src/common/uuid.c
# The task types need the whole library (none of it is called without a DB,
# objects backend or handlers service, but it is linked).
# shellcheck disable=SC2046
build fuzz_content "json-c yaml-0.1 libmariadb libcurl libzip openblas zlib libcrypto" \
	$(cd "$root" && ls src/common/*.c src/match/*.c src/backends/*.c src/tasks/*.c)

# run NAME SEEDS…: new inputs go to the first (temporary) directory; the seeds are only read.
run() {
	name=$1
	shift
	dirs=""
	for d in "$@"; do dirs="$dirs $root/tests/fuzz/corpus/$d"; done
	mkdir "$work/corpus-$name"
	echo "fuzz: $name for ${each}s"
	# shellcheck disable=SC2086
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	"$work/$name" -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 \
		-max_len=16384 -print_final_stats=1 -artifact_prefix="$work/$name-" \
		"$work/corpus-$name" $dirs
}

status=0
run fuzz_validate validate || status=$?
[ "$status" -ne 0 ] || run fuzz_where where || status=$?
[ "$status" -ne 0 ] || run fuzz_content validate content || status=$?
[ "$status" -ne 0 ] || run fuzz_cron cron || status=$?

if [ "$status" -eq 0 ]; then
	keep=0
	echo "fuzz: no crash in ${secs}s"
else
	echo "fuzz: FAILED (exit $status)" >&2
fi
exit "$status"
