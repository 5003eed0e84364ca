#!/usr/bin/env bash
# bench/inventory-merge.sh: `ops inventory` on a declared inventory file of N VMs (and N/20
# hosts), wall time and peak RSS per size, measured with /usr/bin/time -v. It exercises the
# declared-file source end to end: YAML decoding, merging the declared records into the report,
# findings, normalisation and JSON rendering.
#
# Usage: bench/inventory-merge.sh [N...]     (default: 20000 200000)
# Environment:
#   LIMIT   seconds before a run gets SIGTERM (then SIGKILL 10 s later) (default 600)
#   OPS     an ops binary to measure (default: built from this checkout)
# Output: a Markdown table, one row per size: exit status (130 = stopped by the SIGTERM, 137 =
# SIGKILL), wall time, peak RSS. Nothing is installed (needs /usr/bin/time and bc).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIMIT=${LIMIT:-600}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(20000 200000)
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
OPS=${OPS:-}
if [ -z "$OPS" ]; then
	OPS=$TMP/ops
	(cd "$ROOT" && go build -o "$OPS" ./cmd/ops)
fi

# gen N: a declared file with N VMs spread over N/20 hosts (one flow mapping per line).
gen() {
	awk -v n="$1" 'BEGIN {
		h = int(n / 20); if (h < 1) h = 1
		print "hosts:"
		for (i = 0; i < h; i++)
			printf "  - {name: hv%06d, hypervisor: hyper-v, cpu_cores: 16, memory_bytes: 128GiB, connection: connected, power: \"on\"}\n", i
		print "vms:"
		for (i = 0; i < n; i++)
			printf "  - {name: vm%07d, host: hv%06d, power: \"on\", cpus: 2, memory_bytes: 4GiB, guest_os: linux, ips: [10.%d.%d.%d]}\n", i, i % h, int(i / 65536) % 256, int(i / 256) % 256, i % 256
	}'
}

# run N: ops under /usr/bin/time -v; after LIMIT seconds SIGTERM, 10 s later SIGKILL. Peak RSS
# comes from /usr/bin/time, or (for a run that had to be killed) from polling VmHWM.
run() {
	local decl=$TMP/inventory-$1.yaml
	gen "$1" > "$decl"
	printf 'inventory:\n  sources:\n    - {name: declared, type: file, path: %s}\n' "$decl" > "$TMP/ops.yaml"
	rm -f "$TMP/time.txt"
	local start end rc pid hwm=0 h stopped=""
	start=$(date +%s.%N)
	/usr/bin/time -v -o "$TMP/time.txt" "$OPS" --config "$TMP/ops.yaml" --log-level warn inventory --output json \
		> "$TMP/out.json" 2> "$TMP/err.txt" &
	local tpid=$!
	while kill -0 "$tpid" 2>/dev/null; do
		pid=$(pgrep -P "$tpid" | head -1 || true)
		if [ -n "$pid" ]; then
			h=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
			[ -z "$h" ] || [ "$h" -le "$hwm" ] || hwm=$h
			local el
			el=$(echo "$(date +%s.%N) - $start" | bc)
			if [ -z "$stopped" ] && [ "$(echo "$el > $LIMIT" | bc)" = 1 ]; then
				kill -TERM "$pid" 2>/dev/null || true
				stopped=$el
			elif [ -n "$stopped" ] && [ "$(echo "$el > $stopped + 10" | bc)" = 1 ]; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
		fi
		sleep 0.2
	done
	set +e
	wait "$tpid"
	rc=$?
	set -e
	end=$(date +%s.%N)
	local wall rss
	wall=$(printf '%.2f s' "$(echo "$end - $start" | bc)")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time.txt" 2>/dev/null || true)
	[ -n "$rss" ] && [ "$rss" -gt "$hwm" ] || rss=$hwm
	if [ -n "$stopped" ]; then
		wall="> ${LIMIT} s: SIGTERM at $(printf '%.0f' "$stopped") s, exited after $wall"
	fi
	echo "| $1 | $(( $1 / 20 > 0 ? $1 / 20 : 1 )) | $(du -h "$decl" | cut -f1) | $rc | $wall | $((rss / 1024)) MiB |"
	[ "$rc" = 0 ] || sed 's/^/    /' "$TMP/err.txt" | head -5 >&2
}

command -v bc > /dev/null || { echo "needs bc (apt-get install bc)" >&2; exit 1; }
echo "| VMs declared | hosts | file size | exit | wall time | peak RSS |"
echo "|---:|---:|---:|---:|---:|---:|"
for n in "${SIZES[@]}"; do
	run "$n"
done
