#!/bin/bash
# tests/package/run.sh [--deb FILE] [--keep]
#
# The Debian package from build to purge, on this machine, as root:
#  1. builds luna-tasks_*.deb with dpkg-buildpackage from a copy of the work
#     tree (tracked and not-ignored files), unless --deb names one: the
#     Build-Depends are installed (dpkg-checkbuilddeps) and name every library
#     configure asks for, and the build leaves nothing in debian/ that git
#     would show as untracked;
#  2. runs lintian (no errors allowed) and systemd-analyze verify on the units;
#  3. installs it with apt-get and checks what the package put where;
#  4. starts a private MariaDB (temporary folder, socket, by PID), checks that
#     luna-tasks-admin db check names a wrong password, a missing socket and a
#     missing database, points the installed configuration at it and runs
#     luna-tasks-admin db migrate, then db check (all OK);
#  5. starts the API pool and a scheduler exactly as their units would (the
#     ExecStart, User, Environment and EnvironmentFile of the installed units;
#     the machine has no running systemd, so the sandboxing is not applied),
#     with a NOTIFY_SOCKET to see the scheduler's READY=1 and watchdog pings
#     (and no READY=1 from a scheduler with a wrong password);
#     Imports faces with sample images as root (the files must end up the
#     store owner's, luna-tasks);
#  6. moves the packaged nginx site to a free loopback port by its listen line
#     (as an operator would), runs it in a private nginx and smoke-tests
#     through it (version, health, create and read a task, an exporter with
#     the imported images, the docs pages, nginx's JSON 400 (body too large) and 500 (pool down)); the
#     site's access log is 0640 and carries the request ids;
#  7. stops everything by PID and purges the package, then checks that nothing
#     of it is left.
# Prints one line per check and "N passed, M failed"; exits 1 on any failure.
# The package is installed system-wide: run it on a build or CI machine.
# --keep keeps the temporary folder (logs, the .deb).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
DEB=""
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--deb) DEB=$(readlink -f "$2"); shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: $0 [--deb FILE] [--keep]" >&2; exit 2 ;;
	esac
done

WORK=""
INSTALLED=0
declare -a PIDS=() UNIT_PIDS=()

# Stops what a unit started the way systemd does (KillMode=control-group):
# SIGTERM to the whole process group, SIGKILL after the unit's TimeoutStopSec.
# 0 when everything exited before the timeout.
stop_unit() { # PID UNIT
	local pid=$1 unit=$2 t i
	t=$(unit_values "$unit" TimeoutStopSec | tail -n 1)
	t=${t%s}
	t=${t:-90}
	kill -TERM -- "-$pid" 2>/dev/null || return 0
	for ((i = 0; i < t * 10; i++)); do
		pgrep -g "$pid" >/dev/null || return 0
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	return 1
}

cleanup() {
	local i
	for ((i = ${#UNIT_PIDS[@]} - 1; i >= 0; i--)); do
		kill -KILL -- "-${UNIT_PIDS[$i]}" 2>/dev/null
	done
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[$i]}" 10
	done
	if [ -n "$WORK" ] && [ -f "$WORK/nginx/nginx.pid" ]; then
		stop_pid "$(cat "$WORK/nginx/nginx.pid")" 10
	fi
	if [ "$INSTALLED" = 1 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q luna-tasks >/dev/null 2>&1
	fi
	if [ -n "$WORK" ]; then
		if [ "$KEEP" = 1 ] || [ "$FAILED" -gt 0 ]; then
			say "# kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || { fail "must run as root (installs a package)"; finish; }
missing=""
for tool in dpkg-buildpackage lintian apt-get mariadbd mariadb-install-db mariadb nginx spawn-fcgi curl \
	systemd-analyze setpriv python3; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	fail "tools missing:$missing (Debian packages: dpkg-dev debhelper lintian mariadb-server nginx-light spawn-fcgi curl systemd util-linux python3)"
	finish
fi

WORK=$(mktemp -d /tmp/luna-pkg.XXXXXX)
chmod 0755 "$WORK"      # the luna-tasks user reaches the DB socket and the notify socket here

# ---------------------------------------------------------------------------
# 1. Build

copy_tree() { # DEST: the work tree without build outputs
	mkdir -p "$1"
	if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$ROOT" && git ls-files -z -co --exclude-standard |
			grep -zv -e '^build/' -e '^\.run/' -e '^debian/build/' -e '^debian/luna-tasks/' -e '^debian/\.debhelper/' |
			xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$1"
	else
		(cd "$ROOT" && tar -cf - --exclude=./build --exclude=./.run --exclude=./.git .) | tar -xf - -C "$1"
	fi
}

# The libraries configure.ac asks for (LT_REQUIRE's Debian package names)
# that Build-Depends of debian/control does not list.
missing_build_depends() { # SRC
	local p deps
	deps=$(sed -n '/^Build-Depends:/,/^[A-Za-z-]*:/p' "$1/debian/control" | sed '$d' | tr ',' '\n' |
		sed -e 's/^Build-Depends://' -e 's/[(|].*//' -e 's/[[:space:]]//g')
	for p in $(sed -n 's/^LT_REQUIRE(\[[^]]*\], *\[[^]]*\], *\[\([^]]*\)\]).*/\1/p' "$1/configure.ac"); do
		grep -qx -- "$p" <<<"$deps" || echo "$p"
	done
}

# Files the build left in debian/ that git would show as untracked.
untracked_in_debian() { # SRC BEFORE-LIST
	local f
	(cd "$1" && find debian -mindepth 1 -maxdepth 1 | sort) | comm -13 "$2" - | while read -r f; do
		[ -d "$1/$f" ] && f="$f/"
		git -C "$ROOT" check-ignore -q --no-index -- "$f" || echo "$f"
	done
}

if [ -z "$DEB" ]; then
	copy_tree "$WORK/src"
	if (cd "$WORK/src" && dpkg-checkbuilddeps) >"$WORK/checkbuilddeps.log" 2>&1; then
		pass "dpkg-checkbuilddeps: the Build-Depends are installed"
	else
		sed 's/^/# /' "$WORK/checkbuilddeps.log"
		fail "dpkg-checkbuilddeps: the Build-Depends are installed"
	fi
	left=$(missing_build_depends "$WORK/src" | tr '\n' ' ')
	check "Build-Depends lists every library configure asks for${left:+ (missing: $left)}" test -z "$left"
	(cd "$WORK/src" && find debian -mindepth 1 -maxdepth 1 | sort) >"$WORK/debian-before.txt"
	say "# building the package in $WORK/src (log: $WORK/build.log)"
	if (cd "$WORK/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
		>"$WORK/build.log" 2>&1; then
		pass "dpkg-buildpackage -us -uc -b"
	else
		tail -n 30 "$WORK/build.log"
		fail "dpkg-buildpackage -us -uc -b"
		finish
	fi
	if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		left=$(untracked_in_debian "$WORK/src" "$WORK/debian-before.txt" | tr '\n' ' ')
		check "the build leaves no untracked file in debian/${left:+ (left: $left)}" test -z "$left"
	fi
	check "configure was given no unknown option" sh -c "! grep -q 'unrecognized options' '$WORK/build.log'"
	DEB=$(ls "$WORK"/luna-tasks_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
	CHANGES=$(ls "$WORK"/luna-tasks_*.changes 2>/dev/null | head -n 1)
else
	CHANGES=""
fi
[ -f "$DEB" ] || { fail "no .deb to test"; finish; }
say "# package: $DEB"

# ---------------------------------------------------------------------------
# 2. lintian

lintian --fail-on error --display-level '>=warning' ${CHANGES:-$DEB} >"$WORK/lintian.log" 2>&1
lrc=$?
sed 's/^/# lintian: /' "$WORK/lintian.log"
check "lintian reports no errors" test "$lrc" = 0

# ---------------------------------------------------------------------------
# 3. Install

if dpkg -s luna-tasks >/dev/null 2>&1; then
	say "# luna-tasks is installed already (a previous run?): purging it first"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q luna-tasks >/dev/null 2>&1
fi
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB" >"$WORK/install.log" 2>&1; then
	INSTALLED=1
	pass "apt-get install the .deb"
else
	tail -n 20 "$WORK/install.log"
	fail "apt-get install the .deb"
	finish
fi

stat_is() { # PATH OWNER:GROUP MODE
	[ "$(stat -c '%U:%G %a' "$1" 2>/dev/null)" = "$2 $3" ]
}
check "system user luna-tasks exists" getent passwd luna-tasks
check "/etc/luna-tasks/luna-tasks.conf is luna-tasks:luna-tasks 0640" \
	stat_is /etc/luna-tasks/luna-tasks.conf luna-tasks:luna-tasks 640
check "the configuration is a conffile" \
	sh -c "dpkg-query -W -f='\${Conffiles}' luna-tasks | grep -q ' /etc/luna-tasks/luna-tasks.conf '"
check "/var/lib/luna-tasks is luna-tasks:luna-tasks 0750" stat_is /var/lib/luna-tasks luna-tasks:luna-tasks 750
check "/run/luna-tasks exists (tmpfiles)" test -d /run/luna-tasks
for f in /usr/bin/luna-tasks-api /usr/bin/luna-tasks-scheduler /usr/bin/luna-tasks-admin \
	/usr/libexec/luna-tasks/luna-tasks-api-pool; do
	check "$f is installed and executable" test -x "$f"
done
for f in /usr/share/luna-tasks/luna-tasks.yaml /usr/share/luna-tasks/manual.html \
	/usr/share/luna-tasks/sql/tasks /etc/default/luna-tasks /etc/nginx/sites-available/luna-tasks \
	/usr/lib/tmpfiles.d/luna-tasks.conf /lib/systemd/system/luna-tasks-api.service \
	/lib/systemd/system/luna-tasks-scheduler.service /lib/systemd/system/luna-tasks-scheduler@.service; do
	check "$f is installed" test -e "$f"
done
check "the nginx site is not enabled" test ! -e /etc/nginx/sites-enabled/luna-tasks
listens=$(grep -E '^[[:space:]]*listen ' /etc/nginx/sites-available/luna-tasks | tr -s ' \t' ' ')
check "the nginx site listens on loopback only (found:$listens)" test "$listens" = " listen 127.0.0.1:5050;"
for log in /var/log/nginx/luna-tasks.access.log /var/log/nginx/luna-tasks.error.log; do
	check "$log is www-data:adm 0640 (as nginx's own logs)" stat_is "$log" www-data:adm 640
done
check "no unit is enabled by the package" sh -c '! ls /etc/systemd/system/*/luna-tasks* >/dev/null 2>&1'
for m in luna-tasks-api.8 luna-tasks-scheduler.8 luna-tasks-admin.8 luna-tasks.conf.5; do
	check "man page $m" test -f "/usr/share/man/man${m##*.}/$m.gz"
done
for u in luna-tasks-api.service luna-tasks-scheduler.service luna-tasks-scheduler@.service; do
	if systemd-analyze verify "/lib/systemd/system/$u" >"$WORK/verify-$u.log" 2>&1 &&
		! grep -q . "$WORK/verify-$u.log"; then
		pass "systemd-analyze verify $u"
	else
		sed 's/^/# verify: /' "$WORK/verify-$u.log"
		fail "systemd-analyze verify $u"
	fi
done

# ---------------------------------------------------------------------------
# 4. A private MariaDB and the installed configuration pointed at it

DBSOCK="$WORK/mysql.sock"
mkdir -p "$WORK/db"
if ! mariadb-install-db --no-defaults --auth-root-authentication-method=normal --skip-test-db \
	--datadir="$WORK/db" --user=root >"$WORK/mysql-install.log" 2>&1; then
	tail -n 20 "$WORK/mysql-install.log"
	fail "mariadb-install-db"
	finish
fi
mariadbd --no-defaults --datadir="$WORK/db" --socket="$DBSOCK" --pid-file="$WORK/mysql.pid" \
	--skip-networking --user=root --log-error="$WORK/mysql.err" --innodb-buffer-pool-size=64M \
	--character-set-server=utf8mb4 --default-time-zone=+00:00 </dev/null >>"$WORK/mysql.err" 2>&1 &
PIDS+=($!)
dbq() { mariadb --no-defaults -uroot --socket="$DBSOCK" "$@"; }
for ((i = 0; i < 300; i++)); do
	[ -S "$DBSOCK" ] && dbq -e 'SELECT 1' >/dev/null 2>&1 && break
	sleep 0.2
done
check "private MariaDB is up" dbq -e 'SELECT 1'

DBPASS="pkg-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
dbq -e "CREATE USER 'luna'@'localhost' IDENTIFIED BY '$DBPASS';
	GRANT ALL ON luna_tasks.* TO 'luna'@'localhost'; GRANT ALL ON luna_objects.* TO 'luna'@'localhost';"
# The installed configuration with SOCKET and PASSWORD replaced, into FILE.
conf_with() { # FILE SOCKET PASSWORD
	sed -e "s|^SOCKET *=.*|SOCKET = $2|" -e "s|^PASSWORD *=.*|PASSWORD = $3|" \
		/etc/luna-tasks/luna-tasks.conf >"$1"
}
# db_check_says NAME CONF TEXT...: db check fails, and its output holds every TEXT.
db_check_says() {
	local name=$1 conf=$2 out rc t
	shift 2
	out=$(luna-tasks-admin -c "$conf" db check 2>&1)
	rc=$?
	for t in "$@"; do
		if [ "$rc" = 0 ] || ! grep -qF -- "$t" <<<"$out"; then
			sed 's/^/# db check: /' <<<"$out"
			fail "db check with $name says: $*"
			return
		fi
	done
	pass "db check with $name says: $*"
}
conf_with "$WORK/wrong-password.conf" "$DBSOCK" "not-$DBPASS"
db_check_says "a wrong password" "$WORK/wrong-password.conf" "tasks database" "wrong user or password" "MariaDB 1045"
out=$(luna-tasks-admin -c "$WORK/wrong-password.conf" db check 2>&1)
check "  without showing the password" test -z "$(grep -F "not-$DBPASS" <<<"$out")"
out=$(luna-tasks-admin -c "$WORK/wrong-password.conf" db migrate 2>&1)
check "db migrate with a wrong password says so (not 'cannot create database')" \
	grep -q 'cannot connect: wrong user or password' <<<"$out"
conf_with "$WORK/no-socket.conf" "$WORK/no-such.sock" "$DBPASS"
db_check_says "a missing socket" "$WORK/no-socket.conf" "no server at the socket" "$WORK/no-such.sock" "MariaDB 2002"
conf_with "$WORK/right.conf" "$DBSOCK" "$DBPASS"
db_check_says "no database yet" "$WORK/right.conf" "the database does not exist" "db migrate" "MariaDB 1049"

# Written in place, as an operator's editor would: owner and mode stay.
conf_with "$WORK/conf.new" "$DBSOCK" "$DBPASS"
cat "$WORK/conf.new" >/etc/luna-tasks/luna-tasks.conf
check "luna-tasks-admin config check" luna-tasks-admin config check
if luna-tasks-admin db migrate >"$WORK/migrate.log" 2>&1; then
	pass "luna-tasks-admin db migrate"
else
	cat "$WORK/migrate.log"
	fail "luna-tasks-admin db migrate"
fi
check "db migrate is idempotent" luna-tasks-admin db migrate
if luna-tasks-admin db check >"$WORK/db-check.log" 2>&1 && grep -q 'everything answers' "$WORK/db-check.log"; then
	pass "luna-tasks-admin db check: everything answers"
else
	sed 's/^/# db check: /' "$WORK/db-check.log"
	fail "luna-tasks-admin db check: everything answers"
fi
check "  also as the service user" setpriv --reuid=luna-tasks --regid=luna-tasks --init-groups \
	luna-tasks-admin db check

# ---------------------------------------------------------------------------
# 5. The units, run by hand

# Lines KEY=... of the [Service] section of a unit.
unit_values() { # UNIT KEY
	awk -v key="$2" '
		/^\[/ { service = ($0 == "[Service]") }
		service && index($0, key "=") == 1 { print substr($0, length(key) + 2) }
	' "$1"
}

# Loads Environment= and EnvironmentFile= of a unit into the array UNIT_ENV
# (NAME=VALUE), in systemd's order: the files after the settings.
declare -A UNIT_ENV
load_unit_env() { # UNIT INSTANCE
	local unit=$1 inst=$2 line kv file
	UNIT_ENV=()
	while IFS= read -r line; do
		for kv in $line; do
			UNIT_ENV[${kv%%=*}]=${kv#*=}
		done
	done < <(unit_values "$unit" Environment)
	while IFS= read -r file; do
		file=${file//%i/$inst}
		file=${file#-}
		[ -f "$file" ] || continue
		while IFS= read -r line; do
			[[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
			UNIT_ENV[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
		done <"$file"
	done < <(unit_values "$unit" EnvironmentFile)
}

# ExecStart with ${VAR}, $VAR and the specifiers %i %H %% expanded.
unit_command() { # UNIT INSTANCE
	local cmd name
	cmd=$(unit_values "$1" ExecStart | tail -n 1)
	for name in "${!UNIT_ENV[@]}"; do
		cmd=${cmd//\$\{$name\}/${UNIT_ENV[$name]}}
		cmd=${cmd//\$$name/${UNIT_ENV[$name]}}
	done
	cmd=${cmd//%i/$2}
	cmd=${cmd//%H/$(hostname)}
	cmd=${cmd//%%/%}
	printf '%s\n' "$cmd"
}

# Starts a unit's ExecStart in the background the way systemd would: as
# User/Group, in WorkingDirectory, with the unit's environment only, with
# RuntimeDirectory made, in a process group of its own (the unit's cgroup).
# Sets STARTED_PID. Extra NAME=VALUE may follow.
start_unit() { # UNIT INSTANCE LOG [NAME=VALUE...]
	local unit=$1 inst=$2 log=$3 user group dir mode wd umask_v cmd
	shift 3
	load_unit_env "$unit" "$inst"
	local kv
	for kv in "$@"; do UNIT_ENV[${kv%%=*}]=${kv#*=}; done
	user=$(unit_values "$unit" User | tail -n 1)
	group=$(unit_values "$unit" Group | tail -n 1)
	wd=$(unit_values "$unit" WorkingDirectory | tail -n 1)
	umask_v=$(unit_values "$unit" UMask | tail -n 1)
	mode=$(unit_values "$unit" RuntimeDirectoryMode | tail -n 1)
	for dir in $(unit_values "$unit" RuntimeDirectory); do
		install -d -m "${mode:-0755}" -o "${user:-root}" -g "${group:-${user:-root}}" "/run/$dir"
	done
	cmd=$(unit_command "$unit" "$inst")
	echo "$cmd" >"$log.cmd"
	local envs=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
	local name
	for name in "${!UNIT_ENV[@]}"; do envs+=("$name=${UNIT_ENV[$name]}"); done
	local priv=()
	if [ -n "$user" ]; then
		priv=(setpriv --reuid="$user" --regid="${group:-$user}" --init-groups)
		envs+=("USER=$user" "HOME=/var/lib/luna-tasks")
	fi
	# shellcheck disable=SC2086
	(
		cd "${wd:-/}" || exit 1
		[ -n "$umask_v" ] && umask "$umask_v"
		exec setsid "${priv[@]}" env -i "${envs[@]}" $cmd
	) </dev/null >>"$log" 2>&1 &
	STARTED_PID=$!
	UNIT_PIDS+=("$STARTED_PID")
}

# A NOTIFY_SOCKET listener: every datagram becomes a line of $WORK/notify.log.
NOTIFY_SOCK="$WORK/notify.sock"
python3 - "$NOTIFY_SOCK" "$WORK/notify.log" <<'EOF' &
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
with open(log, "a", buffering=1) as f:
    while True:
        data = s.recv(4096).decode(errors="replace")
        for line in data.splitlines():
            f.write(line + "\n")
EOF
PIDS+=($!)
for ((i = 0; i < 50; i++)); do [ -S "$NOTIFY_SOCK" ] && break; sleep 0.1; done

API_UNIT=/lib/systemd/system/luna-tasks-api.service
SCHED_UNIT=/lib/systemd/system/luna-tasks-scheduler.service
SCHED_TEMPLATE=/lib/systemd/system/luna-tasks-scheduler@.service
# A configuration the api cannot use: the pool must give up with status 2
# (RestartPreventExitStatus=2), not respawn forever.
printf '[API]\nNO_SUCH_KEY = 1\n' >"$WORK/bad.conf"
chmod 0644 "$WORK/bad.conf"
start_unit "$API_UNIT" "" "$WORK/api-bad.log" "LUNA_TASKS_CONFIG=$WORK/bad.conf"
bad_pid=$STARTED_PID
for ((i = 0; i < 100; i++)); do kill -0 "$bad_pid" 2>/dev/null || break; sleep 0.1; done
wait "$bad_pid" 2>/dev/null
bad_rc=$?
check "with a bad configuration the api pool exits with status 2 (got $bad_rc)" test "$bad_rc" = 2
stop_unit "$bad_pid" "$API_UNIT"
UNIT_PIDS=()

# A scheduler that cannot log in: it says why on every attempt, and does not
# tell systemd it is ready.
start_unit "$SCHED_UNIT" "" "$WORK/scheduler-badpass.log" "LUNA_TASKS_CONFIG=$WORK/wrong-password.conf" \
	"NOTIFY_SOCKET=$NOTIFY_SOCK"
bad_pid=$STARTED_PID
sleep 3.5
check "a scheduler with a wrong password does not send READY=1" sh -c "! grep -q '^READY=1' '$WORK/notify.log'"
check "  and logs each failed connect with the reason" \
	test "$(grep -c 'cannot connect to the tasks database.*wrong user or password' "$WORK/scheduler-badpass.log")" -ge 2
check "  and says so in its systemd status" grep -q '^STATUS=waiting for the tasks database: wrong user' "$WORK/notify.log"
stop_unit "$bad_pid" "$SCHED_UNIT"
check "  and stops on SIGTERM" test $? = 0
UNIT_PIDS=()
: >"$WORK/notify.log"

start_unit "$API_UNIT" "" "$WORK/api.log"
API_PID=$STARTED_PID
say "# api: $(cat "$WORK/api.log.cmd")"
wdsec=$(unit_values "$SCHED_UNIT" WatchdogSec | tail -n 1)
start_unit "$SCHED_UNIT" "" "$WORK/scheduler.log" "NOTIFY_SOCKET=$NOTIFY_SOCK" \
	"WATCHDOG_USEC=$((${wdsec%s} * 1000000))"
SCHED_PID=$STARTED_PID
say "# scheduler: $(cat "$WORK/scheduler.log.cmd")"
start_unit "$SCHED_TEMPLATE" "t2" "$WORK/scheduler-t2.log"
SCHED2_PID=$STARTED_PID
say "# scheduler@t2: $(cat "$WORK/scheduler-t2.log.cmd")"

for ((i = 0; i < 100; i++)); do [ -S /run/luna-tasks/api.sock ] && break; sleep 0.1; done
check "the api socket is luna-tasks:www-data 0660" stat_is /run/luna-tasks/api.sock luna-tasks:www-data 660
sleep 1
children=$(pgrep -u luna-tasks -x luna-tasks-api | wc -l)
want=$(. /etc/default/luna-tasks && echo "$LUNA_TASKS_API_CHILDREN")
check "the pool runs $want luna-tasks-api processes as luna-tasks (found $children)" test "$children" = "$want"
check "the scheduler runs as luna-tasks" test "$(stat -c %U "/proc/$SCHED_PID" 2>/dev/null)" = luna-tasks
for ((i = 0; i < 100; i++)); do grep -q '^READY=1' "$WORK/notify.log" 2>/dev/null && break; sleep 0.1; done
check "the scheduler tells systemd READY=1 (Type=notify)" grep -q '^READY=1' "$WORK/notify.log"

# Faces with sample images, imported as root from a file only root can read:
# the images must land in the store as the store's owner (the services'
# user), or an exporter with images fails later.
ACCOUNT=6d3f4a7e-2b1c-4d5e-8f90-a1b2c3d4e5f6
python3 - "$WORK/faces.jsonl" "$ACCOUNT" <<'PY'
import base64, json, sys, uuid
with open(sys.argv[1], "w") as f:
    for i in range(3):
        sid = str(uuid.uuid4())
        image = base64.b64encode(b"\xff\xd8\xff\xe0 sample %d" % i).decode()
        f.write(json.dumps({"account_id": sys.argv[2], "external_id": "pkg-%d" % i,
                            "avatar": "/6/samples/faces/" + sid,
                            "samples": [{"sample_id": sid, "image_b64": image}]}) + "\n")
PY
chmod 0600 "$WORK/faces.jsonl"
if luna-tasks-admin import faces "$WORK/faces.jsonl" >"$WORK/import.log" 2>&1 &&
	grep -q '3 of 3 lines loaded' "$WORK/import.log"; then
	pass "luna-tasks-admin import as root"
else
	cat "$WORK/import.log"
	fail "luna-tasks-admin import as root"
fi
owners=$(find /var/lib/luna-tasks/store -type f -printf '%u:%g\n' | sort -u | tr '\n' ' ')
check "  wrote the images as luna-tasks:luna-tasks (found: $owners)" test "$owners" = "luna-tasks:luna-tasks "
luna-tasks-admin import faces "$WORK/faces.jsonl" >/dev/null 2>&1
faces=$(dbq -N -e "SELECT COUNT(*) FROM luna_objects.face WHERE account_id = '$ACCOUNT'")
check "  and importing the file again replaces the faces (external_id names them; found $faces)" test "$faces" = 3

# ---------------------------------------------------------------------------
# 6. nginx with the packaged site, and the smoke test

# The listen line of the site is the one setting of address and port: moved
# in place, as an operator's editor would.
PORT=$(free_port)
SITE=/etc/nginx/sites-available/luna-tasks
sed "s|^\([[:space:]]*\)listen 127.0.0.1:5050;|\1listen 127.0.0.1:$PORT;|" "$SITE" >"$WORK/site.new"
cat "$WORK/site.new" >"$SITE"
mkdir -p "$WORK/nginx/tmp"
chown www-data "$WORK/nginx/tmp"
cp "$SITE" "$WORK/nginx/site.conf"
nginx_conf "$WORK/nginx" "user www-data;"
if nginx -p "$WORK/nginx/" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" 2>>"$WORK/nginx/error.log"; then
	pass "nginx starts with the packaged site on 127.0.0.1:$PORT"
else
	tail -n 5 "$WORK/nginx/error.log"
	fail "nginx starts with the packaged site"
fi
URL="http://127.0.0.1:$PORT"

# http METHOD PATH [curl args...]: sets CODE, BODY and HEADERS.
http() {
	local method=$1 path=$2
	shift 2
	CODE=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" --max-time 30 "$@" \
		"$URL$path" 2>>"$WORK/curl.log")
	BODY=$(cat "$WORK/body" 2>/dev/null)
	HEADERS=$(cat "$WORK/headers" 2>/dev/null)
}
json_field() { # FIELD: from BODY
	python3 -c 'import json, sys; v = json.loads(sys.stdin.read()); print(v.get(sys.argv[1], ""))' "$1" \
		<<<"$BODY" 2>/dev/null
}

for ((i = 0; i < 100; i++)); do
	http GET /version
	[ "$CODE" = 200 ] && break
	sleep 0.2
done
check "GET /version through nginx answers 200" test "$CODE" = 200
check "  with the version 3.8.8" grep -q '"major": *3' <<<"$BODY"
check "  and a Luna-Request-Id" grep -qi '^Luna-Request-Id: [0-9]\{10\},' <<<"$HEADERS"
RID=$(sed -n 's/^[Ll]una-[Rr]equest-[Ii]d: *\([^[:space:]]*\).*/\1/p' <<<"$HEADERS")
check "the site moved to the port of its listen line ($PORT)" test "$CODE" = 200

for ((i = 0; i < 75; i++)); do
	http GET /healthcheck
	[ "$CODE" = 200 ] && break
	sleep 0.2
done
check "GET /healthcheck answers 200 (DB and scheduler heartbeat)" test "$CODE" = 200

http POST /2/tasks/gc -H 'Content-Type: application/json' \
	-d "{\"account_id\": \"$ACCOUNT\", \"content\": {\"target\": \"events\", \"filters\": {\"account_id\": \"$ACCOUNT\"}}}"
TASK_ID=$(json_field task_id)
check "POST /2/tasks/gc answers 202 with a task_id (got $CODE $BODY)" test "$CODE" = 202 -a -n "$TASK_ID"
http GET "/2/tasks/$TASK_ID"
check "GET /2/tasks/$TASK_ID answers the task" test "$CODE" = 200 -a "$(json_field task_id)" = "$TASK_ID"
status=""
for ((i = 0; i < 150; i++)); do
	http GET "/2/tasks/$TASK_ID"
	status=$(json_field task_status)
	[ "$status" = 5 ] || [ "$status" = 3 ] && break
	sleep 0.2
done
check "the packaged scheduler finishes the task (status $status)" test "$status" = 5

http GET /metrics
check "GET /metrics through the packaged site answers 200 (got $CODE)" test "$CODE" = 200
check "  in the Prometheus text format 0.0.4" grep -qi '^Content-Type: text/plain; version=0.0.4' <<<"$HEADERS"
check "  with the done gc task" grep -q '^luna_tasks_tasks{type="gc",status="done"} [1-9]' <<<"$BODY"
check "  and the pool's requests" grep -q '^luna_tasks_request_count_total{path="GET:/2/tasks/{task_id}",status_code="200"} [1-9]' <<<"$BODY"
check "  counted in /var/lib/luna-tasks/api-metrics, the pool user's own file" \
	stat_is /var/lib/luna-tasks/api-metrics luna-tasks:luna-tasks 600

http POST /2/tasks/exporter -H 'Content-Type: application/json' \
	-d "{\"account_id\": \"$ACCOUNT\", \"content\": {\"objects_type\": \"faces\", \"filters\": {\"account_id\": \"$ACCOUNT\"}, \"save_images\": 1}}"
EXPORT_ID=$(json_field task_id)
check "POST /2/tasks/exporter with save_images answers 202 (got $CODE $BODY)" test "$CODE" = 202 -a -n "$EXPORT_ID"
status=""
for ((i = 0; i < 150; i++)); do
	http GET "/2/tasks/$EXPORT_ID"
	status=$(json_field task_status)
	[ "$status" = 5 ] || [ "$status" = 3 ] && break
	sleep 0.2
done
http GET "/2/tasks/$EXPORT_ID/errors"
check "the exporter of the root-imported images is done without errors (status $status, $BODY)" \
	test "$status" = 5 -a "$(json_field errors)" = "[]"
curl -sS -o "$WORK/export.zip" "$URL/2/tasks/$EXPORT_ID/result" 2>>"$WORK/curl.log"
images=$(python3 -c 'import sys, zipfile; print(sum(n.startswith("images/") for n in zipfile.ZipFile(sys.argv[1]).namelist()))' \
	"$WORK/export.zip" 2>/dev/null)
check "  and its archive holds the 3 images (found ${images:-none})" test "$images" = 3

http GET /2/docs/dev
check "GET /2/docs/dev serves the installed manual" test "$CODE" = 200 -a -n "$(grep -o 'operator manual' <<<"$BODY" | head -n 1)"
http GET /2/docs/spec -H 'Accept: text/html'
check "GET /2/docs/spec serves HTML" test "$CODE" = 200 -a -n "$(grep -o 'createGCTask' <<<"$BODY" | head -n 1)"
http GET /2/ui
check "GET /2/ui serves the installed task console" test "$CODE" = 200 -a -n "$(grep -o '/2/ui/console.js' <<<"$BODY" | head -n 1)"
http GET /2/ui/console.js
check "  and its script" test "$CODE" = 200 -a -n "$(grep -o 'use strict' <<<"$BODY" | head -n 1)"

head -c $((11 * 1024 * 1024)) /dev/zero >"$WORK/big.json"
http POST /2/tasks/gc -H 'Content-Type: application/json' --data-binary @"$WORK/big.json"
check "nginx answers 400 for an 11 MB body" test "$CODE" = 400
check "  in JSON with error 12037" test "$(json_field error_code)" = 12037

ACCESS_LOG=/var/log/nginx/luna-tasks.access.log
check "the access log carries the request id of GET /version ($RID)" grep -qF "rid=\"$RID\"" "$ACCESS_LOG"
check "  and of nginx's own refusal of that body (400)" grep -q '"POST /2/tasks/gc [^"]*" 400 .* rid="[0-9]\{10\},' "$ACCESS_LOG"
check "  and is still www-data:adm 0640" stat_is "$ACCESS_LOG" www-data:adm 640

# The watchdog pings come every WatchdogSec/2 at the latest.
sleep 1
check "the scheduler pings the watchdog (WATCHDOG=1)" grep -q '^WATCHDOG=1' "$WORK/notify.log"

# ---------------------------------------------------------------------------
# 7. Stop by PID, then purge

stop_unit "$SCHED2_PID" "$SCHED_TEMPLATE"
check "the scheduler instance stops within TimeoutStopSec" test $? = 0
stop_unit "$SCHED_PID" "$SCHED_UNIT"
check "the scheduler stops within TimeoutStopSec" test $? = 0
t0=$SECONDS
stop_unit "$API_PID" "$API_UNIT"
check "the api pool stops within TimeoutStopSec ($((SECONDS - t0)) s)" test $? = 0
check "no luna-tasks-api process is left" sh -c '! pgrep -u luna-tasks -x luna-tasks-api >/dev/null'
UNIT_PIDS=()
http GET /version
check "with the pool stopped nginx answers 500" test "$CODE" = 500
check "  in JSON with error 11" test "$(json_field error_code)" = 11
stop_pid "$(cat "$WORK/nginx/nginx.pid" 2>/dev/null)" 20
for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
	stop_pid "${PIDS[$i]}" 30
done
PIDS=()

# What an operator enables (nginx site, a scheduler instance) must not be
# left dangling by a purge.
ln -sfn ../sites-available/luna-tasks /etc/nginx/sites-enabled/luna-tasks
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sfn /lib/systemd/system/luna-tasks-scheduler@.service \
	/etc/systemd/system/multi-user.target.wants/luna-tasks-scheduler@t2.service

if DEBIAN_FRONTEND=noninteractive apt-get purge -y -q luna-tasks >"$WORK/purge.log" 2>&1; then
	INSTALLED=0
	pass "apt-get purge -y luna-tasks"
else
	tail -n 20 "$WORK/purge.log"
	fail "apt-get purge -y luna-tasks"
fi
check "dpkg no longer knows luna-tasks" sh -c '! dpkg -s luna-tasks >/dev/null 2>&1'
left=""
for p in /etc/luna-tasks /var/lib/luna-tasks /run/luna-tasks /usr/share/luna-tasks /usr/libexec/luna-tasks \
	/usr/share/doc/luna-tasks /usr/bin/luna-tasks-api /usr/bin/luna-tasks-scheduler /usr/bin/luna-tasks-admin \
	/etc/default/luna-tasks /etc/nginx/sites-available/luna-tasks /usr/lib/tmpfiles.d/luna-tasks.conf \
	/lib/systemd/system/luna-tasks-api.service /lib/systemd/system/luna-tasks-scheduler.service \
	/lib/systemd/system/luna-tasks-scheduler@.service /usr/share/man/man8/luna-tasks-api.8.gz \
	/usr/share/man/man5/luna-tasks.conf.5.gz /etc/nginx/sites-enabled/luna-tasks \
	/var/log/nginx/luna-tasks.access.log /var/log/nginx/luna-tasks.error.log \
	/etc/systemd/system/multi-user.target.wants/luna-tasks-scheduler@t2.service; do
	[ -e "$p" ] || [ -L "$p" ] && left="$left $p"
done
check "nothing of the package is left${left:+ (left:$left)}" test -z "$left"
check "no ownership override is left" sh -c '! dpkg-statoverride --list | grep -q luna-tasks'
check "no process of the luna-tasks user is left" sh -c '! pgrep -u luna-tasks >/dev/null 2>&1'
getent passwd luna-tasks >/dev/null && say "# the luna-tasks system user is kept, as Debian recommends"

finish
