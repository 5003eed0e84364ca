#!/usr/bin/env bash
# Replay speed of a point-in-time restore next to the stock pipeline an
# admin would type, on the same events:
#
#   ops backup restore --until T          (its replay part: filter + mariadb-binlog + mariadb)
#   mariadb-binlog --start-position P --stop-datetime T FILES | mariadb
#
# On mariadb3 (binary log on): a table, a backup, then TRANSACTIONS small
# transactions (a multi-row INSERT and an UPDATE each, ROW format), archived
# with `ops backup binlog --once`. Both replays go to mariadb2 after the same
# base restore; the CHECKSUM TABLE of both results must be equal. Interleaved
# runs, medians. Not a test: run it by hand with the services up
# (scripts/services.sh start mariadb2 mariadb3).
#
#   bench/pitr-replay.sh                       # 20000 transactions, 3 runs, ROW
#   TRANSACTIONS=50000 RUNS=5 bench/pitr-replay.sh
#   FORMAT=MIXED bench/pitr-replay.sh          # the transactions logged as MIXED (or STATEMENT)
#   REPLAY=stock bench/pitr-replay.sh          # ops --replay stock against the same pipe
set -euo pipefail

cd "$(dirname "$0")/.."
set -a
eval "$(scripts/services.sh env)"
set +a
n=${TRANSACTIONS:-20000}
runs=${RUNS:-3}
format=${FORMAT:-ROW}
mode=${REPLAY:-batched}
db=bench_pitr
src=(mariadb --no-defaults -h 127.0.0.1 -P "${OPS_IT_MYSQL3_ADDR##*:}" -uroot)
dst=(mariadb --no-defaults -h 127.0.0.1 -P "${OPS_IT_MYSQL2_ADDR##*:}" -uroot)
datadir=${OPS_IT_MYSQL3_DATADIR:-/var/lib/ops-test/mariadb3/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o bin/ops ./cmd/ops
cat >"$work/ops.yaml" <<EOF
lock_dir: $work/locks
storage:
  targets:
    local: {type: local, path: $work/target}
backup:
  jobs:
    - name: bench
      mysql: {host: 127.0.0.1, port: ${OPS_IT_MYSQL2_ADDR##*:}, user: root}
      databases: [$db]
      threads: 2
      binlog: {enabled: true, flush_interval: 1m}
EOF
# The archiver and the backup read mariadb3; the restores write mariadb2.
sed "s/port: ${OPS_IT_MYSQL2_ADDR##*:}/port: ${OPS_IT_MYSQL3_ADDR##*:}/" "$work/ops.yaml" >"$work/src.yaml"
ops() { bin/ops --config "$1" --log-level "${LOGLEVEL:-warn}" "${@:2}"; }

"${src[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;
  CREATE TABLE $db.t (id INT AUTO_INCREMENT PRIMARY KEY, k INT, v VARCHAR(64), KEY (k));
  INSERT INTO $db.t (k, v) SELECT seq, MD5(seq) FROM $db.seq_1_to_10000"
ops "$work/src.yaml" backup run --job bench --no-prune >/dev/null
echo "generating $n transactions on mariadb3 (binlog_format $format) ..."
echo "SET SESSION binlog_format=$format;" >"$work/gen.sql"
for ((i = 1; i <= n; i++)); do
	echo "BEGIN; INSERT INTO t (k, v) VALUES ($i, MD5($i)), ($((i + 1)), MD5(RAND())), ($((i + 2)), 'x'); UPDATE t SET v = CONCAT(LEFT(v, 60), 'u') WHERE id = $((i % 10000 + 1)); COMMIT;"
done >>"$work/gen.sql"
"${src[@]}" "$db" <"$work/gen.sql"
sleep 1.2
until=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1.2
"${src[@]}" -e "INSERT INTO $db.t (k, v) VALUES (-1, 'the first event after the point')"
ops "$work/src.yaml" backup binlog --job bench --once >/dev/null
read -r bfile bpos < <(jq -r '.consistency | "\(.binlog_file) \(.binlog_pos)"' "$(ls "$work"/target/bench/*/manifest.json | tail -1)")
files=$(ls "$datadir"/binlog.[0-9]* | awk -v f="$datadir/$bfile" '$0 >= f')
events=$(mariadb-binlog --start-position="$bpos" --stop-datetime="$(date -d "$until" '+%F %T')" $files | grep -c '^COMMIT' || true)
echo "replaying $events transactions from $bfile:$bpos up to $until"

declare -a t_ops t_stock
for ((r = 1; r <= runs; r++)); do
	"${dst[@]}" -e "DROP DATABASE IF EXISTS $db"
	s=$(date +%s.%N)
	out=$(LOGLEVEL=info ops "$work/ops.yaml" --log-format json backup restore --job bench --until "$until" --replay "$mode" 2>&1)
	e=$(date +%s.%N)
	replay=$(echo "$out" | jq -rR 'fromjson? | select(.msg == "point-in-time restore complete") | .replay' | tail -1)
	sum_ops=$("${dst[@]}" -N -e "CHECKSUM TABLE $db.t" | cut -f2)
	t_ops+=("$(python3 -c "import re,sys; s='$replay'; m=re.match(r'(?:([0-9.]+)m)?([0-9.]+)(ms|s)', s); print((float(m.group(1) or 0)*60 + float(m.group(2))/(1000 if m.group(3)=='ms' else 1)))")")
	"${dst[@]}" -e "DROP DATABASE IF EXISTS $db"
	ops "$work/ops.yaml" backup restore --job bench >/dev/null
	s=$(date +%s.%N)
	mariadb-binlog --start-position="$bpos" --stop-datetime="$(date -d "$until" '+%F %T')" $files | "${dst[@]}"
	e=$(date +%s.%N)
	t_stock+=("$(echo "$e - $s" | bc)")
	sum_stock=$("${dst[@]}" -N -e "CHECKSUM TABLE $db.t" | cut -f2)
	[ "$sum_ops" = "$sum_stock" ] || { echo "run $r: CHECKSUM TABLE differs: ops $sum_ops, stock $sum_stock" >&2; exit 1; }
	echo "run $r: ops --replay $mode ${t_ops[-1]} s, mariadb-binlog | mariadb ${t_stock[-1]} s (CHECKSUM TABLE $sum_ops both)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${t_ops[@]}")
ms=$(median "${t_stock[@]}")
printf '| %s | %d transactions | ops --replay %s %.2f s | mariadb-binlog \\| mariadb %.2f s | ratio %.2f |\n' "$format" "$events" "$mode" "$mo" "$ms" "$(echo "$mo / $ms" | bc -l)"
"${src[@]}" -e "DROP DATABASE IF EXISTS $db"
"${dst[@]}" -e "DROP DATABASE IF EXISTS $db"
