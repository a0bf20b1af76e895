#!/bin/bash
# tests/docs/run.sh [URL]
#
# The documentation pages in a real browser. Opens /2/docs/spec (HTML) and
# /2/docs/dev in headless Chromium (Debian's chromium), keeps a screenshot of
# each in the test's folder, and checks through --dump-dom that the pages
# show every operation and schema of the contract and every section of the
# manual, that nothing is loaded from the network and that the browser
# console stays silent (no errors, no uncaught exceptions). Also checks the
# manual and luna-tasks.conf(5) against the configuration and error tables
# of the sources (tests/docs/check.py). Then the task console /2/ui on a
# full private stack of its own (tests/docs/console.py, over the DevTools
# protocol: screenshots, progress bars, the ROC curve, cancel and delete,
# no console errors, no request to another host than 127.0.0.1).
#
# URL: a running stack (or $LUNA_TASKS_URL). Without one the test starts what
# the pages need by itself: luna-tasks-api from $LUNA_BUILD (default
# build/release) under spawn-fcgi with a temporary configuration whose
# [API] DOCS_DIR is the build folder's docs/ (no database is needed), behind
# a temporary nginx on a free loopback port using the production site file
# conf/nginx-site.conf. Everything it starts it stops by PID.
#
# Prints one line per check and "N passed, M failed"; exits 1 on any failure.
# LUNA_KEEP=1 keeps the folder (screenshots, DOM dumps, browser logs).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
URL=${1:-${LUNA_TASKS_URL:-}}
URL=${URL%/}
declare -a PIDS=()
NGINX_PID=""

WORK=$(mktemp -d /tmp/luna-docs.XXXXXX)

cleanup() {
	local pid
	[ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID"
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ "${LUNA_KEEP:-0}" = 1 ] || [ "$FAILED" -gt 0 ]; then
		say "# kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Adds the counts of a check.py run (its last line is "passed=N failed=M").
add_counts() { # FILE
	local line
	line=$(tail -n 1 "$1")
	if [[ $line =~ ^passed=([0-9]+)\ failed=([0-9]+)$ ]]; then
		PASSED=$((PASSED + BASH_REMATCH[1]))
		FAILED=$((FAILED + BASH_REMATCH[2]))
		sed '$d' "$1"
	else
		cat "$1"
		fail "check.py did not finish"
	fi
}

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { fail "chromium is missing (Debian package chromium)"; finish; }
command -v curl >/dev/null && command -v python3 >/dev/null ||
	{ fail "curl or python3 is missing"; finish; }

# The sources' own tables against the manual and the man page.
python3 "$ROOT/tests/docs/check.py" sources "$ROOT" >"$WORK/sources.out" 2>&1
add_counts "$WORK/sources.out"

# ---------------------------------------------------------------------------
# A stack that serves the docs, unless one was given

start_own_stack() {
	local build sock port conf
	build=${LUNA_BUILD:-$ROOT/build/release}
	[ -x "$build/luna-tasks-api" ] || { fail "no $build/luna-tasks-api (./dev build, or give a URL)"; finish; }
	[ -f "$build/docs/manual.html" ] || { fail "no $build/docs/manual.html: the build did not render the manual"; finish; }
	command -v nginx >/dev/null && command -v spawn-fcgi >/dev/null ||
		{ fail "nginx or spawn-fcgi is missing"; finish; }
	sock="$WORK/api.sock"
	conf="$WORK/luna-tasks.conf"
	# The docs pages need no database: the api connects lazily.
	cat >"$conf" <<EOF
[LUNA_TASKS_DB]
HOST = 127.0.0.1
PORT = 9
CONNECT_TIMEOUT = 1
[STORAGE]
PATH = $WORK/store
[API]
DOCS_DIR = $build/docs
METRICS_FILE = $WORK/api-metrics
EOF
	mkdir -p "$WORK/store" "$WORK/nginx/tmp"
	setsid spawn-fcgi -n -s "$sock" -M 0666 -- "$ROOT/packaging/luna-tasks-api-pool" 2 \
		"$build/luna-tasks-api" -c "$conf" </dev/null >>"$WORK/api.log" 2>&1 &
	PIDS+=($!)
	port=$(free_port)
	nginx_site "$ROOT/conf/nginx-site.conf" "$WORK/nginx" "$port" -e "s|unix:/run/luna-tasks/api.sock|unix:$sock|"
	if [ "$(id -u)" = 0 ]; then
		nginx_conf "$WORK/nginx" "daemon off;" "user root;"
	else
		nginx_conf "$WORK/nginx" "daemon off;"
	fi
	nginx -p "$WORK/nginx/" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" </dev/null \
		>>"$WORK/nginx/error.log" 2>&1 &
	NGINX_PID=$!
	URL="http://127.0.0.1:$port"
	local i
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null --max-time 2 -H 'Accept: text/html' "$URL/2/docs/dev" 2>/dev/null && return 0
		sleep 0.1
	done
	tail -n 5 "$WORK/api.log" "$WORK/nginx/error.log"
	fail "the api behind nginx did not come up at $URL"
	finish
}

if [ -z "$URL" ]; then
	start_own_stack
	say "# started the api and nginx at $URL"
else
	say "# using the stack at $URL"
fi

# ---------------------------------------------------------------------------
# The pages over HTTP

for page in spec dev; do
	code=$(curl -sS -o "$WORK/$page.html" -D "$WORK/$page.headers" -w '%{http_code}' --max-time 30 \
		-H 'Accept: text/html' "$URL/2/docs/$page" 2>>"$WORK/curl.log")
	if [ "$code" = 200 ] && grep -qi '^content-type: text/html' "$WORK/$page.headers"; then
		pass "GET /2/docs/$page answers 200 text/html"
	else
		fail "GET /2/docs/$page answers 200 text/html (got $code)"
	fi
done

# ---------------------------------------------------------------------------
# Headless Chromium: screenshots, DOM and console

BROWSER_FLAGS=(--headless --no-sandbox --disable-gpu --disable-background-networking
	--disable-component-update --disable-sync --no-first-run --disable-default-apps
	--user-data-dir="$WORK/chromium-profile" --enable-logging=stderr --v=0 --window-size=1400,1000)

browse() { # NAME URL ACTION...: DOM or screenshot, browser log in NAME.log
	local name=$1 url=$2
	shift 2
	timeout 120 "$CHROMIUM" "${BROWSER_FLAGS[@]}" "$@" "$url" >"$WORK/$name.out" 2>>"$WORK/$name.log"
}

# The console check must be able to fail: a page with an error has to show up.
browse selftest 'data:text/html,<p>x</p><script>undefinedFunction()</script>' --virtual-time-budget=2000 --dump-dom
if grep -q 'Uncaught' "$WORK/selftest.log"; then
	pass "the browser log shows console errors (checked on a broken page)"
else
	fail "the browser log does not show console errors; the console checks below would prove nothing"
fi

for page in spec dev; do
	browse "$page-dom" "$URL/2/docs/$page" --virtual-time-budget=5000 --dump-dom
	cp "$WORK/$page-dom.out" "$WORK/$page.dom.html"
	if [ -s "$WORK/$page.dom.html" ] && grep -q '</html>' "$WORK/$page.dom.html"; then
		pass "chromium renders /2/docs/$page"
	else
		fail "chromium renders /2/docs/$page (see $WORK/$page-dom.log)"
	fi
	browse "$page-shot" "$URL/2/docs/$page" --virtual-time-budget=5000 --screenshot="$WORK/$page.png"
	size=$(stat -c %s "$WORK/$page.png" 2>/dev/null || echo 0)
	# A blank page makes a PNG of a few kilobytes; a page of text many more.
	if [ "$size" -gt 30000 ]; then
		pass "screenshot of /2/docs/$page ($WORK/$page.png, $size bytes)"
	else
		fail "screenshot of /2/docs/$page is missing or blank ($size bytes)"
	fi
	console=$(grep -hE 'CONSOLE|Uncaught' "$WORK/$page-dom.log" "$WORK/$page-shot.log" | head -n 5)
	if [ -z "$console" ]; then
		pass "no console messages on /2/docs/$page"
	else
		fail "console messages on /2/docs/$page: $console"
	fi
done

python3 "$ROOT/tests/docs/check.py" pages "$ROOT" "$WORK/spec.dom.html" "$WORK/dev.dom.html" \
	"$WORK/spec.html" "$WORK/dev.html" >"$WORK/pages.out" 2>&1
add_counts "$WORK/pages.out"

# ---------------------------------------------------------------------------
# The task console (/2/ui) on a full stack of its own (database, scheduler):
# tests/docs/console.py drives Chromium over the DevTools protocol.

LUNA_BUILD=${LUNA_BUILD:-$ROOT/build/release} timeout 900 /usr/bin/python3 "$ROOT/tests/docs/console.py" "$WORK" \
	>"$WORK/console.out" 2>&1
add_counts "$WORK/console.out"

finish
