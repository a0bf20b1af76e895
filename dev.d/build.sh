# shellcheck shell=bash
# Building: out-of-tree builds under build/ (autoreconf and configure when needed).
# Sourced by ./dev (after ROOT, PY, the settings, say and die); defines
# functions and settings only, runs nothing.

need_autoreconf() {
	[[ -x $ROOT/configure && -f $ROOT/Makefile.in && -f $ROOT/config.h.in ]] || return 0
	local f
	for f in "$ROOT/configure.ac" "$ROOT/Makefile.am" "$ROOT"/src/*/Makefile.inc "$ROOT"/tests/*/Makefile.inc \
		"$ROOT"/bench/*/Makefile.inc; do
		[[ -e $f ]] || continue
		[[ $f -nt $ROOT/Makefile.in || $f -nt $ROOT/configure ]] && return 0
	done
	return 1
}

build_flavour() {
	local flavour=$1 opts
	case $flavour in
	release) opts=(--enable-werror) ;;
	asan) opts=(--enable-werror --enable-sanitizers --enable-debug) ;;
	*) die "unknown build '$flavour' (release or asan)" ;;
	esac
	[[ -e $ROOT/config.status ]] &&
		die "the source tree is configured in place; run 'make distclean' in $ROOT first (dev builds out of tree)"
	mkdir -p "$ROOT/m4"
	if need_autoreconf; then
		say "autoreconf"
		(cd "$ROOT" && autoreconf -fi) || die "autoreconf failed"
	fi
	local bdir="$ROOT/build/$flavour"
	mkdir -p "$bdir"
	if [[ ! -f $bdir/Makefile || ! -f $bdir/config.status || "$(cat "$bdir/.dev-configure" 2>/dev/null)" != "${opts[*]}" ]]; then
		say "configure build/$flavour: ${opts[*]}"
		rm -f "$bdir/.dev-configure"
		if ! (cd "$bdir" && "$ROOT/configure" "${opts[@]}" >configure.out 2>&1); then
			tail -n 25 "$bdir/configure.out" >&2
			die "configure failed (build/$flavour/configure.out, build/$flavour/config.log)"
		fi
		printf '%s' "${opts[*]}" >"$bdir/.dev-configure"
	fi
	say "make build/$flavour"
	make -C "$bdir" -j2 >&2 || die "build/$flavour: make failed"
}
