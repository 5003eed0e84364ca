#!/usr/bin/env bash
# Benchmark of physical backups (method: physical) against the stock
# pipeline they replace, and of the physical restore against ops' logical
# restore of the same rows. Not a test: run it by hand, as root.
#
#   bench/physical.sh                        # generate data if needed, RUNS=3
#   ROWS=2000000 TABLES=4 RUNS=5 bench/physical.sh
#   KEEP=1 bench/physical.sh                 # keep the generated database (faster reruns)
#
# Source: the MariaDB on SOCKET (default: the test bed's mariadb3, whose
# datadir this host can read), database $DB (default physical_bench; TABLES
# sysbench-style tables of ROWS rows: id, k with a secondary index, c
# CHAR(120), pad CHAR(60)). A physical backup copies the whole server, so
# whatever else that server holds is in both columns. Logical restore
# target: TARGET_HOST:TARGET_PORT (default 127.0.0.1:3307, the test bed's
# mariadb2). Prints a markdown table of wall times (median of RUNS) and sizes
# and the ratios issue #28 states:
#   full physical backup  ÷ `mariadb-backup --backup --stream=xbstream | zstd -1 > file`   (≤ 1.1)
#   incremental after changing 1 % of the rows: stored bytes ÷ the full's                   (≤ 0.05)
#   physical restore (fetch, check, extract, prepare) ÷ ops' logical restore                 (≤ 0.5)
set -euo pipefail

cd "$(dirname "$0")/.."
SOCKET=${SOCKET:-/var/lib/ops-test/mariadb3/mysqld.sock}
DB=${DB:-physical_bench}
TABLES=${TABLES:-4}
ROWS=${ROWS:-500000}
RUNS=${RUNS:-3}
TARGET_HOST=${TARGET_HOST:-127.0.0.1}
TARGET_PORT=${TARGET_PORT:-3307}
WORK=${WORK:-$(mktemp -d /var/tmp/ops-physical-bench.XXXXXX)}
mkdir -p "$WORK"
chmod 0755 "$WORK"
trap '[ -n "${KEEP:-}" ] || mariadb --no-defaults -uroot -S "$SOCKET" -e "DROP DATABASE IF EXISTS $DB"; rm -rf "$WORK"' EXIT

src() { mariadb --no-defaults -uroot -S "$SOCKET" "$@"; }
go build -o "$WORK/ops" ./cmd/ops

have=$(src -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$DB'")
if [ "$have" != "$TABLES" ]; then
	echo "generating $TABLES tables of $ROWS rows in $DB ..." >&2
	src -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
	for t in $(seq 1 "$TABLES"); do
		src "$DB" -e "CREATE TABLE sbtest$t (id INT PRIMARY KEY AUTO_INCREMENT, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY k_$t (k)) ENGINE=InnoDB;
			INSERT INTO sbtest$t (k, c, pad) SELECT FLOOR(RAND(seq)*$ROWS), CONCAT(SHA2(seq, 256), RPAD(seq, 56, '-')), RPAD(MD5(seq), 60, '.') FROM seq_1_to_$ROWS;"
	done
fi
datadir=$(src -N -e "SELECT @@datadir")
size_mb=$(src -N -e "SELECT ROUND(SUM(data_length+index_length)/1048576) FROM information_schema.tables WHERE table_schema='$DB'")

cat >"$WORK/ops.yaml" <<YAML
lock_dir: $WORK/locks
storage:
  targets:
    local: {type: local, path: $WORK/store}
backup:
  jobs:
    - name: phys
      method: physical
      checksums: false
      mysql: {socket: $SOCKET, user: root}
      physical: {incremental: true}
      target: local
      retention: {keep_last: 100}
    - name: physd
      method: physical
      mysql: {socket: $SOCKET, user: root}
      target: local
      retention: {keep_last: 1}
    - name: logi
      mysql: {socket: $SOCKET, user: root}
      restore_mysql: {host: $TARGET_HOST, port: $TARGET_PORT, user: root, tls: {mode: disabled}}
      databases: [$DB]
      target: local
      retention: {keep_last: 100}
YAML
OPS=("$WORK/ops" --config "$WORK/ops.yaml" --log-level warn)
ops() { "${OPS[@]}" "$@"; }
wall() { /usr/bin/time -f %e -o "$WORK/t" "$@" >/dev/null; cat "$WORK/t"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
stored() { ops backup list --job "$1" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["size"])'; }

stock=() physical=() prest=() lrest=()
ops backup run --job logi >/dev/null
for r in $(seq 1 "$RUNS"); do
	rm -rf "$WORK/tmp" "$WORK/stock.xb.zst"
	stock+=("$(wall sh -c "mariadb-backup --no-defaults --user=root --socket=$SOCKET --datadir=$datadir --backup --stream=xbstream --target-dir=$WORK/tmp 2>$WORK/mb.log | zstd -1 -q >$WORK/stock.xb.zst")")
	physical+=("$(wall "${OPS[@]}" backup run --job phys --full)")
	full_bytes=$(stored phys)
	rm -rf "$WORK/dd"
	prest+=("$(wall "${OPS[@]}" backup restore --job phys --datadir "$WORK/dd")")
	lrest+=("$(wall "${OPS[@]}" backup restore --job logi --database "$DB=${DB}_r" --replace)")
	echo "run $r: stock ${stock[-1]} s, ops physical ${physical[-1]} s, physical restore ${prest[-1]} s, logical restore ${lrest[-1]} s" >&2
done
stock_bytes=$(stat -c %s "$WORK/stock.xb.zst")
# The default checksums: true also reads every row at the backup's point.
digest_s=$(wall "${OPS[@]}" backup run --job physd)
# 1 % of the rows: clustered (the newest ids: the pages of 1 % of each
# table), first a column without an index, then the indexed k (its index
# entries are random: many index pages); then scattered (every 100th row:
# nearly every page).
for t in $(seq 1 "$TABLES"); do src "$DB" -e "UPDATE sbtest$t SET pad = REVERSE(pad) WHERE id > $ROWS - $ROWS / 100"; done
pinc_s=$(wall "${OPS[@]}" backup run --job phys)
pinc_bytes=$(stored phys)
wall "${OPS[@]}" backup run --job phys --full >/dev/null
pfull_bytes=$(stored phys)
for t in $(seq 1 "$TABLES"); do src "$DB" -e "UPDATE sbtest$t SET k = k + 1 WHERE id > $ROWS - $ROWS / 100"; done
inc_s=$(wall "${OPS[@]}" backup run --job phys)
inc_bytes=$(stored phys)
wall "${OPS[@]}" backup run --job phys --full >/dev/null
full2_bytes=$(stored phys)
for t in $(seq 1 "$TABLES"); do src "$DB" -e "UPDATE sbtest$t SET k = k + 1 WHERE id % 100 = 0"; done
sinc_s=$(wall "${OPS[@]}" backup run --job phys)
sinc_bytes=$(stored phys)
mariadb --no-defaults -uroot -h "$TARGET_HOST" -P "$TARGET_PORT" -e "DROP DATABASE IF EXISTS ${DB}_r"

ms=$(echo "${stock[*]}" | median) mp=$(echo "${physical[*]}" | median)
mpr=$(echo "${prest[*]}" | median) mlr=$(echo "${lrest[*]}" | median)
echo
echo "$TABLES tables × $ROWS rows ($size_mb MiB of data and indexes in $DB; datadir $datadir), RUNS=$RUNS, $(date -u +%F) at $(git rev-parse --short HEAD)"
echo
echo "| run | median wall s | runs | stored bytes |"
echo "|---|---:|---|---:|"
echo "| \`mariadb-backup --backup --stream=xbstream \| zstd -1 > file\` | $ms | ${stock[*]} | $stock_bytes |"
echo "| \`ops backup run\`, physical full (zstd; checksums: false, rows counted at the backup's point) | **$mp** | ${physical[*]} | $full_bytes |"
echo "| \`ops backup run\`, physical full, checksums: true (the default: every row's digest at the backup's point) | $digest_s | 1 run | |"
echo "| \`ops backup run\`, physical incremental after changing 1 % of the rows, clustered, a column without index | $pinc_s | 1 run | $pinc_bytes |"
echo "| \`ops backup run\`, physical incremental after changing 1 % of the rows, clustered, the indexed k | $inc_s | 1 run | $inc_bytes |"
echo "| \`ops backup run\`, physical incremental after changing 1 % of the rows, scattered (every 100th) | $sinc_s | 1 run | $sinc_bytes |"
echo "| \`ops backup restore --datadir\` (fetch, check, extract, prepare) | **$mpr** | ${prest[*]} | |"
echo "| \`ops backup restore\` of a logical backup of $DB (2 threads, into $TARGET_HOST:$TARGET_PORT) | $mlr | ${lrest[*]} | |"
echo
awk -v a="$mp" -v b="$ms" 'BEGIN {printf "full physical backup ÷ mariadb-backup | zstd -1: %.2f (goal ≤ 1.1)\n", a/b}'
awk -v a="$pinc_bytes" -v b="$full_bytes" 'BEGIN {printf "incremental (1 %% clustered, no index) stored bytes ÷ full: %.3f (goal ≤ 0.05)\n", a/b}'
awk -v a="$inc_bytes" -v b="$pfull_bytes" 'BEGIN {printf "incremental (1 %% clustered, indexed k) stored bytes ÷ full: %.3f\n", a/b}'
awk -v a="$sinc_bytes" -v b="$full2_bytes" 'BEGIN {printf "incremental (1 %% scattered) stored bytes ÷ full: %.3f\n", a/b}'
awk -v a="$mpr" -v b="$mlr" 'BEGIN {printf "physical restore ÷ logical restore: %.2f (goal ≤ 0.5)\n", a/b}'
