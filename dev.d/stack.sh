# shellcheck shell=bash
# The stack: a private MariaDB, the api pool, schedulers and nginx, all of one
# instance inside one folder; the demo data and the banner of the .run/ stack.
# Sourced by ./dev (after ROOT, PY, the settings, say and die); defines
# functions and settings only, runs nothing.

# The stack: everything of one instance lives in DIR.
#   DIR/mysql/ datadir, DIR/mysql.sock, DIR/mysql.pid, DIR/mysql.err
#   DIR/mysql-tmp/ MariaDB's temporary files (not the shared /tmp, where others may delete them)
#   DIR/luna-tasks.conf, DIR/store/, DIR/migrate.log
#   DIR/api.sock, DIR/api.pid (one line per child), DIR/api.log
#   DIR/scheduler.pid, DIR/scheduler.log (scheduler "s1"); DIR/scheduler-NAME.* for others
#   DIR/nginx.conf, DIR/nginx.pid, DIR/nginx-error.log, DIR/nginx-access.log, DIR/nginx-tmp/
#   DIR/stack.env: PORT and BUILD of the running instance

stack_env() { # DIR: loads PORT, BUILD from DIR/stack.env
	[[ -f $1/stack.env ]] || die "$1 holds no stack (no stack.env)"
	# shellcheck disable=SC1091
	source "$1/stack.env"
}

sanitizer_env() { # DIR: where ASan/UBSan reports of the stack's processes go
	export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:log_path=$1/asan}"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$1/ubsan}"
}

db_client() { # DIR [mariadb args...]
	local dir=$1
	shift
	mariadb --no-defaults -uroot --socket="$dir/mysql.sock" "$@"
}

db_start() {
	local dir=$1
	if pidfile_alive "$dir/mysql.pid" mariadbd; then
		return 0
	fi
	rm -f "$dir/mysql.pid" "$dir/mysql.sock" "$dir/mysql.sock.lock"
	local sock="$dir/mysql.sock"
	((${#sock} < 100)) || die "socket path $sock is too long for a unix socket; use a shorter folder"
	if [[ ! -d $dir/mysql/mysql ]]; then
		say "initialising MariaDB in $dir/mysql"
		rm -rf "$dir/mysql"
		mkdir -p "$dir/mysql"
		mariadb-install-db --no-defaults --auth-root-authentication-method=normal --skip-test-db \
			--datadir="$dir/mysql" --user="$(id -un)" >"$dir/mysql-install.log" 2>&1 ||
			{
				tail -n 20 "$dir/mysql-install.log" >&2
				die "mariadb-install-db failed ($dir/mysql-install.log)"
			}
	fi
	mkdir -p "$dir/mysql-tmp"
	setsid mariadbd --no-defaults --datadir="$dir/mysql" --socket="$sock" --pid-file="$dir/mysql.pid" \
		--tmpdir="$dir/mysql-tmp" --skip-networking --user="$(id -un)" --log-error="$dir/mysql.err" \
		--innodb-buffer-pool-size="$DB_BUFFER_POOL" --innodb-log-file-size="$DB_LOG_FILE_SIZE" \
		--net-buffer-length="$DB_NET_BUFFER_LENGTH" --max-connections=500 --character-set-server=utf8mb4 \
		--collation-server=utf8mb4_general_ci --skip-name-resolve --default-time-zone=+00:00 \
		</dev/null >>"$dir/mysql.err" 2>&1 &
	local i
	for ((i = 0; i < 600; i++)); do
		if [[ -S $sock ]] && db_client "$dir" -e 'SELECT 1' >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$dir/mysql.err" >&2
	die "MariaDB did not start in 60 s ($dir/mysql.err)"
}

db_stop() {
	stop_pidfile "$1/mysql.pid" mariadbd TERM 60
	rm -f "$1/mysql.sock" "$1/mysql.sock.lock"
}

write_config() { # DIR BUILD [SECTION.KEY=VALUE...]
	local dir=$1 build=$2 conf="$1/luna-tasks.conf" kv docs="$2/docs"
	shift 2
	# The build's docs/ holds the rendered manual next to a copy of the spec
	# (the sources' docs/ when the build has none).
	[[ -f $docs/luna-tasks.yaml ]] || docs="$ROOT/docs"
	cp "$ROOT/conf/luna-tasks.conf" "$conf"
	ini_set "$conf" LUNA_TASKS_DB SOCKET "$dir/mysql.sock"
	ini_set "$conf" STORAGE PATH "$dir/store"
	ini_set "$conf" API DOCS_DIR "$docs"
	ini_set "$conf" API METRICS_FILE "$dir/api-metrics"
	for kv in "$@"; do
		[[ $kv =~ ^([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)=(.*)$ ]] || die "bad config override '$kv' (SECTION.KEY=VALUE)"
		ini_set "$conf" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
	done
	mkdir -p "$dir/store"
}

db_create_user() { # DIR
	local dir=$1 conf="$1/luna-tasks.conf" user pass name oname ouser opass
	user=$(ini_get "$conf" LUNA_TASKS_DB USER)
	pass=$(ini_get "$conf" LUNA_TASKS_DB PASSWORD)
	name=$(ini_get "$conf" LUNA_TASKS_DB NAME)
	oname=$(ini_get "$conf" OBJECTS DB_NAME)
	ouser=$(ini_get "$conf" OBJECTS DB_USER)
	opass=$(ini_get "$conf" OBJECTS DB_PASSWORD)
	[[ -n $user ]] || die "$conf: [LUNA_TASKS_DB] USER is empty"
	local sql="" u p db
	for db in "${name:-luna_tasks}" "${oname:-luna_objects}"; do
		if [[ $db == "${oname:-luna_objects}" && -n $ouser ]]; then u=$ouser p=$opass; else u=$user p=$pass; fi
		sql+="CREATE USER IF NOT EXISTS $(sql_str "$u")@'localhost' IDENTIFIED BY $(sql_str "$p");"
		sql+="ALTER USER $(sql_str "$u")@'localhost' IDENTIFIED BY $(sql_str "$p");"
		sql+="GRANT ALL PRIVILEGES ON \`${db//_/\\_}\`.* TO $(sql_str "$u")@'localhost';"
	done
	db_client "$dir" -e "$sql" || die "cannot create the database user '$user'"
}

db_migrate() { # DIR BUILD
	local dir=$1 build=$2
	if ! "$build/luna-tasks-admin" -c "$dir/luna-tasks.conf" --sql-dir "$ROOT/sql" db migrate \
		>"$dir/migrate.log" 2>&1; then
		cat "$dir/migrate.log" >&2
		die "luna-tasks-admin db migrate failed"
	fi
}

render_nginx() { # DIR PORT API_SOCK MAX_BODY
	local dir=$1 port=$2 sock=$3 max=$4 user_line=""
	[[ $(id -u) == 0 ]] && user_line="user root;"
	mkdir -p "$dir/nginx-tmp"
	sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@API_SOCK@|$sock|g" \
		-e "s|@MAX_BODY@|$max|g" -e "s|@USER_LINE@|$user_line|g" \
		"$ROOT/conf/nginx-dev.conf.in" >"$dir/nginx.conf"
}

nginx_start() { # DIR
	local dir=$1
	rm -f "$dir/nginx.pid"
	nginx -p "$dir/" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" -q 2>>"$dir/nginx-error.log" ||
		{
			tail -n 5 "$dir/nginx-error.log" >&2
			die "nginx did not start ($dir/nginx-error.log)"
		}
}

nginx_stop() {
	stop_pidfile "$1/nginx.pid" nginx TERM 20
}

api_start() { # DIR BUILD
	local dir=$1 build=$2
	[[ -x $build/luna-tasks-api ]] || die "$build/luna-tasks-api is not built"
	rm -f "$dir/api.pid" "$dir/api.sock"
	sanitizer_env "$dir"
	# spawn-fcgi points the children's stderr at /dev/null; the shell in front of
	# the api keeps it in api.log (exec: the pid in api.pid is the api's).
	spawn-fcgi -s "$dir/api.sock" -M 0600 -F "$API_CHILDREN" -P "$dir/api.pid" -- \
		/bin/sh -c 'exec "$0" -c "$1" 2>>"$2"' "$build/luna-tasks-api" "$dir/luna-tasks.conf" "$dir/api.log" \
		>>"$dir/spawn-fcgi.log" 2>&1 || {
		cat "$dir/spawn-fcgi.log" >&2
		die "spawn-fcgi failed"
	}
}

api_stop() {
	# nginx is stopped first, so no request is in flight; an idle child blocked
	# in accept() gets 5 s to leave by itself.
	stop_pidfile "$1/api.pid" luna-tasks-api TERM 5
	rm -f "$1/api.sock"
}

scheduler_files() { # DIR NAME -> sets SCHED_PID SCHED_LOG
	if [[ $2 == s1 ]]; then
		SCHED_PID="$1/scheduler.pid" SCHED_LOG="$1/scheduler.log"
	else
		[[ $2 =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad scheduler name '$2'"
		SCHED_PID="$1/scheduler-$2.pid" SCHED_LOG="$1/scheduler-$2.log"
	fi
}

scheduler_start() { # DIR BUILD NAME [CONF]
	local dir=$1 build=$2 name=${3:-s1} conf=${4:-$1/luna-tasks.conf}
	scheduler_files "$dir" "$name"
	if pidfile_alive "$SCHED_PID" luna-tasks-scheduler; then
		cat "$SCHED_PID"
		return 0
	fi
	[[ -x $build/luna-tasks-scheduler ]] || die "$build/luna-tasks-scheduler is not built"
	sanitizer_env "$dir"
	# its temporary files (results being written, downloads) live and go
	# with the stack, even when a test kills it in the middle of one
	mkdir -p "$dir/tmp"
	TMPDIR="$dir/tmp" setsid "$build/luna-tasks-scheduler" -c "$conf" </dev/null >>"$SCHED_LOG" 2>&1 &
	local pid=$!
	echo "$pid" >"$SCHED_PID"
	sleep 0.3
	if ! alive "$pid" luna-tasks-scheduler; then
		tail -n 20 "$SCHED_LOG" >&2
		die "the scheduler '$name' exited at once ($SCHED_LOG)"
	fi
	echo "$pid"
}

scheduler_stop() { # DIR NAME [SIGNAL]
	scheduler_files "$1" "$2"
	# On SIGTERM running subtasks may finish for up to [SCHEDULER] LEASE_SECONDS.
	local lease
	lease=$(awk -F' *= *' '/^\[/{sec=$0} sec=="[SCHEDULER]" && $1=="LEASE_SECONDS"{print $2}' \
		"$1/luna-tasks.conf" 2>/dev/null)
	[[ $lease =~ ^[0-9]+$ ]] || lease=30
	stop_pidfile "$SCHED_PID" luna-tasks-scheduler "${3:-TERM}" $((lease + 10))
}

wait_version() { # DIR PORT
	local i
	for ((i = 0; i < 300; i++)); do
		http_ok "http://127.0.0.1:$2/version" && return 0
		sleep 0.2
	done
	say "GET /version did not answer in 60 s; last lines of the logs:"
	tail -n 15 "$1/api.log" "$1/nginx-error.log" >&2 2>/dev/null || true
	return 1
}

stack_stop() { # DIR
	local dir=$1 f name
	[[ -d $dir ]] || return 0
	nginx_stop "$dir"
	api_stop "$dir"
	for f in "$dir"/scheduler.pid "$dir"/scheduler-*.pid; do
		[[ -f $f ]] || continue
		name=$(basename "$f" .pid)
		name=${name#scheduler-}
		[[ $name == scheduler ]] && name=s1
		scheduler_stop "$dir" "$name"
	done
	db_stop "$dir"
	stop_strays "$dir"
}

stack_start() { # DIR PORT [BUILD [SECTION.KEY=VALUE...]]
	local dir port build
	[[ $# -ge 2 ]] || die "usage: ./dev stack-start DIR PORT [BUILD [SECTION.KEY=VALUE...]]"
	dir=$(abspath "$1")
	port=$2
	[[ $port =~ ^[0-9]+$ ]] || die "bad port '$port'"
	build=$(resolve_build "${3:-}")
	shift $(($# < 3 ? $# : 3))
	for b in luna-tasks-api luna-tasks-admin luna-tasks-scheduler; do
		[[ -x $build/$b ]] || die "$build/$b is not built (./dev build)"
	done
	command -v nginx >/dev/null && command -v spawn-fcgi >/dev/null && command -v mariadbd >/dev/null ||
		die "nginx, spawn-fcgi or mariadbd is missing (./dev deps)"
	# A crashed or running instance of DIR is stopped first; its data stays.
	stack_stop "$dir"
	port_free "$port" || die "127.0.0.1:$port is in use"
	printf 'PORT=%q\nBUILD=%q\n' "$port" "$build" >"$dir/stack.env"
	write_config "$dir" "$build" "$@"
	db_start "$dir"
	db_create_user "$dir"
	db_migrate "$dir" "$build"
	local max
	max=$(ini_get "$dir/luna-tasks.conf" API MAX_BODY_SIZE)
	render_nginx "$dir" "$port" "$dir/api.sock" "${max:-10485760}"
	api_start "$dir" "$build"
	scheduler_start "$dir" "$build" s1 >/dev/null
	nginx_start "$dir"
	if ! wait_version "$dir" "$port"; then
		stack_stop "$dir"
		die "the stack in $dir did not come up"
	fi
}

stack_status() { # DIR
	local dir=$1
	pidfile_alive "$dir/mysql.pid" mariadbd && echo "mariadb    running ($dir/mysql.sock)" || echo "mariadb    stopped"
	pidfile_alive "$dir/api.pid" luna-tasks-api && echo "api pool   running ($(tr '\n' ' ' <"$dir/api.pid"))" || echo "api pool   stopped"
	pidfile_alive "$dir/scheduler.pid" luna-tasks-scheduler && echo "scheduler  running" || echo "scheduler  stopped"
	pidfile_alive "$dir/nginx.pid" nginx && echo "nginx      running" || echo "nginx      stopped"
}

load_demo() {
	local demo="$ROOT/tests/data/demo" kind n
	compgen -G "$demo/*.jsonl" >/dev/null || return 0
	local odb
	odb=$(ini_get "$RUN_DIR/luna-tasks.conf" OBJECTS DB_NAME)
	odb=${odb:-luna_objects}
	n=$(db_client "$RUN_DIR" -N -B -e "SELECT (SELECT COUNT(*) FROM \`$odb\`.face) + (SELECT COUNT(*) FROM \`$odb\`.event)" 2>/dev/null || echo "?")
	if [[ $n != 0 ]]; then
		[[ $n == "?" ]] && say "note: the objects database has no face/event tables yet; demo data not loaded"
		return 0
	fi
	for kind in faces attributes events; do
		[[ -f $demo/$kind.jsonl ]] || continue
		if admin import "$kind" "$demo/$kind.jsonl" >"$RUN_DIR/import-$kind.log" 2>&1; then
			say "demo data: imported $demo/$kind.jsonl"
		else
			say "note: demo import of $kind did not work (see .run/import-$kind.log); continuing without it"
		fi
	done
}

print_info() {
	local url="http://127.0.0.1:$RUN_PORT"
	cat <<-EOF

		luna-tasks is up.
		  API          $url  (curl $url/version)
		  spec         $url/2/docs/spec  (HTML for a browser; YAML for curl, or with 'Accept: application/x-yaml')
		  manual       $url/2/docs/dev
		  console      $url/2/ui  (tasks, progress, results and ROC curves in a browser)
		  config       $RUN_DIR/luna-tasks.conf
		  logs         $RUN_DIR/api.log  scheduler.log  nginx-error.log  nginx-access.log  mysql.err
		  database     mariadb --no-defaults -uroot --socket=$RUN_DIR/mysql.sock luna_tasks
		  admin        ./dev admin config check | db migrate | import faces FILE.jsonl
	EOF
}
