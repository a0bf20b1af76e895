# shellcheck shell=bash
# Counting the test steps of ./dev test: unit results, pytest runs, scripts
# that end with "N passed, M failed".
# Sourced by ./dev (after ROOT, PY, the settings, say and die); defines
# functions and settings only, runs nothing.

TOTAL_PASSED=0
TOTAL_FAILED=0

count_unit() { # BUILD_DIR: sums tests/unit results into TOTAL_*
	local bdir=$1 trs log res line p f
	while IFS= read -r trs; do
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
		log=${trs%.trs}.log
		line=$(grep -E '^[^ ]*:? ?[0-9]+ passed, [0-9]+ failed' "$log" 2>/dev/null | tail -n 1 || true)
		if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
			p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
			[[ $res == PASS || $res == XFAIL || $res == SKIP || $f != 0 ]] || f=1
		else
			case $res in PASS | XFAIL) p=1 f=0 ;; SKIP) p=0 f=0 ;; *) p=0 f=1 ;; esac
		fi
		say "unit: $(basename "${trs%.trs}"): $res ($p passed, $f failed)"
		TOTAL_PASSED=$((TOTAL_PASSED + p))
		TOTAL_FAILED=$((TOTAL_FAILED + f))
	done < <(find "$bdir" -name '*.trs' | sort)
}

# run_pytest NAME LOG VAR=VALUE... TEST_FILES...: a pytest run of integration
# tests with the ASan build and the VAR=VALUEs in the environment, counted
# into the totals.
run_pytest() {
	local name=$1 log=$2 rc=0 summary p=0 f=0 e=0 vars=()
	shift 2
	while [[ ${1-} =~ ^[A-Z_][A-Z0-9_]*= ]]; do
		vars+=("$1")
		shift
	done
	say "$name tests (pytest)"
	set +e
	env "${vars[@]}" LUNA_BUILD="$ROOT/build/asan" LUNA_RELEASE_BUILD="$ROOT/build/release" PYTHONDONTWRITEBYTECODE=1 \
		timeout --kill-after=30 3000 "$PY" -m pytest -p no:cacheprovider -ra -q "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed|errors?|skipped|deselected)(, [0-9]+ [a-z]+)* in [0-9.]+s' \
		"$log" | tail -n 1 || true)
	[[ $summary =~ ([0-9]+)\ passed ]] && p=${BASH_REMATCH[1]}
	[[ $summary =~ ([0-9]+)\ failed ]] && f=${BASH_REMATCH[1]}
	[[ $summary =~ ([0-9]+)\ error ]] && e=${BASH_REMATCH[1]}
	((rc == 0 || f + e > 0)) || f=1
	say "$name: ${summary:-no summary} (build/test-logs/$(basename "$log"))"
	TOTAL_PASSED=$((TOTAL_PASSED + p))
	TOTAL_FAILED=$((TOTAL_FAILED + f + e))
	return $rc
}

# run_counted NAME LOG CMD...: runs a test script that ends with "N passed, M
# failed", adds its counts to the totals; a script that fails without such a
# line counts as one failure.
run_counted() {
	local name=$1 log=$2 rc=0 line p=0 f=0
	shift 2
	say "$name tests ($*)"
	LUNA_BUILD="$ROOT/build/release" timeout --kill-after=30 1800 "$@" >"$log" 2>&1 </dev/null || rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
	[[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]] && p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
	if ((rc != 0)); then
		tail -n 40 "$log"
		((f > 0)) || f=1
	fi
	say "$name: ${line:-no summary} (build/test-logs/$(basename "$log"))"
	TOTAL_PASSED=$((TOTAL_PASSED + p))
	TOTAL_FAILED=$((TOTAL_FAILED + f))
	return $rc
}
