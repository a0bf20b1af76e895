# shellcheck shell=bash
# Packages: the Debian and npm packages the build, the stack and the tests need.
# Sourced by ./dev (after ROOT, PY, the settings, say and die); defines
# functions and settings only, runs nothing.

# Debian packages the dev stack and the tests need, on top of the build's own
# (Build-Depends in debian/control, see build_packages). prometheus: its
# promtool parses GET /metrics in the tests (no server is started).
# shellcheck disable=SC2034  # read by ./dev deps
DEB_PACKAGES=(
	nginx-light spawn-fcgi mariadb-server mariadb-client
	json-schema-test-suite clang libclang-rt-14-dev
	python3 python3-pytest curl wrk procps iproute2
	python3-pyftpdlib python3-botocore zip nodejs
	lintian chromium systemd fakeroot
	prometheus
)

# Packages configure.ac asks for (its LT_REQUIRE lines name them), so a library
# added there is installed here too.
configure_packages() {
	{
		sed -n 's/^LT_REQUIRE(\[[^]]*\], *\[[^]]*\], *\[\([^]]*\)\]).*/\1/p' "$ROOT/configure.ac"
		grep -o 'apt-get install [a-z0-9][a-z0-9.+-]*' "$ROOT/configure.ac" | sed 's/^apt-get install //'
	} 2>/dev/null | sort -u || true
}

# The package build's dependencies: build-essential, dpkg-dev and the names of
# Build-Depends in debian/control (versions and alternatives dropped;
# debhelper-compat is debhelper's).
build_packages() {
	echo build-essential dpkg-dev
	awk '/^Build-Depends:/ { on = 1; sub(/^Build-Depends:/, "") }
		on && /^[A-Za-z-]+:/ && !/^Build-Depends:/ { on = 0 }
		on { print }' "$ROOT/debian/control" |
		tr ',' '\n' | sed -e 's/[(|].*//' -e 's/[[:space:]]//g' -e 's/^debhelper-compat$/debhelper/' | grep . | sort -u
}

# The test tools that come from npm: the servers of tests/fakes (an
# S3-compatible server) and the contract check's validating proxy
# (tests/contract: Stoplight Prism). Install scripts stay off: none of them
# needs one (Prism's only one is a usage-reporting hook).
node_deps() {
	npm_ci "$ROOT/tests/fakes" s3rver
	npm_ci "$ROOT/tests/contract" @stoplight/prism-cli
}

npm_ci() { # DIR PACKAGE: npm ci in DIR unless PACKAGE is installed there
	local dir=$1 pkg=$2
	[[ -f $dir/package-lock.json ]] || return 0
	[[ -d $dir/node_modules/$pkg ]] && return 0
	# Some nodejs builds bring npm along; Debian's own nodejs needs its npm package.
	command -v npm >/dev/null || deb_deps npm
	say "installing the npm packages of ${dir#"$ROOT"/}"
	(cd "$dir" && SCARF_ANALYTICS=false npm ci --no-audit --no-fund --ignore-scripts --silent) ||
		die "npm ci failed in ${dir#"$ROOT"/}"
}

APT_UPDATED=0

# deb_deps PACKAGE...: installs those of them that are missing.
deb_deps() {
	local missing=() p status
	for p in $(printf '%s\n' "$@" | sort -u); do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $status == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	say "installing Debian packages: ${missing[*]}"
	local sudo=()
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} by hand"
		sudo=(sudo)
	fi
	# Keep package scripts from starting system services (MariaDB, nginx): the
	# stack runs private instances. An existing policy is left as it is.
	local policy=/usr/sbin/policy-rc.d made_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
		"${sudo[@]}" chmod 755 "$policy"
		made_policy=1
	fi
	local rc=0
	if ((APT_UPDATED == 0)); then
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
		APT_UPDATED=1
	fi
	if ((rc == 0)); then
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" || rc=$?
	fi
	((made_policy)) && "${sudo[@]}" rm -f "$policy"
	((rc == 0)) || die "apt-get failed (exit $rc)"
}
