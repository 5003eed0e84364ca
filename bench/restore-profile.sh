#!/usr/bin/env bash
# Where the time of a backup and a restore goes: a CPU profile of ops
# (OPS_CPUPROFILE) and a perf profile of the MariaDB server during each,
# summarised as the shares of the functions that matter. Not a test: run
# it by hand, after bench/backup.sh has generated its data (KEEP=1).
#
#   bench/restore-profile.sh                  # ops built from this tree
#   BIN=/tmp/ops-old bench/restore-profile.sh # another build, to compare
#
# Source: the MariaDB on SOCKET, database DB (default ops_bench); target:
# 127.0.0.1:TARGET_PORT (default 3307). Needs perf (apt-get install linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
SOCKET=${SOCKET:-/run/mysqld/mysqld.sock}
DB=${DB:-ops_bench}
TARGET_PORT=${TARGET_PORT:-3307}
WORK=$(mktemp -d /tmp/ops-profile.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
command -v perf >/dev/null || apt-get install -y linux-perf >/dev/null
BIN=${BIN:-}
if [ -z "$BIN" ]; then
	go build -o "$WORK/ops" ./cmd/ops
	BIN=$WORK/ops
fi
cat >"$WORK/ops.yaml" <<YAML
storage: {targets: {local: {type: local, path: $WORK/backups}}}
backup:
  jobs:
    - {name: bench, mysql: {user: root}, databases: [$DB], threads: 2, compression: zstd}
YAML
pid_of_port() { ss -Hltnp "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }
src_pid=$(pid_of_port "${SOURCE_PORT:-3306}")
tgt_pid=$(pid_of_port "$TARGET_PORT")
[ -n "$src_pid" ] && [ -n "$tgt_pid" ] || { echo "no source or target mariadbd" >&2; exit 1; }

# profile NAME PID COMMAND: perf of the server PID and pprof of ops during COMMAND.
profile() {
	local name=$1 pid=$2 cmd=$3
	perf record -q -F 499 -g -p "$pid" -o "$WORK/$name.perf" >/dev/null 2>&1 &
	local perf_pid=$!
	sleep 0.5
	local t0 t1 c0 c1
	cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; } # utime + stime, in ticks
	c0=$(cpu) t0=$(date +%s.%N)
	OPS_CPUPROFILE="$WORK/$name.pprof" bash -c "$cmd" >/dev/null
	t1=$(date +%s.%N) c1=$(cpu)
	kill -INT "$perf_pid"
	wait "$perf_pid" 2>/dev/null || true
	echo
	echo "## $name: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s wall, server CPU $(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }') s"
	echo
	echo "ops, CPU by function (cumulative share of ops' samples):"
	go tool pprof -top -cum "$BIN" "$WORK/$name.pprof" 2>/dev/null |
		sed -n 's/^ *[0-9.]*m\?s *[0-9.]*% *[0-9.]*% *\([0-9.]*m\?s\) *\([0-9.]*%\) *\(.*\)$/\2 \1 \3/p' |
		grep -E 'opsteam|klauspost|sha256|go-sql-driver' | grep -v -E 'cmd/ops|\.func[0-9]|main\.' | head -12 | sed 's/^/  /'
	echo "ops, flat seconds by where the code is:"
	go tool pprof -top "$BIN" "$WORK/$name.pprof" 2>/dev/null | awk '
		/Total samples/ { t = $0; sub(/.*Total samples = /, "", t); sub(/ .*/, "", t) }
		$2 ~ /%$/ {
			v = $1; u = (v ~ /ms$/) ? 0.001 : 1; sub(/m?s$/, "", v); v *= u
			if ($6 ~ /opsteam/) own += v
			else if ($6 ~ /klauspost/) z += v
			else if ($6 ~ /sha256/) sha += v
			else if ($6 ~ /[Ss]yscall/) sys += v
		}
		END { printf "  all %s; own code %.2fs; zstd %.2fs; SHA-256 %.2fs; system calls %.2fs\n", t, own, z, sha, sys }'
	echo "server, inclusive share of its samples:"
	perf report -i "$WORK/$name.perf" --children --sort symbol --stdio -g none 2>/dev/null |
		grep -E '\] (mysql_insert|mysql_load|MYSQLparse|handler::ha_write_row|READ_INFO::read_field|THD::make_string_literal|fill_record|mysql_alter_table|mysql_execute_command|JOIN::exec|handler::ha_rnd_next|handler::ha_index_next|handler::ha_index_read_map|select_send::send_data|Protocol::send_result_set_row|net_real_write)\s' |
		awk '{ printf "  %s %s\n", $1, $4 }'
}

"$BIN" --config "$WORK/ops.yaml" --log-level warn backup run --job bench --no-prune >/dev/null # warm the source's buffer pool
profile backup "$src_pid" "$BIN --config $WORK/ops.yaml --log-level warn backup run --job bench --no-prune"
mysql --no-defaults -h 127.0.0.1 -P "$TARGET_PORT" -uroot -e "DROP DATABASE IF EXISTS \`$DB\`"
profile restore "$tgt_pid" "OPS_BACKUP_JOBS_BENCH_MYSQL_HOST=127.0.0.1 OPS_BACKUP_JOBS_BENCH_MYSQL_PORT=$TARGET_PORT $BIN --config $WORK/ops.yaml --log-level warn backup restore --job bench"
mysql --no-defaults -h 127.0.0.1 -P "$TARGET_PORT" -uroot -e "DROP DATABASE IF EXISTS \`$DB\`"
