#!/bin/sh
# Builds tests/fuzz/fuzz_validate.c with clang's libFuzzer, ASan and UBSan in a temporary
# directory and runs it for SECONDS (default 30) seeded from tests/fuzz/corpus/.
# Exits nonzero on a crash, a leak, a timeout or a build failure; on failure the
# temporary directory (with the crashing input) is kept and its path printed.
# The spec is $LUNA_SPEC, default docs/luna-tasks.yaml of this repository.
set -eu

secs=${1:-30}
case "$secs" in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

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

# shellcheck disable=SC2046
"$CC" -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -I "$root/src" $(pkg-config --cflags json-c yaml-0.1) \
	"$root/tests/fuzz/fuzz_validate.c" "$root/src/common/schema.c" \
	"$root/src/common/yaml_json.c" "$root/src/common/query.c" "$root/src/common/encoding.c" \
	"$root/src/common/json_text.c" \
	-o "$work/fuzz_validate" $(pkg-config --libs json-c yaml-0.1)

mkdir "$work/corpus"
status=0
# New inputs go to the first (temporary) directory; the seeds are only read.
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
"$work/fuzz_validate" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=16384 -print_final_stats=1 -artifact_prefix="$work/" \
	"$work/corpus" "$root/tests/fuzz/corpus" || status=$?

if [ "$status" -eq 0 ]; then
	keep=0
	echo "fuzz: no crash in ${secs}s"
else
	echo "fuzz: FAILED (exit $status)" >&2
fi
exit "$status"
