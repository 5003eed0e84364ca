# shellcheck shell=bash
# mariadb: the packaged MariaDB on 127.0.0.1:3306 (+ ::1), socket /run/mysqld/mysqld.sock.
# A server that is already running is left alone (it is never stopped unless this script started it);
# in every case the root-over-TCP grants of services.md §1 are applied when they are missing.
# mariadb2: an isolated throw-away instance on 127.0.0.1:3307, datadir under $OPS_SVC_DIR/mariadb2,
# with TLS from the test PKI (server certificate CN=localhost, SANs localhost 127.0.0.1 ::1) and two
# TLS-only accounts; a client certificate for them is issued into the PKI directory.
# mariadb3: an isolated throw-away instance on 127.0.0.1:3308 with the binary log on (the
# point-in-time recovery test bed): log_bin, binlog_format (ROW unless OPS_SVC_MARIADB3_BINLOG_FORMAT),
# server_id 3308, datadir under $OPS_SVC_DIR/mariadb3; replication accounts for the archiver.

MYSQL_SOCK=/run/mysqld/mysqld.sock
MARIADB2_DIR=$OPS_SVC_DIR/mariadb2
MARIADB2_SOCK=$MARIADB2_DIR/mysqld.sock
MARIADB2_PORT=3307
MARIADB2_TLS_DIR=$MARIADB2_DIR/tls
MARIADB3_DIR=$OPS_SVC_DIR/mariadb3
MARIADB3_SOCK=$MARIADB3_DIR/mysqld.sock
MARIADB3_PORT=3308
MARIADB3_SERVER_ID=3308

svc_mariadb_pkgs() { echo mariadb-server mariadb-client mariadb-backup zstd age mydumper; }
svc_mariadb2_pkgs() { echo mariadb-server mariadb-client openssl; }
svc_mariadb3_pkgs() { echo mariadb-server mariadb-client; }

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

# the PKI is checked once per run, in the parent shell (the start functions run in subshells)
svc_mariadb2_prepare() {
	[ "${PKI_READY:-0}" = 1 ] && return 0
	pki_init || die "creating the test PKI failed"
	PKI_READY=1
}

# _mariadb2_tls_files: the server certificate, key and CA copied where mariadbd (user mysql) can read
# them, and the client certificate mysql-client.{crt,key} (CN=ops-test-client) in the PKI directory.
# Sets TLS_FILES_CHANGED=1 when a server file was (re)written.
_mariadb2_tls_files() {
	local pki f
	[ "${PKI_READY:-0}" = 1 ] || pki_init || die "creating the test PKI failed"
	pki=$(pki_dir)
	if ! _pki_valid "$pki/mysql-client.crt" "$pki/ca.crt" || [ ! -s "$pki/mysql-client.key" ]; then
		pki_issue mysql-client ops-test-client DNS:ops-test-client --client || die "issuing the MySQL client certificate failed"
	fi
	TLS_FILES_CHANGED=0
	install -d -o mysql -g mysql -m 0750 "$MARIADB2_TLS_DIR"
	for f in server.crt server.key ca.crt; do
		write_file "$MARIADB2_TLS_DIR/$f" 0600 mysql:mysql <"$pki/$f"
		[ "$FILE_CHANGED" = 1 ] && TLS_FILES_CHANGED=1
		FILE_CHANGED=0
	done
	return 0
}

# _mariadb2_tls_on: the running server has TLS with our certificate files.
_mariadb2_tls_on() {
	local out
	out=$(mariadb --no-defaults --connect-timeout=2 -h 127.0.0.1 -P "$MARIADB2_PORT" -uroot -N -B \
		-e 'SELECT @@have_ssl, @@ssl_cert') || return 1
	[ "$out" = "YES	$MARIADB2_TLS_DIR/server.crt" ]
}

# TLS-only accounts (empty passwords, like root): ops_tls REQUIRE SSL, ops_x509 REQUIRE X509 (the
# client certificate above). A global require_secure_transport would break the plaintext tests.
_mariadb2_accounts() {
	mariadb --no-defaults --connect-timeout=5 -h 127.0.0.1 -P "$MARIADB2_PORT" -uroot \
		>>"$LOG_DIR/mariadb2-grants.log" 2>&1 <<'SQL' || die "creating the TLS accounts on 3307 failed (see $LOG_DIR/mariadb2-grants.log)"
CREATE USER IF NOT EXISTS 'ops_tls'@'%' IDENTIFIED BY '' REQUIRE SSL;
ALTER USER 'ops_tls'@'%' REQUIRE SSL;
GRANT ALL ON *.* TO 'ops_tls'@'%';
CREATE USER IF NOT EXISTS 'ops_x509'@'%' IDENTIFIED BY '' REQUIRE X509;
ALTER USER 'ops_x509'@'%' REQUIRE X509;
GRANT ALL ON *.* TO 'ops_x509'@'%';
SQL
}

svc_mariadb2_start() {
	local t0 data=$MARIADB2_DIR/data
	_mariadb2_tls_files
	if _mariadb2_tcp_ok >/dev/null 2>&1; then
		if ! is_running mariadb2; then
			if _mariadb2_tls_on; then
				_mariadb2_accounts
			else
				warn "a server not started by services.sh answers on 127.0.0.1:$MARIADB2_PORT without our TLS set-up; left alone (the TLS tests will fail: stop it and run start again)"
			fi
			echo "mariadb2: already running (a server not started by services.sh answers on 127.0.0.1:$MARIADB2_PORT; left alone)"
			return 0
		fi
		if _mariadb2_tls_on; then
			if [ "$TLS_FILES_CHANGED" = 1 ]; then
				mariadb --no-defaults --connect-timeout=5 -h 127.0.0.1 -P "$MARIADB2_PORT" -uroot -e 'FLUSH SSL' ||
					die "FLUSH SSL (reloading the renewed certificate) failed"
				_mariadb2_accounts
				echo "mariadb2: already running (certificate reloaded)"
				return 0
			fi
			_mariadb2_accounts
			echo "mariadb2: already running"
			return 0
		fi
		echo "mariadb2: running without TLS; restarting it to enable TLS"
	fi
	stop_pid mariadb2 60 || die "a previous mariadb2 (pid $(running_pid mariadb2)) would not stop"
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
		--innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
		--ssl-cert="$MARIADB2_TLS_DIR/server.crt" --ssl-key="$MARIADB2_TLS_DIR/server.key" \
		--ssl-ca="$MARIADB2_TLS_DIR/ca.crt"
	wait_until -w mariadb2 mariadb2 60 _mariadb2_tcp_ok || die "mariadbd (3307) did not come up"
	_mariadb2_tls_on || die "mariadbd (3307) is up but TLS is off (see $LOG_DIR/mariadb2.log)"
	_mariadb2_accounts
	echo "mariadb2: started in $(elapsed_since "$t0") (TLS on)"
}

# _mariadb_instance_stop NAME PORT OKFN stops a throw-away instance that
# services.sh started, and leaves one started elsewhere alone.
_mariadb_instance_stop() {
	local name=$1 port=$2 ok=$3 t0
	if is_running "$name"; then
		t0=$(now_ms)
		stop_pid "$name" 60 || die "mariadbd ($port) did not stop"
		echo "$name: stopped in $(elapsed_since "$t0")"
	elif "$ok" >/dev/null 2>&1; then
		rm -f "$RUN_DIR/$name.pid"
		echo "$name: running, not started by services.sh: left alone"
	else
		rm -f "$RUN_DIR/$name.pid"
		echo "$name: not running"
	fi
}

svc_mariadb2_stop() { _mariadb_instance_stop mariadb2 3307 _mariadb2_tcp_ok; }

svc_mariadb2_status() {
	if _mariadb2_tcp_ok >/dev/null 2>&1; then
		local who="started elsewhere"
		is_running mariadb2 && who="pid $(running_pid mariadb2)"
		local tls="TLS off: run start"
		_mariadb2_tls_on >/dev/null 2>&1 && tls="TLS on"
		echo "mariadb2: running ($who; root@127.0.0.1:$MARIADB2_PORT ok; $tls)"
	elif is_running mariadb2; then
		echo "mariadb2: process up (pid $(running_pid mariadb2)) but 127.0.0.1:$MARIADB2_PORT does not answer"
		return 3
	else
		echo "mariadb2: stopped"
		return 3
	fi
}

# ---------------------------------------------------------------------------------------------
# mariadb3

_mariadb3_sql() {
	mariadb --no-defaults --connect-timeout=2 -h 127.0.0.1 -P "$MARIADB3_PORT" -uroot "$@"
}

_mariadb3_tcp_ok() {
	_mariadb3_sql -e 'select 1'
}

# _mariadb3_binlog_on: the server answering on 3308 has the binary log on.
_mariadb3_binlog_on() {
	[ "$(_mariadb3_sql -N -B -e 'SELECT @@log_bin' 2>/dev/null)" = 1 ]
}

# Accounts (empty passwords, like root): ops_binlog has exactly what the archiver needs
# (REPLICATION SLAVE, BINLOG MONITOR, and SELECT/RELOAD for backups of the same server);
# ops_norepl lacks REPLICATION SLAVE, for the prerequisite checks.
_mariadb3_accounts() {
	_mariadb3_sql >>"$LOG_DIR/mariadb3-grants.log" 2>&1 <<'SQL' || die "creating the accounts on 3308 failed (see $LOG_DIR/mariadb3-grants.log)"
CREATE USER IF NOT EXISTS 'ops_binlog'@'%' IDENTIFIED BY '';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT, RELOAD, SHOW VIEW, EVENT, TRIGGER, LOCK TABLES ON *.* TO 'ops_binlog'@'%';
CREATE USER IF NOT EXISTS 'ops_norepl'@'%' IDENTIFIED BY '';
GRANT BINLOG MONITOR, SELECT ON *.* TO 'ops_norepl'@'%';
SQL
}

svc_mariadb3_start() {
	local t0 data=$MARIADB3_DIR/data format=${OPS_SVC_MARIADB3_BINLOG_FORMAT:-ROW}
	case $format in ROW | MIXED | STATEMENT) ;; *) die "OPS_SVC_MARIADB3_BINLOG_FORMAT=$format: expected ROW, MIXED or STATEMENT" ;; esac
	if _mariadb3_tcp_ok >/dev/null 2>&1; then
		if ! _mariadb3_binlog_on; then
			warn "a server answering on 127.0.0.1:$MARIADB3_PORT has no binary log; left alone (the binlog tests will fail: stop it and run start again)"
			return 0
		fi
		_mariadb3_accounts
		if is_running mariadb3; then
			echo "mariadb3: already running"
		else
			echo "mariadb3: already running (a server not started by services.sh answers on 127.0.0.1:$MARIADB3_PORT; left alone)"
		fi
		return 0
	fi
	stop_pid mariadb3 60 || die "a previous mariadb3 (pid $(running_pid mariadb3)) would not stop"
	port_open "$MARIADB3_PORT" && die "127.0.0.1:$MARIADB3_PORT is in use by another process"
	t0=$(now_ms)
	install -d -o mysql -g mysql -m 0755 "$MARIADB3_DIR"
	if [ ! -d "$data/mysql" ]; then
		rm -rf "$data"
		mariadb-install-db --no-defaults --user=mysql --datadir="$data" \
			--auth-root-authentication-method=normal --skip-test-db \
			--innodb-log-file-size=16M >>"$LOG_DIR/mariadb3-install.log" 2>&1 || {
			tail -n 15 "$LOG_DIR/mariadb3-install.log" >&2
			rm -rf "$data"
			die "mariadb-install-db failed"
		}
	fi
	_mariadb_logfile "$LOG_DIR/mariadb3.log"
	start_bg mariadb3 /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$data" \
		--socket="$MARIADB3_SOCK" --port="$MARIADB3_PORT" --bind-address=127.0.0.1 \
		--pid-file="$MARIADB3_DIR/mysqld.pid" --log-error="$LOG_DIR/mariadb3.log" \
		--innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
		--log-bin=binlog --binlog-format="$format" --server-id="$MARIADB3_SERVER_ID" \
		--max-binlog-size=64M --expire-logs-days=0
	wait_until -w mariadb3 mariadb3 60 _mariadb3_tcp_ok || die "mariadbd (3308) did not come up"
	_mariadb3_binlog_on || die "mariadbd (3308) is up but log_bin is off (see $LOG_DIR/mariadb3.log)"
	_mariadb3_accounts
	echo "mariadb3: started in $(elapsed_since "$t0") (binlog on, $format)"
}

svc_mariadb3_stop() { _mariadb_instance_stop mariadb3 3308 _mariadb3_tcp_ok; }

svc_mariadb3_status() {
	if _mariadb3_tcp_ok >/dev/null 2>&1; then
		local who="started elsewhere" binlog="binlog OFF: stop it and run start"
		is_running mariadb3 && who="pid $(running_pid mariadb3)"
		_mariadb3_binlog_on && binlog="binlog on, $(_mariadb3_sql -N -B -e 'SELECT @@binlog_format')"
		echo "mariadb3: running ($who; root@127.0.0.1:$MARIADB3_PORT ok; $binlog)"
		_mariadb3_binlog_on || return 3
	elif is_running mariadb3; then
		echo "mariadb3: process up (pid $(running_pid mariadb3)) but 127.0.0.1:$MARIADB3_PORT does not answer"
		return 3
	else
		echo "mariadb3: stopped"
		return 3
	fi
}
