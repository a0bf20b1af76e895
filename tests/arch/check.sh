#!/bin/sh
# check.sh [ROOT]: the boundaries of the source tree, by grep. Each check
# prints every line that breaks it (file:line: text) and counts as failed;
# the script ends with "N passed, M failed" and exits nonzero on a failure.
# Run by ./dev test (hence CI).
#   - task code (src/tasks/) includes no scheduler header: what it needs of
#     the process running it comes through ctx->host (struct task_host);
#   - task code names no table of the tasks database and runs no statement on
#     its connection: the host reads and writes it;
#   - SQL of the objects tables stays in the local objects backend
#     (src/backends/objects_local*.c): no other part names those tables or
#     includes the backend's private headers (objects_local.h, objects_where.h;
#     its unit and fuzz tests may);
#   - task code calls no libcurl: outbound HTTP goes through
#     src/backends/http_client.h (the outbound policy lives there);
#   - no array on the stack sized at run time: the build warns with -Wvla
#     (configure.ac) and fails with -Werror; alloca is not used either;
#   - no db_exec with a parameter count written by hand (outside
#     src/common/db.c): DB_EXEC counts them (perl reads the calls whole).
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2
passed=0 failed=0

# check WHAT GREP-ARGS…: a check passes when grep finds nothing.
check() {
	what=$1
	shift
	hits=$(grep -rnE "$@" 2>/dev/null)
	if [ -n "$hits" ]; then
		echo "FAIL: $what"
		echo "$hits" | sed 's/^/  /'
		failed=$((failed + 1))
	else
		echo "ok: $what"
		passed=$((passed + 1))
	fi
}

check 'no #include "scheduler/..." under src/tasks/' '#[[:space:]]*include[[:space:]]*"scheduler/' src/tasks
check 'no table of the tasks database named under src/tasks/ (task, subtask, task_error, heartbeat)' \
	'\b(FROM|JOIN|INTO|UPDATE|TABLE)[[:space:]]+`?(task|subtask|task_error|heartbeat)\b|\btask_error\b' src/tasks
check 'no statement on the tasks database connection under src/tasks/' '\bdb_(exec|stream|query)[[:space:]]*\([^,]*tasks_db' \
	src/tasks
check 'no table of the objects database named outside src/backends/objects_local*.c' \
	'\b(FROM|JOIN|INTO|UPDATE)[[:space:]]+`?(face|event|descriptor|list|list_face|attribute|sample|event_tag|event_match)\b' \
	src/tasks src/api src/scheduler src/admin src/common
check 'the objects backend'"'"'s private headers included by its own files (and its unit and fuzz tests) only' \
	'#[[:space:]]*include[[:space:]]*"backends/objects_(local|where)\.h"' src tests --exclude=objects.c \
	--exclude='objects_local*.c' --exclude=objects_local.h --exclude=objects_where.h \
	--exclude=test_objects_filters.c --exclude=fuzz_where.c
check 'no libcurl under src/tasks/ (outbound HTTP goes through src/backends/http_client.h)' \
	'\bcurl_[a-z_]+[[:space:]]*\(|#[[:space:]]*include[[:space:]]*<curl/' src/tasks
check 'no task_ctx.host set through a cast' 'host[[:space:]]*=[[:space:]]*\(' src
check 'no alloca under src/' '\balloca[[:space:]]*\(' src
if grep -q -- '-Wvla' configure.ac && grep -q -- '-Werror' configure.ac; then
	echo "ok: the build refuses VLAs (-Wvla with -Werror in configure.ac)"
	passed=$((passed + 1))
else
	echo "FAIL: configure.ac lost -Wvla or -Werror: VLAs would go unnoticed"
	failed=$((failed + 1))
fi

# db_exec with a count written by hand: DB_EXEC (src/common/db.h) counts a
# statement's parameters; a list built at run time passes its length. The
# calls span lines, so perl reads each file whole and splits the arguments.
hits=$(find src -name '*.c' ! -path src/common/db.c -exec perl -0777 -ne '
	while (/\bdb_exec\s*(\(((?:[^()"]++|"(?:[^"\\]|\\.)*+"|(?1))*+)\))/g) {
		my ($args, $at, $d, $cur, @a) = ($2, $-[0], 0, "");
		for my $t ($args =~ /("(?:[^"\\]|\\.)*"|[(),]|[^(),"]+)/gs) {
			$d++ if $t eq "(";
			$d-- if $t eq ")";
			if ($t eq "," && !$d) { push @a, $cur; $cur = ""; next }
			$cur .= $t;
		}
		next unless defined $a[4] && $a[4] =~ /^\s*\d+\s*$/;
		my $line = 1 + (substr($_, 0, $at) =~ tr/\n//);
		(my $text = substr($_, $at, 72)) =~ s/\s+/ /g;
		print "$ARGV:$line: $text\n";
	}' {} +)
if [ -n "$hits" ]; then
	echo "FAIL: db_exec( with a literal parameter count (use DB_EXEC)"
	echo "$hits" | sed 's/^/  /'
	failed=$((failed + 1))
else
	echo "ok: no db_exec( with a literal parameter count outside src/common/db.c (DB_EXEC counts them)"
	passed=$((passed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
