# shellcheck shell=bash
# Shared pieces of the shell tests (tests/docs/run.sh, tests/package/run.sh),
# sourced after `set -u`: counting checks and the final "N passed, M failed",
# stopping a process by PID, a free loopback port, and a private nginx around
# a copy of the luna-tasks site file. The caller keeps its own cleanup trap.

PASSED=0
FAILED=0

say() { printf '%s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); say "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); say "not ok - $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local what=$1
	shift
	if "$@" >/dev/null; then pass "$what"; else fail "$what"; fi
}

# Prints the counts and exits: 0 only when something passed and nothing failed.
finish() {
	say "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
	exit $?
}

# Stops a process by PID: SIGTERM, then SIGKILL after SECONDS (default 10).
# 1 when it had to be killed.
stop_pid() { # PID [SECONDS]
	local pid=$1 wait=${2:-10} i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < wait * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 1
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# DIR/site.conf from the site file SRC: listening on 127.0.0.1:PORT and
# logging into DIR; further sed arguments (-e EXPR...) edit it more.
nginx_site() { # SRC DIR PORT [SED-ARG...]
	local src=$1 dir=$2 port=$3
	shift 3
	sed -e "s|^\([[:space:]]*\)listen 127.0.0.1:5050;|\1listen 127.0.0.1:$port;|" \
		-e "s|/var/log/nginx/luna-tasks|$dir/luna-tasks|g" "$@" "$src" >"$dir/site.conf"
}

# DIR/nginx.conf: one worker serving DIR/site.conf, with its pid file, logs
# and temporary files in DIR (DIR/tmp must exist); the DIRECTIVEs go to the
# main context ("user www-data;", "daemon off;").
nginx_conf() { # DIR [DIRECTIVE...]
	local dir=$1
	shift
	{
		[ $# -gt 0 ] && printf '%s\n' "$@"
		cat <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 256; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    fastcgi_temp_path $dir/tmp/fastcgi;
    proxy_temp_path $dir/tmp/proxy;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/site.conf;
}
CONF
	} >"$dir/nginx.conf"
}
