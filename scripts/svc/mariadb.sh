# shellcheck shell=bash
# mariadb: the packaged MariaDB on 127.0.0.1:3306 (+ ::1), socket /run/mysqld/mysqld.sock.
# A server that is already running is left alone (it is never stopped unless this script started it);
# in every case the root-over-TCP grants of services.md §1 are applied when they are missing.
# mariadb2: an isolated throw-away instance on 127.0.0.1:3307, datadir under $OPS_SVC_DIR/mariadb2.

MYSQL_SOCK=/run/mysqld/mysqld.sock
MARIADB2_DIR=$OPS_SVC_DIR/mariadb2
MARIADB2_SOCK=$MARIADB2_DIR/mysqld.sock
MARIADB2_PORT=3307

svc_mariadb_pkgs() { echo mariadb-server mariadb-client zstd mydumper; }
svc_mariadb2_pkgs() { echo mariadb-server mariadb-client; }

_mariadb_ping() { # SOCKET
	mariadb-admin --no-defaults --connect-timeout=2 -S "$1" -uroot ping
}

# a log file that mariadbd (running as mysql) can open
_mariadb_logfile() {
	touch "$1" && chown mysql:mysql "$1" && chmod 0640 "$1"
}

_mariadb_grants_ok() {
	local c=(mariadb --no-defaults --connect-timeout=5 -h 127.0.0.1 -P 3306)
	"${c[@]}" -uroot -e 'select 1' >/dev/null 2>&1 &&
		"${c[@]}" -utester -ptestpw -e 'use testdb' >/dev/null 2>&1
}

# services.md §1: root@127.0.0.1 with an empty password, user tester/testpw, database testdb.
_mariadb_grants() {
	_mariadb_grants_ok && return 0
	if ! mariadb --no-defaults --connect-timeout=5 -S "$MYSQL_SOCK" -uroot \
		>>"$LOG_DIR/mariadb-grants.log" 2>&1 <<'SQL'; then
ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'tester'@'%' IDENTIFIED BY 'testpw';
ALTER USER 'tester'@'%' IDENTIFIED BY 'testpw';
GRANT ALL ON *.* TO 'tester'@'%';
CREATE DATABASE IF NOT EXISTS testdb;
FLUSH PRIVILEGES;
SQL
		tail -n 5 "$LOG_DIR/mariadb-grants.log" >&2
		die "applying the grants as root over $MYSQL_SOCK failed"
	fi
	_mariadb_grants_ok || die "grants applied but root@127.0.0.1 (empty password) or tester@127.0.0.1 still cannot log in"
	GRANTS_APPLIED=1
}

svc_mariadb_start() {
	local t0 binds=127.0.0.1 note=
	GRANTS_APPLIED=0
	if _mariadb_ping "$MYSQL_SOCK" >/dev/null 2>&1; then
		_mariadb_grants
		[ "$GRANTS_APPLIED" = 1 ] && note=" (grants applied)"
		echo "mariadb: already running$note"
		return 0
	fi
	port_open 3306 && die "127.0.0.1:3306 is in use, but nothing answers on $MYSQL_SOCK"
	t0=$(now_ms)
	[ -d /var/lib/mysql/mysql ] || die "/var/lib/mysql has no system tables (mariadb-server's postinst should have made them)"
	install -d -o mysql -g mysql -m 0755 /run/mysqld
	_mariadb_logfile "$LOG_DIR/mariadb.log"
	if grep -qs ' lo$' /proc/net/if_inet6; then binds=127.0.0.1,::1; fi
	start_bg mariadb /usr/sbin/mariadbd --user=mysql --bind-address="$binds" --port=3306 \
		--socket="$MYSQL_SOCK" --log-error="$LOG_DIR/mariadb.log"
	wait_until -w mariadb mariadb 60 _mariadb_ping "$MYSQL_SOCK" || die "mariadbd did not come up"
	_mariadb_grants
	echo "mariadb: started in $(elapsed_since "$t0")"
}

svc_mariadb_stop() {
	local t0
	if is_running mariadb; then
		t0=$(now_ms)
		stop_pid mariadb 60 || die "mariadbd did not stop"
		echo "mariadb: stopped in $(elapsed_since "$t0")"
	elif _mariadb_ping "$MYSQL_SOCK" >/dev/null 2>&1; then
		echo "mariadb: running, not started by services.sh: left alone"
	else
		echo "mariadb: not running"
	fi
}

svc_mariadb_status() {
	if ! _mariadb_ping "$MYSQL_SOCK" >/dev/null 2>&1; then
		echo "mariadb: stopped"
		return 3
	fi
	local who="started elsewhere"
	is_running mariadb && who="pid $(running_pid mariadb)"
	if _mariadb_grants_ok; then
		echo "mariadb: running ($who; root@127.0.0.1:3306 ok)"
	else
		echo "mariadb: running ($who; root/tester over TCP NOT ok: run start)"
		return 3
	fi
}

# ---------------------------------------------------------------------------------------------
# mariadb2

_mariadb2_tcp_ok() {
	mariadb --no-defaults --connect-timeout=2 -h 127.0.0.1 -P "$MARIADB2_PORT" -uroot -e 'select 1'
}

svc_mariadb2_start() {
	local t0 data=$MARIADB2_DIR/data
	if _mariadb2_tcp_ok >/dev/null 2>&1; then
		if is_running mariadb2; then
			echo "mariadb2: already running"
		else
			echo "mariadb2: already running (a server not started by services.sh answers on 127.0.0.1:$MARIADB2_PORT; left alone)"
		fi
		return 0
	fi
	stop_pid mariadb2 30 || die "a previous mariadb2 (pid $(running_pid mariadb2)) would not stop"
	port_open "$MARIADB2_PORT" && die "127.0.0.1:$MARIADB2_PORT is in use by another process"
	t0=$(now_ms)
	install -d -o mysql -g mysql -m 0755 "$MARIADB2_DIR"
	if [ ! -d "$data/mysql" ]; then
		rm -rf "$data"
		mariadb-install-db --no-defaults --user=mysql --datadir="$data" \
			--auth-root-authentication-method=normal --skip-test-db \
			--innodb-log-file-size=16M >>"$LOG_DIR/mariadb2-install.log" 2>&1 || {
			tail -n 15 "$LOG_DIR/mariadb2-install.log" >&2
			rm -rf "$data"
			die "mariadb-install-db failed"
		}
	fi
	_mariadb_logfile "$LOG_DIR/mariadb2.log"
	start_bg mariadb2 /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$data" \
		--socket="$MARIADB2_SOCK" --port="$MARIADB2_PORT" --bind-address=127.0.0.1 \
		--pid-file="$MARIADB2_DIR/mysqld.pid" --log-error="$LOG_DIR/mariadb2.log" \
		--innodb-buffer-pool-size=64M --innodb-log-file-size=16M
	wait_until -w mariadb2 mariadb2 60 _mariadb2_tcp_ok || die "mariadbd (3307) did not come up"
	echo "mariadb2: started in $(elapsed_since "$t0")"
}

svc_mariadb2_stop() {
	local t0
	if is_running mariadb2; then
		t0=$(now_ms)
		stop_pid mariadb2 60 || die "mariadbd (3307) did not stop"
		echo "mariadb2: stopped in $(elapsed_since "$t0")"
	elif _mariadb2_tcp_ok >/dev/null 2>&1; then
		rm -f "$RUN_DIR/mariadb2.pid"
		echo "mariadb2: running, not started by services.sh: left alone"
	else
		rm -f "$RUN_DIR/mariadb2.pid"
		echo "mariadb2: not running"
	fi
}

svc_mariadb2_status() {
	if _mariadb2_tcp_ok >/dev/null 2>&1; then
		local who="started elsewhere"
		is_running mariadb2 && who="pid $(running_pid mariadb2)"
		echo "mariadb2: running ($who; root@127.0.0.1:$MARIADB2_PORT ok)"
	elif is_running mariadb2; then
		echo "mariadb2: process up (pid $(running_pid mariadb2)) but 127.0.0.1:$MARIADB2_PORT does not answer"
		return 3
	else
		echo "mariadb2: stopped"
		return 3
	fi
}
