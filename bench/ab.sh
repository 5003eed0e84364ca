#!/usr/bin/env bash
# A against B: two builds of ops, run in alternating pairs (A B A B …) on
# the bench data, for a change too small for bench/backup.sh's spread to
# show. Prints each run's wall time and the MariaDB server's CPU during it
# (utime + stime of the server process, from /proc), then the medians.
# Not a test: run it by hand, after `KEEP=1 RUNS=0 bench/backup.sh` has
# generated the data.
#
#   A=26abac4 B=HEAD WHAT=backup PAIRS=5 bench/ab.sh    # revisions are built
#   A=/tmp/ops-old B=/tmp/ops-new WHAT=restore bench/ab.sh
#   FSYNC=1 WHAT=backup … bench/ab.sh                    # also the longest fsync (strace -T)
#
# WHAT=backup: `ops backup run` of DB from the MariaDB on SOCKET (the server
# measured is that one). WHAT=restore: one backup made by B, restored by
# each build into 127.0.0.1:TARGET_PORT (default 3307; the server measured
# is the target), the database dropped before each run.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${A:?A=revision or binary}" "${B:?B=revision or binary}"
WHAT=${WHAT:-backup}
PAIRS=${PAIRS:-5}
SOCKET=${SOCKET:-/run/mysqld/mysqld.sock}
DB=${DB:-ops_bench}
TARGET_PORT=${TARGET_PORT:-3307}
WORK=$(mktemp -d /tmp/ops-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# binary REV|PATH NAME: the path of an ops binary for REV (built from a
# clean export of that revision) or PATH itself.
binary() {
	if [ -x "$1" ] && [ -f "$1" ]; then
		echo "$1"
		return
	fi
	mkdir -p "$WORK/src-$2"
	git archive "$1" | tar -x -C "$WORK/src-$2"
	(cd "$WORK/src-$2" && go build -o "$WORK/ops-$2" ./cmd/ops)
	echo "$WORK/ops-$2"
}
echo "building A ($A) and B ($B)…" >&2
binA=$(binary "$A" a)
binB=$(binary "$B" b)

cat >"$WORK/ops.yaml" <<YAML
storage: {targets: {local: {type: local, path: $WORK/backups}}}
backup:
  jobs:
    - {name: bench, mysql: {user: root}, databases: [$DB], threads: 2, compression: zstd}
YAML
pid_of_port() { ss -Hltnp "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }
tgt=(mysql --no-defaults -h 127.0.0.1 -P "$TARGET_PORT" -uroot)
case $WHAT in
backup) pid=$(pid_of_port "${SOURCE_PORT:-3306}") ;;
restore)
	pid=$(pid_of_port "$TARGET_PORT")
	"$binB" --config "$WORK/ops.yaml" --log-level warn backup run --job bench --no-prune >/dev/null
	export OPS_BACKUP_JOBS_BENCH_MYSQL_HOST=127.0.0.1 OPS_BACKUP_JOBS_BENCH_MYSQL_PORT=$TARGET_PORT
	;;
*) echo "WHAT=backup or WHAT=restore" >&2; exit 2 ;;
esac
[ -n "$pid" ] || { echo "no mariadbd to measure" >&2; exit 1; }
tck=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

declare -A WALL CPU FS
# one NAME BIN: one run, its figures appended to WALL, CPU (and FS).
one() {
	local name=$1 bin=$2 t0 t1 c0 c1 cmd
	if [ "$WHAT" = backup ]; then
		rm -rf "$WORK/backups"
		cmd=("$bin" --config "$WORK/ops.yaml" --log-level warn backup run --job bench --no-prune)
	else
		"${tgt[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`"
		cmd=("$bin" --config "$WORK/ops.yaml" --log-level warn backup restore --job bench)
	fi
	sync
	c0=$(ticks)
	t0=$(date +%s.%N)
	if [ -n "${FSYNC:-}" ]; then
		strace -f -qq -e trace=fsync -T -o "$WORK/strace" "${cmd[@]}" >/dev/null
	else
		"${cmd[@]}" >/dev/null
	fi
	t1=$(date +%s.%N)
	c1=$(ticks)
	WALL[$name]+=" $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
	CPU[$name]+=" $(awk -v a="$c0" -v b="$c1" -v t="$tck" 'BEGIN { printf "%.2f", (b - a) / t }')"
	if [ -n "${FSYNC:-}" ]; then
		FS[$name]+=" $(sed -n 's/.*<\([0-9.]*\)>$/\1/p' "$WORK/strace" | sort -g | tail -1)"
	fi
}
for ((i = 1; i <= PAIRS; i++)); do
	echo "pair $i of $PAIRS" >&2
	one A "$binA"
	one B "$binB"
done
[ "$WHAT" = restore ] && "${tgt[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`"

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "$WHAT, $PAIRS alternating pairs; A = $A, B = $B; server measured: pid $pid"
echo
if [ -n "${FSYNC:-}" ]; then
	echo "| build | median wall s | runs | median server CPU s | runs | median longest fsync s | runs |"
	echo "|---|---:|---|---:|---|---:|---|"
else
	echo "| build | median wall s | runs | median server CPU s | runs |"
	echo "|---|---:|---|---:|---|"
fi
for n in A B; do
	line="| $n | $(median "${WALL[$n]}") |${WALL[$n]} | $(median "${CPU[$n]}") |${CPU[$n]}"
	[ -n "${FSYNC:-}" ] && line+=" | $(median "${FS[$n]}") |${FS[$n]}"
	echo "$line |"
done
