#!/usr/bin/env bash
# Throughput and peak RSS of the S3 target (s3.Store (backup/storage/s3): multipart Put with
# parts in flight, streaming Get) against Debian's s3cmd (`s3cmd put` / `s3cmd get`) on the same
# bytes, part size and endpoint. Not a test: run it by hand, the S3 test bed running
# (scripts/services.sh start s3: Swift's s3api on 127.0.0.1:8081).
#
#   bench/s3.sh                              # 512 MiB, 8 MiB parts (the default), 2 runs each
#   SIZE_MB=1024 PART_MB=64 RUNS=3 bench/s3.sh
#   CONCURRENCY=8 bench/s3.sh                # parts in flight for ops (s3cmd uploads one at a time)
#   BACKUP=1 ROWS=600000 bench/s3.sh         # also `ops backup run` of a database to S3, against
#                                            # `s3cmd put` of the dump it stored (the same bytes)
#
# BACKUP=1 fills database s3it_bench on the MariaDB at SOCKET (default /run/mysqld/mysqld.sock) as
# bench/backup.sh does (TABLES sysbench-style tables of ROWS rows; kept for reruns, KEEP_DB=0 drops
# it at the end), then times `ops backup run` (dump, zstd, upload in parts) against `s3cmd put`
# and `s3cmd get` of the stored dump (and `ops backup run` of the same database to a local
# directory: the dump's own time, the floor of a backup to any store), and checks that the dump restores to the same CHECKSUM TABLE
# through `s3cmd get | zstd -dc` into a scratch database on the same server (s3it_bench_check).
#
# The bytes are random: incompressible, as a zstd dump is. Prints wall time, MB/s (10^6 bytes/s)
# and peak RSS (/usr/bin/time -v) per run, then checks that both objects read back identical.
set -euo pipefail

cd "$(dirname "$0")/.."
ENDPOINT=${OPS_IT_S3_ENDPOINT:-http://127.0.0.1:8081}
KEY=${OPS_IT_S3_ACCESS_KEY:-test:tester}
SECRET_FILE=${OPS_IT_S3_SECRET_FILE:-/var/lib/ops-test/s3/secret}
S3CMD_CFG=${OPS_IT_S3CMD_CFG:-/var/lib/ops-test/s3/s3cmd.cfg}
SIZE_MB=${SIZE_MB:-512}
PART_MB=${PART_MB:-8}
RUNS=${RUNS:-2}
CONCURRENCY=${CONCURRENCY:-4}
WORK=${WORK:-$(mktemp -d /tmp/ops-s3-bench.XXXXXX)}
BUCKET=ops-s3it-bench-$$
PART=$((PART_MB * 1024 * 1024))

cleanup() {
	s3cmd -c "$S3CMD_CFG" del --recursive --force "s3://$BUCKET" >/dev/null 2>&1 || true
	s3cmd -c "$S3CMD_CFG" rb "s3://$BUCKET" >/dev/null 2>&1 || echo "bench: bucket $BUCKET could not be removed" >&2
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

echo "building bench/s3put…" >&2
go build -o "$WORK/s3put" ./bench/s3put
S3PUT=("$WORK/s3put" -endpoint "$ENDPOINT" -access-key "$KEY" -secret-file "$SECRET_FILE" -bucket "$BUCKET"
	-part-size "$PART" -concurrency "$CONCURRENCY")

DATA=$WORK/data.bin
echo "generating $SIZE_MB MiB of random bytes…" >&2
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$DATA"
cat "$DATA" >/dev/null # page cache: both clients read from memory
BYTES=$(stat -c %s "$DATA")
SHA=$(sha256sum "$DATA" | cut -d' ' -f1)
s3cmd -c "$S3CMD_CFG" mb "s3://$BUCKET" >/dev/null

# run LABEL CMD...: time one command, print a table row.
run() {
	local label=$1
	shift
	local tv=$WORK/time.txt
	/usr/bin/time -v -o "$tv" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || {
		echo "$label failed:" >&2
		cat "$WORK/err.txt" >&2
		exit 1
	}
	local wall rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tv")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
	local rate=-
	if [ "${BYTES:-0}" != 0 ]; then rate=$(printf '%.1f' "$(echo "$BYTES / 1000000 / $wall" | bc -l)"); fi
	printf '| %-40s | %7.2f | %8s | %7.0f |\n' "$label" "$wall" "$rate" "$((rss / 1024))"
}

# bench_backup: `ops backup run` of s3it_bench to the S3 target against s3cmd on the stored dump.
bench_backup() {
	local sock=${SOCKET:-/run/mysqld/mysqld.sock} db=s3it_bench tables=${TABLES:-4} rows=${ROWS:-600000} i n ok=1
	local src=(mariadb --no-defaults -S "$sock" -uroot)
	for i in $(seq 1 "$tables"); do
		n=$("${src[@]}" -N -e "SELECT COUNT(*) FROM $db.sbtest$i" 2>/dev/null || echo 0)
		[ "$n" = "$rows" ] || ok=0
	done
	if [ "$ok" = 0 ]; then
		echo "generating $tables tables × $rows rows in $db…" >&2
		"${src[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
		local grp='LPAD(FLOOR(RAND()*99999999999),11,0)'
		local c="CONCAT_WS('-',$grp,$grp,$grp,$grp,$grp,$grp,$grp,$grp,$grp,$grp)"
		local pad="CONCAT_WS('-',$grp,$grp,$grp,$grp,$grp)"
		for i in $(seq 1 "$tables"); do
			"${src[@]}" "$db" -e "
				CREATE TABLE sbtest$i (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL DEFAULT 0,
					c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_$i (k)) ENGINE=InnoDB;
				INSERT INTO sbtest$i (id, k, c, pad) SELECT seq, FLOOR(RAND()*$rows), $c, $pad FROM seq_1_to_$rows;"
		done
	fi
	go build -o "$WORK/ops" ./cmd/ops
	cat >"$WORK/ops.yaml" <<Y
storage:
  targets:
    s3: {type: s3, endpoint: "$ENDPOINT", bucket: $BUCKET, access_key_id: "$KEY", secret_access_key_file: $SECRET_FILE, path_style: true, part_size: ${PART_MB}MiB}
    disk: {type: local, path: $WORK/local}
backup:
  jobs:
    - {name: bench, target: s3, mysql: {socket: $sock, user: root}, databases: [$db], retention: {keep_last: 1}}
    - {name: floor, target: disk, mysql: {socket: $sock, user: root}, databases: [$db], retention: {keep_last: 1}}
Y
	echo
	echo "ops backup run of $db ($tables × $rows rows) to S3, against s3cmd on the dump it stored"
	echo
	echo "| client                                   |  wall s |     MB/s | RSS MiB |"
	echo "|------------------------------------------|--------:|---------:|--------:|"
	local obj size
	for i in $(seq 1 "$RUNS"); do
		BYTES=0 run "ops backup run (dump, zstd, upload)" "$WORK/ops" --config "$WORK/ops.yaml" backup run --job bench
		BYTES=0 run "ops backup run to a local directory" "$WORK/ops" --config "$WORK/ops.yaml" backup run --job floor
		obj=$("$WORK/ops" --config "$WORK/ops.yaml" backup list --job bench --output json | sed -n 's/.*"object": *"\([^"]*\)".*/\1/p' | head -1)
		s3cmd -c "$S3CMD_CFG" get --force "s3://$BUCKET/$obj" "$WORK/dump.zst" >/dev/null
		size=$(stat -c %s "$WORK/dump.zst")
		BYTES=$size run "s3cmd put of that dump ($((size / 1048576)) MiB)" \
			s3cmd -c "$S3CMD_CFG" put --multipart-chunk-size-mb="$PART_MB" "$WORK/dump.zst" "s3://$BUCKET/dump-cli.zst"
		BYTES=$size run "s3cmd get of that dump (to /dev/null)" sh -c 's3cmd -c "$0" get --force "s3://$1" - >/dev/null' "$S3CMD_CFG" "$BUCKET/$obj"
	done
	# The stock tools restore it to the same rows.
	"${src[@]}" -e "DROP DATABASE IF EXISTS s3it_bench_check; CREATE DATABASE s3it_bench_check"
	s3cmd -c "$S3CMD_CFG" get "s3://$BUCKET/$obj" - 2>/dev/null | zstd -dc |
		sed "s/\`$db\`/\`s3it_bench_check\`/g" | "${src[@]}" --binary-mode
	for i in $(seq 1 "$tables"); do
		[ "$("${src[@]}" -N -e "CHECKSUM TABLE $db.sbtest$i" | cut -f2)" = "$("${src[@]}" -N -e "CHECKSUM TABLE s3it_bench_check.sbtest$i" | cut -f2)" ] || {
			echo "sbtest$i: CHECKSUM TABLE differs after s3cmd get | zstd -dc | mariadb" >&2
			exit 1
		}
	done
	echo "the dump, fetched with s3cmd and loaded with zstd -dc | mariadb, has the same CHECKSUM TABLEs"
	"${src[@]}" -e "DROP DATABASE s3it_bench_check"
	if [ "${KEEP_DB:-1}" = 0 ]; then "${src[@]}" -e "DROP DATABASE $db"; fi
}

echo
echo "S3 at $ENDPOINT, $SIZE_MB MiB ($BYTES bytes), parts of $PART_MB MiB, $(nproc) CPUs"
echo
echo "| client                                   |  wall s |     MB/s | RSS MiB |"
echo "|------------------------------------------|--------:|---------:|--------:|"
for i in $(seq 1 "$RUNS"); do
	# ops reads a pipe, as a backup streams its dump
	run "ops put (pipe, $CONCURRENCY parts in flight)" sh -c '"$@" -name ops.bin - <"$0"' "$DATA" "${S3PUT[@]}"
	got=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' "$WORK/out.txt")
	[ "$got" = "$SHA" ] || {
		echo "s3put: sha256 $got, want $SHA" >&2
		exit 1
	}
	run "s3cmd put --multipart-chunk-size-mb=$PART_MB" \
		s3cmd -c "$S3CMD_CFG" put --multipart-chunk-size-mb="$PART_MB" "$DATA" "s3://$BUCKET/cli.bin"
	run "ops get (to /dev/null)" sh -c '"$@" -get -name ops.bin >/dev/null' _ "${S3PUT[@]}"
	run "s3cmd get (to /dev/null)" sh -c 's3cmd -c "$0" get --force "s3://$1/cli.bin" - >/dev/null' "$S3CMD_CFG" "$BUCKET"
done

if [ -n "${BACKUP:-}" ]; then
	bench_backup
fi

# Both objects read back identical to the source.
got=$("${S3PUT[@]}" -get -name ops.bin 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$SHA" ] || { echo "ops.bin: sha256 $got, want $SHA" >&2; exit 1; }
got=$(s3cmd -c "$S3CMD_CFG" get "s3://$BUCKET/cli.bin" - 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$SHA" ] || { echo "cli.bin: sha256 $got, want $SHA" >&2; exit 1; }
echo
echo "both objects read back with sha256 $SHA"
