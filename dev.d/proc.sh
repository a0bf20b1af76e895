# shellcheck shell=bash
# Small helpers of the stack: folders, INI files, processes and pid files, ports.
# Sourced by ./dev (after ROOT, PY, the settings, say and die); defines
# functions and settings only, runs nothing.

# stack_dir DIR: the absolute path of an existing stack folder, or die (a
# command must never fall back to "/" when its folder has gone).
stack_dir() {
	[[ -n ${1:-} && -d $1 ]] || die "no stack folder '${1:-}'"
	(cd "$1" && pwd)
}

abspath() {
	local p=$1
	[[ $p == /* ]] || p="$PWD/$p"
	mkdir -p "$p"
	(cd "$p" && pwd)
}

# ini_get FILE SECTION KEY
ini_get() {
	awk -v sec="$2" -v key="$3" '
		/^[ \t]*\[/ { s = $0; gsub(/^[ \t]*\[|\][ \t]*$/, "", s); next }
		s == sec && match($0, /^[ \t]*[A-Za-z0-9_]+[ \t]*=/) {
			k = substr($0, 1, RLENGTH); sub(/=$/, "", k); gsub(/[ \t]/, "", k)
			if (k == key) { v = substr($0, RLENGTH + 1); gsub(/^[ \t]+|[ \t]+$/, "", v); print v; exit }
		}' "$1"
}

# ini_set FILE SECTION KEY VALUE: replaces the key, or adds it (and the section).
ini_set() {
	local f=$1
	KEY_VALUE=$4 awk -v sec="$2" -v key="$3" '
		BEGIN { val = ENVIRON["KEY_VALUE"] }
		function flush() { if (cur == sec && !done) { print key " = " val; done = 1 } }
		/^[ \t]*\[/ { flush(); cur = $0; gsub(/^[ \t]*\[|\][ \t]*$/, "", cur); print; next }
		cur == sec && match($0, /^[ \t]*[A-Za-z0-9_]+[ \t]*=/) {
			k = substr($0, 1, RLENGTH); sub(/=$/, "", k); gsub(/[ \t]/, "", k)
			if (k == key) { if (!done) print key " = " val; done = 1; next }
		}
		{ print }
		END { if (!done) { if (cur != sec) print "\n[" sec "]"; print key " = " val } }' "$f" >"$f.tmp"
	mv "$f.tmp" "$f"
}

sql_str() {
	local s=${1//\\/\\\\}
	printf "'%s'" "${s//\'/\'\'}"
}

# alive PID NAME: the process exists, is not a zombie and its command line names NAME.
alive() {
	local pid=$1 name=$2
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	local state
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
	[[ $state != Z && -n $state ]] || return 1
	{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "$name"
}

# stop_pids NAME SIGNAL SECONDS PID...: signals each live one once, waits for all,
# then SIGKILLs what is left. (Schedulers read a second SIGTERM as "hurry up".)
stop_pids() {
	local name=$1 sig=$2 secs=$3 pid i
	shift 3
	local live=()
	for pid in "$@"; do
		if alive "$pid" "$name"; then
			kill -s "$sig" "$pid" 2>/dev/null || true
			live+=("$pid")
		fi
	done
	((${#live[@]})) || return 0
	for ((i = 0; i < secs * 10; i++)); do
		local left=()
		for pid in "${live[@]}"; do alive "$pid" "$name" && left+=("$pid"); done
		((${#left[@]})) || return 0
		live=("${left[@]}")
		sleep 0.1
	done
	say "$name (${live[*]}) did not stop in ${secs}s; killing it"
	for pid in "${live[@]}"; do kill -s KILL "$pid" 2>/dev/null || true; done
	for ((i = 0; i < 50; i++)); do
		local left=()
		for pid in "${live[@]}"; do alive "$pid" "$name" && left+=("$pid"); done
		((${#left[@]})) || return 0
		sleep 0.1
	done
}

# stop_pidfile FILE NAME [SIGNAL] [SECONDS]: every pid listed in FILE.
stop_pidfile() {
	local file=$1 name=$2 sig=${3:-TERM} secs=${4:-20} pid pids=()
	[[ -f $file ]] || return 0
	while read -r pid || [[ -n $pid ]]; do
		[[ -n $pid ]] && pids+=("$pid")
	done <"$file"
	((${#pids[@]})) && stop_pids "$name" "$sig" "$secs" "${pids[@]}"
	rm -f "$file"
}

# Processes of the stack in DIR that no pid file names (a crashed start, a test
# that started one by hand): they name DIR in their command line.
stray_pids() { # DIR NAME
	local dir=$1 name=$2 f p cmd
	for f in $(grep -l -a -F -- "$dir/" /proc/[0-9]*/cmdline 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/cmdline}
		[[ $p == "$$" ]] && continue
		cmd=$( { tr '\0' ' ' <"$f"; } 2>/dev/null) || continue
		case $name in
		mariadbd) [[ $cmd == *mariadbd*"--datadir=$dir/mysql "* ]] ;;
		nginx) [[ $cmd == nginx*"-p $dir/ "* ]] ;;
		*) [[ $cmd == *"$name -c $dir/"* ]] ;;
		esac && echo "$p"
	done
	return 0
}

stop_strays() { # DIR
	local dir=$1 name pids
	for name in nginx luna-tasks-api luna-tasks-scheduler mariadbd; do
		pids=$(stray_pids "$dir" "$name")
		[[ -n $pids ]] || continue
		say "stopping $name processes of $dir that no pid file names: $(echo $pids)"
		# shellcheck disable=SC2086
		stop_pids "$name" TERM 30 $pids
	done
}

pidfile_alive() {
	local file=$1 name=$2 pid
	[[ -f $file ]] || return 1
	while read -r pid || [[ -n $pid ]]; do
		alive "$pid" "$name" && return 0
	done <"$file"
	return 1
}

port_free() {
	"$PY" - "$1" <<-'EOF'
		import socket, sys
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		try:
		    s.bind(("127.0.0.1", int(sys.argv[1])))
		except OSError:
		    sys.exit(1)
	EOF
}

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

http_ok() { # URL
	curl -fsS -o /dev/null --max-time 3 "$1" 2>/dev/null
}

resolve_build() {
	local b=${1:-$ROOT/build/release}
	if [[ $b != /* ]]; then
		if [[ -d $PWD/$b ]]; then b="$PWD/$b"; else b="$ROOT/$b"; fi
	fi
	[[ -d $b ]] || die "build folder $b does not exist (./dev build)"
	(cd "$b" && pwd)
}
