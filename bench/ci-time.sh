#!/usr/bin/env bash
# Wall time of the README's test command (`bash .ci/run`) on a clean clone of
# each given revision, one after the other, with the services already
# installed (the first run on a bare machine also installs them).
#
#   bench/ci-time.sh REV [REV...]        e.g. bench/ci-time.sh 12e0004 HEAD
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ $# -gt 0 ] || set -- HEAD
for rev in "$@"; do
	dir=$(mktemp -d)
	git clone -q "$repo" "$dir/ops"
	git -C "$dir/ops" checkout -q "$(git rev-parse "$rev")"
	start=$(date +%s.%N)
	if (cd "$dir/ops" && CI=true bash .ci/run >"$dir/log" 2>&1); then rc=0; else rc=$?; fi
	end=$(date +%s.%N)
	tests=$(grep -c '^ok ' "$dir/log" || true)
	printf '%-12s %s  exit %d  %6.1f s  (%d package runs ok; load average %s)\n' "$rev" "$(git rev-parse --short "$rev")" "$rc" \
		"$(echo "$end - $start" | bc)" "$tests" "$(cut -d' ' -f1-3 /proc/loadavg)"
	[ "$rc" -eq 0 ] || tail -20 "$dir/log"
	rm -rf "$dir"
done
