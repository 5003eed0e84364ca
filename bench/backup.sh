#!/usr/bin/env bash
# Benchmark of the native dumper/restorer (backup/mysql/dump and restore, through ops) against
# mysqldump, mydumper and the mysql client. Not a test: run it by hand.
#
#   bench/backup.sh                 # generate data if needed, run everything
#   ROWS=600000 TABLES=4 bench/backup.sh
#   KEEP=1 bench/backup.sh          # keep the generated database and the dumps (faster reruns)
#   RUNS=3 bench/backup.sh          # every command RUNS times, interleaved; medians (default 3)
#   ONLY=memory ROWS=2000000 bench/backup.sh   # peak RSS of backup and restore only (4x the data)
#   TARGET=stock bench/backup.sh    # restore into a throw-away MariaDB with its compiled-in defaults
#
# Source: the MariaDB on SOCKET (default /run/mysqld/mysqld.sock), database
# $DB (default ops_bench; created and filled sysbench-style: id, k, c
# CHAR(120), pad CHAR(60)). Restore target: the throw-away MariaDB at
# TARGET_HOST:TARGET_PORT (default 127.0.0.1:3307, root, empty password: the
# test bed's second MariaDB, 64 MiB buffer pool and 16 MiB redo log). With
# TARGET=stock the bench starts its own MariaDB on 127.0.0.1:3309 with the
# server's compiled-in defaults (128 MiB buffer pool, 96 MiB redo log: what
# a stock Debian install runs with) in $WORK, and stops it at the end.
# Prints a markdown table of wall time (median of RUNS) and peak RSS (max)
# from /usr/bin/time -v, then the ratios the README states. The last row,
# the restore floor, is the target loading the same rows from files with
# the stock client (see floor_prepare): what no client can beat here.
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

if [ "${TARGET:-}" = stock ]; then
	TARGET_HOST=127.0.0.1 TARGET_PORT=${TARGET_PORT_STOCK:-3309}
	tdir="$WORK/target"
	chmod o+x "$WORK" # mktemp's 0700 would keep the mysql user out of its data directory
	install -d -o mysql -g mysql "$tdir"
	[ -d "$tdir/data/mysql" ] || mariadb-install-db --no-defaults --user=mysql --datadir="$tdir/data" \
		--auth-root-authentication-method=normal --skip-test-db >"$WORK/target-install.log" 2>&1 ||
		{ cat "$WORK/target-install.log" >&2; exit 1; }
	# In a subshell, so that the script's own `wait`s do not wait for it.
	(/usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$tdir/data" --socket="$tdir/mysqld.sock" \
		--port="$TARGET_PORT" --bind-address=127.0.0.1 --pid-file="$tdir/mysqld.pid" \
		--log-error="$WORK/target.log" &)
	stop_target() {
		local pid
		pid=$(cat "$tdir/mysqld.pid" 2>/dev/null) || return 0
		kill "$pid" 2>/dev/null || return 0
		while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
	}
	trap stop_target EXIT
	for _ in $(seq 1 60); do
		mysql --no-defaults -h 127.0.0.1 -P "$TARGET_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
		sleep 0.5
	done
fi
SRC=(mysql --no-defaults -S "$SOCKET" -uroot)
TGT=(mysql --no-defaults -h "$TARGET_HOST" -P "$TARGET_PORT" -uroot)

command -v mydumper >/dev/null || apt-get install -y mydumper >/dev/null
command -v myloader >/dev/null || apt-get install -y mydumper >/dev/null
command -v zstd >/dev/null || apt-get install -y zstd >/dev/null

echo "building bench drivers…" >&2
go build -o "$WORK/ops" ./cmd/ops
# The real command: `ops backup run` with manifest, SHA-256 and the content digest
# of every table taken while the rows stream (checksums: true, the default).
cat >"$WORK/ops.yaml" <<EOF
storage: {targets: {local: {type: local, path: $WORK/backups}}}
backup:
  jobs:
    - {name: bench, mysql: {user: root}, databases: [$DB], threads: $THREADS, compression: zstd}
    - {name: bench-gzip, mysql: {user: root}, databases: [$DB], threads: $THREADS, compression: gzip}
    - {name: bench-nodigest, mysql: {user: root}, databases: [$DB], threads: $THREADS, compression: zstd, checksums: false}
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

# ---------------------------------------------------------------- floor
# The restore's floor: the target loading the same rows with nothing to
# parse or check on the client, as ops loads them (LOAD DATA LOCAL of 4 MiB
# chunks read as bytes (CHARACTER SET binary: every column is utf8mb4 or a
# number), one table per connection, THREADS at a time, each table's index
# added by ALTER TABLE after its data while the next table loads), by the
# stock client from tab-separated files written before the runs.
floor_prepare() {
	local f="$WORK/floor" i j
	rm -rf "$f" && mkdir -p "$f"
	for i in $(seq 1 "$TABLES"); do
		"${SRC[@]}" -N --batch -e "SELECT * FROM \`$DB\`.sbtest$i" >"$f/t$i.tsv"
		split -l 21000 -d -a 4 "$f/t$i.tsv" "$f/t$i.part."
		rm "$f/t$i.tsv"
	done
	{
		echo "set -e"
		echo "${TGT[*]} -e 'CREATE DATABASE \`$DB\`'"
		for i in $(seq 1 "$TABLES"); do
			echo "${TGT[*]} $DB -e 'CREATE TABLE sbtest$i (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT \"\", pad CHAR(60) NOT NULL DEFAULT \"\") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4'"
		done
		for j in $(seq 1 "$THREADS"); do
			echo "("
			for ((i = j; i <= TABLES; i += THREADS)); do
				echo "  { echo 'SET NAMES utf8mb4; SET unique_checks = 0, foreign_key_checks = 0;'; for p in $f/t$i.part.*; do echo \"LOAD DATA LOCAL INFILE '\$p' INTO TABLE sbtest$i CHARACTER SET binary;\"; done; } | ${TGT[*]} --local-infile=1 $DB"
				echo "  ${TGT[*]} $DB -e 'ALTER TABLE sbtest$i ADD KEY k_$i (k)' &"
			done
			echo "  wait"
			echo ") &"
		done
		echo "wait"
	} >"$f/run.sh"
}

# ---------------------------------------------------------------- runs
RUNS=${RUNS:-3}
declare -A TIMES RSS OUT
ORDER=()
# run NAME COMMAND [CLEANUP]: time a shell command with /usr/bin/time -v.
run() {
	local name=$1 cmd=$2 log="$WORK/time.log"
	[ -n "${3:-}" ] && bash -c "$3"
	echo "running: $name" >&2
	sync
	if ! /usr/bin/time -v -o "$log" bash -o pipefail -c "$cmd" >"$WORK/out.log" 2>&1; then
		echo "FAILED: $name" >&2
		cat "$WORK/out.log" >&2
		exit 1
	fi
	local wall rss secs
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
	secs=$(awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$wall")
	[ -n "${TIMES[$name]:-}" ] || ORDER+=("$name")
	TIMES[$name]="${TIMES[$name]:-} $secs"
	local r=$((rss / 1024))
	[ "${RSS[$name]:-0}" -ge "$r" ] || RSS[$name]=$r
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
size() { du -sb "$@" | awk '{ s += $1 } END { printf "%.1f MB", s / 1e6 }'; }
dropt="${TGT[*]} -e 'DROP DATABASE IF EXISTS \`$DB\`'"
ops_restore="OPS_BACKUP_JOBS_BENCH_MYSQL_HOST=$TARGET_HOST OPS_BACKUP_JOBS_BENCH_MYSQL_PORT=$TARGET_PORT $WORK/ops --config $WORK/ops.yaml --log-level warn backup restore --job bench"

if [ "${ONLY:-}" = memory ]; then
	for ((r = 1; r <= RUNS; r++)); do
		run "ops backup run (zstd, -t $THREADS, digests)" "$WORK/ops --config $WORK/ops.yaml --log-level warn backup run --job bench --no-prune"
		run "restore: ops backup restore" "$ops_restore" "$dropt"
	done
else
	echo "writing the rows as files for the restore floor…" >&2
	floor_prepare
	for ((r = 1; r <= RUNS; r++)); do
		echo "== round $r of $RUNS" >&2
		run "SELECT * of each table via mysql client (raw read)" \
			"for i in \$(seq 1 $TABLES); do ${SRC[*]} -N -e 'SELECT * FROM \`$DB\`.sbtest'\$i > /dev/null; done"
		run "ops backup run (zstd, -t $THREADS, digests)" "$WORK/ops --config $WORK/ops.yaml --log-level warn backup run --job bench --no-prune"
		run "ops backup run (zstd, -t $THREADS, checksums: false)" "$WORK/ops --config $WORK/ops.yaml --log-level warn backup run --job bench-nodigest --no-prune"
		run "mysqldump --single-transaction | zstd -3" "mysqldump --no-defaults -S $SOCKET -uroot --single-transaction --databases $DB | zstd -3 -q > $WORK/mysqldump.sql.zst"
		run "ops backup run (gzip, -t $THREADS, digests)" "$WORK/ops --config $WORK/ops.yaml --log-level warn backup run --job bench-gzip --no-prune"
		run "mysqldump --single-transaction | gzip" "mysqldump --no-defaults -S $SOCKET -uroot --single-transaction --databases $DB | gzip > $WORK/mysqldump.sql.gz"
		run "mydumper -t $THREADS (no compression)" "rm -rf $WORK/mydumper && mydumper -S $SOCKET -u root -t $THREADS -B $DB -o $WORK/mydumper"
		run "restore: zstd -dc | mysql" "zstd -dc $WORK/mysqldump.sql.zst | ${TGT[*]}" "$dropt"
		run "restore: ops backup restore" "$ops_restore" "$dropt"
		run "restore: myloader -t $THREADS" "myloader -h $TARGET_HOST -P $TARGET_PORT -u root -t $THREADS -d $WORK/mydumper" "$dropt"
		run "restore floor: LOAD DATA of the same rows from files (mysql client, $THREADS lanes, indexes after)" "bash -o pipefail $WORK/floor/run.sh" "$dropt"
		bash -c "$dropt"
		rm -rf "$WORK/backups"
	done
fi

# ---------------------------------------------------------------- report
echo
echo "Data: $TABLES tables × $ROWS rows; $(nproc) CPUs; $(mysql --no-defaults -S "$SOCKET" -uroot -N -e 'SELECT VERSION()'); $RUNS runs, interleaved"
echo "Restore target: $TARGET_HOST:$TARGET_PORT, $("${TGT[@]}" -N -e 'SELECT CONCAT(@@innodb_buffer_pool_size DIV 1048576, " MiB buffer pool, ", @@innodb_log_file_size DIV 1048576, " MiB redo log")')"
echo
echo "| run | median wall s | runs | peak RSS MiB |"
echo "|---|---:|---|---:|"
for n in "${ORDER[@]}"; do
	echo "| ${n//|/\\|} | $(median "${TIMES[$n]}") |${TIMES[$n]} | ${RSS[$n]} |"
done
ratio() { awk -v a="$(median "${TIMES[$1]:-}")" -v b="$(median "${TIMES[$2]:-}")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
if [ "${ONLY:-}" != memory ]; then
	echo
	echo "| goal | measured |"
	echo "|---|---:|"
	echo "| backup (digests on) ≤ 0.6 × mysqldump \\| zstd -3 | $(ratio "ops backup run (zstd, -t $THREADS, digests)" "mysqldump --single-transaction | zstd -3") |"
	echo "| backup without digests (checksums: false) / mysqldump \\| zstd -3 | $(ratio "ops backup run (zstd, -t $THREADS, checksums: false)" "mysqldump --single-transaction | zstd -3") |"
	echo "| backup gzip / mysqldump \\| gzip | $(ratio "ops backup run (gzip, -t $THREADS, digests)" "mysqldump --single-transaction | gzip") |"
	echo "| restore ≤ 0.45 × mysql client | $(ratio "restore: ops backup restore" "restore: zstd -dc | mysql") |"
	echo "| restore ≤ 0.8 × myloader -t $THREADS | $(ratio "restore: ops backup restore" "restore: myloader -t $THREADS") |"
	echo "| restore floor / mysql client (the best any client could do here) | $(ratio "restore floor: LOAD DATA of the same rows from files (mysql client, $THREADS lanes, indexes after)" "restore: zstd -dc | mysql") |"
	echo "| ops restore / restore floor | $(ratio "restore: ops backup restore" "restore floor: LOAD DATA of the same rows from files (mysql client, $THREADS lanes, indexes after)") |"
fi
echo "| peak RSS ≤ 128 MiB (backup, restore) | ${RSS["ops backup run (zstd, -t $THREADS, digests)"]} MiB, ${RSS["restore: ops backup restore"]} MiB |"

if [ -z "${KEEP:-}" ]; then
	[ "${TARGET:-}" != stock ] || stop_target
	rm -rf "$WORK"
	"${SRC[@]}" -e "DROP DATABASE IF EXISTS \`$DB\`"
else
	echo "kept $WORK and the source database $DB" >&2
fi
