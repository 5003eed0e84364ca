#!/usr/bin/env bash
# Benchmark of the native dumper/restorer (package backup) against
# mysqldump, mydumper and the mysql client. Not a test: run it by hand.
#
#   bench/backup.sh                 # generate data if needed, run everything
#   ROWS=600000 TABLES=4 bench/backup.sh
#   KEEP=1 bench/backup.sh          # keep the generated database and the dumps (faster reruns)
#
# Source: the MariaDB on SOCKET (default /run/mysqld/mysqld.sock), database
# $DB (default ops_bench; created and filled sysbench-style: id, k, c
# CHAR(120), pad CHAR(60)). Restore target: the throw-away MariaDB at
# TARGET_HOST:TARGET_PORT (default 127.0.0.1:3307, root, empty password).
# Prints a markdown table of wall time and peak RSS (/usr/bin/time -v).
set -euo pipefail

cd "$(dirname "$0")/.."
SOCKET=${SOCKET:-/run/mysqld/mysqld.sock}
DB=${DB:-ops_bench}
TABLES=${TABLES:-4}
ROWS=${ROWS:-600000}
TARGET_HOST=${TARGET_HOST:-127.0.0.1}
TARGET_PORT=${TARGET_PORT:-3307}
WORK=${WORK:-$(mktemp -d /tmp/ops-bench.XXXXXX)}
THREADS=${THREADS:-2}
mkdir -p "$WORK"

SRC=(mysql --no-defaults -S "$SOCKET" -uroot)
TGT=(mysql --no-defaults -h "$TARGET_HOST" -P "$TARGET_PORT" -uroot)

command -v mydumper >/dev/null || apt-get install -y mydumper >/dev/null
command -v zstd >/dev/null || apt-get install -y zstd >/dev/null

echo "building bench drivers…" >&2
go build -o "$WORK/opsdump" ./bench/opsdump
go build -o "$WORK/opsrestore" ./bench/opsrestore
go build -o "$WORK/ops" ./cmd/ops
# The real command: `ops backup run` with manifest, SHA-256 and CHECKSUM TABLE
# of every table inside the snapshot (checksums: true, the default).
cat >"$WORK/ops.yaml" <<EOF
storage: {targets: {local: {type: local, path: $WORK/backups}}}
backup:
  jobs:
    - {name: bench, mysql: {user: root}, databases: [$DB], threads: $THREADS, compression: zstd}
    - {name: bench-gzip, mysql: {user: root}, databases: [$DB], threads: $THREADS, compression: gzip}
EOF

# ---------------------------------------------------------------- data
have=$("${SRC[@]}" -N -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='$DB'" 2>/dev/null || echo 0)
want_ok=1
if [ "$have" = "$TABLES" ]; then
	for i in $(seq 1 "$TABLES"); do
		n=$("${SRC[@]}" -N -e "SELECT COUNT(*) FROM \`$DB\`.sbtest$i")
		[ "$n" = "$ROWS" ] || want_ok=0
	done
else
	want_ok=0
fi
if [ "$want_ok" = 0 ]; then
	echo "generating $TABLES tables × $ROWS rows in $DB…" >&2
	"${SRC[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`; CREATE DATABASE \`$DB\`"
	grp='LPAD(FLOOR(RAND()*99999999999),11,0)'
	c="CONCAT_WS('-',$grp,$grp,$grp,$grp,$grp,$grp,$grp,$grp,$grp,$grp)"
	pad="CONCAT_WS('-',$grp,$grp,$grp,$grp,$grp)"
	for i in $(seq 1 "$TABLES"); do
		"${SRC[@]}" "$DB" -e "
			CREATE TABLE sbtest$i (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL DEFAULT 0,
				c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_$i (k)) ENGINE=InnoDB;
			SET SESSION rand_seed1 = $i, rand_seed2 = $((i * 7));
			INSERT INTO sbtest$i (id, k, c, pad) SELECT seq, FLOOR(RAND()*$ROWS), $c, $pad FROM seq_1_to_$ROWS;" &
	done
	wait
fi

# ---------------------------------------------------------------- runs
RESULTS=()
# run NAME COMMAND: time a shell command with /usr/bin/time -v.
run() {
	local name=$1 cmd=$2 log="$WORK/time.$(echo "$1" | tr -c 'a-zA-Z0-9' _).log"
	echo "running: $name" >&2
	sync
	if ! /usr/bin/time -v -o "$log" bash -o pipefail -c "$cmd" >"$WORK/out.log" 2>&1; then
		echo "FAILED: $name" >&2
		cat "$WORK/out.log" >&2
		RESULTS+=("| ${name//|/\\|} | failed | | | |")
		return
	fi
	local wall rss secs
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
	secs=$(awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$wall")
	RESULTS+=("| ${name//|/\\|} | $secs | $((rss / 1024)) | ${3:-} | ${4:-} |")
	eval "T_$(echo "$name" | tr -c 'a-zA-Z0-9' _)=$secs"
	eval "R_$(echo "$name" | tr -c 'a-zA-Z0-9' _)=$((rss / 1024))"
}
size() { du -sb "$@" | awk '{ s += $1 } END { printf "%.1f MB", s / 1e6 }'; }

raw_sql_bytes=0
run "SELECT * of each table via mysql client (raw read)" \
	"for i in \$(seq 1 $TABLES); do ${SRC[*]} -N -e 'SELECT * FROM \`$DB\`.sbtest'\$i > /dev/null; done"

run "ops dump zstd -t $THREADS" "$WORK/opsdump -socket $SOCKET -databases $DB -threads $THREADS -compression zstd > $WORK/ops.sql.zst 2>$WORK/ops.json"
RESULTS[-1]="${RESULTS[-1]%|*|*|}| $(size "$WORK/ops.sql.zst") | |"
raw_sql_bytes=$(grep -o '"raw_bytes":[0-9]*' "$WORK/ops.json" | cut -d: -f2)

run "ops backup run (zstd, -t $THREADS, manifest + checksums)" "$WORK/ops --config $WORK/ops.yaml --log-level warn backup run --job bench --no-prune"
RESULTS[-1]="${RESULTS[-1]%|*|*|}| $(size "$WORK/backups/bench") | |"

run "mysqldump --single-transaction | zstd -3" "mysqldump --no-defaults -S $SOCKET -uroot --single-transaction --databases $DB | zstd -3 -q > $WORK/mysqldump.sql.zst"
RESULTS[-1]="${RESULTS[-1]%|*|*|}| $(size "$WORK/mysqldump.sql.zst") | |"

run "ops dump gzip -t $THREADS" "$WORK/opsdump -socket $SOCKET -databases $DB -threads $THREADS -compression gzip > $WORK/ops.sql.gz 2>/dev/null"
RESULTS[-1]="${RESULTS[-1]%|*|*|}| $(size "$WORK/ops.sql.gz") | |"

run "ops backup run (gzip, -t $THREADS, manifest + checksums)" "$WORK/ops --config $WORK/ops.yaml --log-level warn backup run --job bench-gzip --no-prune"
RESULTS[-1]="${RESULTS[-1]%|*|*|}| $(size "$WORK/backups/bench-gzip") | |"

run "mysqldump --single-transaction | gzip" "mysqldump --no-defaults -S $SOCKET -uroot --single-transaction --databases $DB | gzip > $WORK/mysqldump.sql.gz"
RESULTS[-1]="${RESULTS[-1]%|*|*|}| $(size "$WORK/mysqldump.sql.gz") | |"

rm -rf "$WORK/mydumper"
run "mydumper -t $THREADS -c" "mydumper -S $SOCKET -u root -t $THREADS -c -B $DB -o $WORK/mydumper"
RESULTS[-1]="${RESULTS[-1]%|*|*|}| $(size "$WORK/mydumper") | |"

"${TGT[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`"
run "restore: zstd -dc | mysql" "zstd -dc $WORK/ops.sql.zst | ${TGT[*]}"
"${TGT[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`"
run "restore: ops Restore" "$WORK/opsrestore -host $TARGET_HOST -port $TARGET_PORT < $WORK/ops.sql.zst 2>$WORK/restore.json"
"${TGT[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`"
# The same through the CLI, pointed at the target server by OPS_* variables.
run "restore: ops backup restore" "OPS_BACKUP_JOBS_BENCH_MYSQL_HOST=$TARGET_HOST OPS_BACKUP_JOBS_BENCH_MYSQL_PORT=$TARGET_PORT $WORK/ops --config $WORK/ops.yaml --log-level warn backup restore --job bench"
"${TGT[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`"

# ---------------------------------------------------------------- report
k() { echo "$1" | tr -c 'a-zA-Z0-9' _; }
v() { eval "echo \${$1_$(k "$2"):-nan}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "Data: $TABLES tables × $ROWS rows, $(awk -v b="$raw_sql_bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB of SQL; $(nproc) CPUs; $(mysql --no-defaults -S "$SOCKET" -uroot -N -e 'SELECT VERSION()')"
echo
echo "| run | wall s | peak RSS MiB | output | |"
echo "|---|---:|---:|---:|---|"
for r in "${RESULTS[@]}"; do echo "$r"; done
echo
zr=$(ratio "$(v T "ops dump zstd -t $THREADS")" "$(v T "mysqldump --single-transaction | zstd -3")")
gr=$(ratio "$(v T "ops dump gzip -t $THREADS")" "$(v T "mysqldump --single-transaction | gzip")")
rr=$(ratio "$(v T "restore: ops Restore")" "$(v T "restore: zstd -dc | mysql")")
zr2=$(ratio "$(v T "ops backup run (zstd, -t $THREADS, manifest + checksums)")" "$(v T "mysqldump --single-transaction | zstd -3")")
gr2=$(ratio "$(v T "ops backup run (gzip, -t $THREADS, manifest + checksums)")" "$(v T "mysqldump --single-transaction | gzip")")
rr2=$(ratio "$(v T "restore: ops backup restore")" "$(v T "restore: zstd -dc | mysql")")
echo "| target | measured | goal |"
echo "|---|---:|---|"
echo "| ops zstd / (mysqldump \\| zstd -3) | $zr | ≤ 0.8 |"
echo "| ops gzip / (mysqldump \\| gzip) | $gr | ≤ 0.5 |"
echo "| ops peak RSS (zstd, gzip) | $(v R "ops dump zstd -t $THREADS") MiB, $(v R "ops dump gzip -t $THREADS") MiB | ≤ 128 MiB |"
echo "| ops Restore / (zstd -dc \\| mysql) | $rr | ≤ 1.0 |"
echo "| ops backup run zstd / (mysqldump \\| zstd -3) | $zr2 | ≤ 0.8 |"
echo "| ops backup run gzip / (mysqldump \\| gzip) | $gr2 | ≤ 0.5 |"
echo "| ops backup run peak RSS (zstd, gzip) | $(v R "ops backup run (zstd, -t $THREADS, manifest + checksums)") MiB, $(v R "ops backup run (gzip, -t $THREADS, manifest + checksums)") MiB | ≤ 128 MiB |"
echo "| ops backup restore / (zstd -dc \\| mysql) | $rr2 | ≤ 1.0 |"

if [ -z "${KEEP:-}" ]; then
	rm -rf "$WORK"
	"${SRC[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`"
else
	echo "kept $WORK and the source database $DB" >&2
fi
