#!/usr/bin/env bash
# Mutation testing of the core packages with gremlins (not part of `make test` nor of CI).
#
#   scripts/mutation.sh [PACKAGE_PATTERN...]      default: ./backup/... ./tlscheck ./inventory
#
# Every pattern is expanded with `go list`, and gremlins runs once per package directory, one
# package after another, unit tests only (OPS_IT is unset). Prints one summary line per package;
# gremlins' JSON report goes to bin/mutation/<pkg>.json and its log to bin/mutation/<pkg>.log.
#
# Environment:
#   MUTATION_WORKERS   gremlins --workers (default 1: leave a core for the rest of the machine)
#   MUTATION_TIMEOUT   gremlins --timeout-coefficient (default 5): a mutant's test run may take
#                      that many times the coverage run before it counts as TIMED OUT ...
#   MUTATION_MIN_TIMEOUT  ... but at least this many seconds (default 60): the coefficient is
#                      raised for packages whose tests are fast, since a mutant's run also
#                      compiles and links, slowly on a loaded machine (else false TIMED OUTs)
#   MUTATION_NICE      niceness of the whole run (default 10; under other CPU-bound work a
#                      niced run gets little CPU and takes much longer)
#   MUTATION_OUT       output directory (default bin/mutation, gitignored)
#   GREMLINS           how to run gremlins (default: go run of the pinned version below)
#
# Needs jq for the summary (apt-get install jq).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

GO=${GO:-go}
GREMLINS_VERSION=v0.6.0
read -r -a gremlins <<<"${GREMLINS:-$GO run github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION}"
workers=${MUTATION_WORKERS:-1}
tcoef=${MUTATION_TIMEOUT:-5}
mintimeout=${MUTATION_MIN_TIMEOUT:-60}
niceness=${MUTATION_NICE:-10}
out=${MUTATION_OUT:-bin/mutation}
case $out in /*) ;; *) out=$root/$out ;; esac

command -v jq >/dev/null || { echo "mutation.sh: jq is needed (apt-get install jq)" >&2; exit 1; }
[ $# -gt 0 ] || set -- ./backup/... ./tlscheck ./inventory
mkdir -p "$out"

# Unit tests only: the integration tests need services and run only with OPS_IT=1.
unset OPS_IT
# -count=1: gremlins times the coverage run to set each mutant's timeout, and a cached test
# result would make that timeout ~0 (every mutant TIMED OUT). -vet=off: a mutant must be killed
# by a test, and vet on every mutant costs ~2 s of a 2-core machine for nothing.
export GOFLAGS="${GOFLAGS:-} -count=1 -vet=off"

# One line per package: dir, import path, package name, files left out by build constraints.
mapfile -t pkgs < <(GOFLAGS= "$GO" list -f '{{if .GoFiles}}{{.Dir}}|{{.ImportPath}}|{{.Name}}|{{join .IgnoredGoFiles ","}}{{end}}' "$@")

printf '%-32s %7s %6s %8s %6s %6s %9s %7s %8s\n' \
	package killed lived notcov timout notvia efficacy mcover wall
status=0
for line in "${pkgs[@]}"; do
	[ -n "$line" ] || continue
	IFS='|' read -r dir ipath name ignored <<<"$line"
	rel=${dir#"$root"/}
	tag=${rel//\//-}
	# gremlins derives the package to test from the directory name: a package whose name
	# differs from its directory would be tested as the module root and every mutant "killed".
	if [ "$name" != "$(basename "$dir")" ]; then
		echo "mutation.sh: skipping $ipath: package name $name differs from its directory" >&2
		status=1
		continue
	fi
	# gremlins walks the directory recursively: leave the subpackages (any path with a /) to
	# their own run, and the files that the build constraints leave out of this platform.
	excl=(--exclude-files '/')
	IFS=',' read -r -a ign <<<"$ignored"
	for f in "${ign[@]}"; do
		[ -n "$f" ] && excl+=(--exclude-files "^${f//./\\.}\$")
	done

	start=$(date +%s)
	# Time the tests as gremlins' coverage run will (same command), to raise the coefficient
	# to the floor; this also warms the build cache for that run.
	t0=$(date +%s%N)
	nice -n "$niceness" "$GO" test -cover "./$rel/..." >/dev/null 2>&1 || true
	ms=$((($(date +%s%N) - t0) / 1000000 + 1))
	coef=$(((mintimeout * 1000 + ms - 1) / ms))
	[ "$coef" -ge "$tcoef" ] || coef=$tcoef
	echo "mutation.sh: $ipath: tests take ${ms}ms, timeout coefficient $coef" >"$out/$tag.log"
	rc=0
	nice -n "$niceness" "${gremlins[@]}" unleash "$dir" \
		--workers "$workers" --timeout-coefficient "$coef" \
		"${excl[@]}" --output "$out/$tag.json" >>"$out/$tag.log" 2>&1 || rc=$?
	wall=$(($(date +%s) - start))
	if [ $rc -ne 0 ] || [ ! -s "$out/$tag.json" ]; then
		echo "mutation.sh: gremlins failed on $ipath (exit $rc), see $out/$tag.log" >&2
		status=1
		continue
	fi
	jq -r --arg pkg "$rel" --arg wall "$((wall / 60))m$((wall % 60))s" '
		[.files[].mutations[].status] as $s
		| def n(x): [$s[] | select(. == x)] | length;
		  n("KILLED") as $k | n("LIVED") as $l | n("NOT COVERED") as $nc
		| [$pkg, $k, $l, $nc, n("TIMED OUT"), n("NOT VIABLE"),
		   (if $k + $l > 0 then "\($k * 1000 / ($k + $l) | round / 10)%" else "-" end),
		   (if $k + $l + $nc > 0 then "\(($k + $l) * 1000 / ($k + $l + $nc) | round / 10)%" else "-" end),
		   $wall]
		| @tsv' "$out/$tag.json" |
		awk -F'\t' '{printf "%-32s %7s %6s %8s %6s %6s %9s %7s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
done
exit $status
