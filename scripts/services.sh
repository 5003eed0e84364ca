#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# services.sh: install and run the loopback services the integration tests use, on Debian 12 without
# systemd (facts and pitfalls: shared/docs/services.md). Idempotent; needs root for start/stop.
#
# Usage:
#   scripts/services.sh start   [SERVICE...]   install what is missing (apt), start what is not running
#   scripts/services.sh stop    [SERVICE...]   stop what this script started
#   scripts/services.sh restart [SERVICE...]
#   scripts/services.sh status  [SERVICE...]   exit 0 when all are up, 3 otherwise
#   scripts/services.sh install [SERVICE...]   packages only
#   scripts/services.sh env                    print the exports below; use: eval "$(scripts/services.sh env)"
# SERVICE: mariadb mariadb2 mariadb3 swift s3 postfix sendmail dane libvirt nftables chromium, or all (the default).
# Exit status: 0 ok, 1 a service failed (the message says which and why), 2 usage error, 3 status: down.
#
# Services (every TCP listener is on loopback; the only other sockets are Swift's unconnected UDP
# client sockets for its syslog fallback to 127.0.0.1:514, which ss shows as 0.0.0.0:<ephemeral>):
#   mariadb   packaged MariaDB, 127.0.0.1:3306 (+ ::1), socket /run/mysqld/mysqld.sock. A server that is
#             already running is left alone and is never stopped unless this script started it. The
#             grants of services.md §1 are applied when missing (root@127.0.0.1 with an empty password,
#             tester/testpw, database testdb). Also installs mariadb-client, mariadb-backup (and its mbstream), zstd, age, mydumper.
#   mariadb2  throw-away instance: datadir $OPS_SVC_DIR/mariadb2/data, 127.0.0.1:3307, root with an empty
#             password; the restore target. Delete the datadir (while stopped) for a fresh one. A server
#             already answering on 3307 is left alone, as for mariadb. TLS on (plaintext still allowed):
#             the PKI's server certificate (CN=localhost, SANs localhost 127.0.0.1 ::1), ssl_ca = the
#             test CA; accounts ops_tls (REQUIRE SSL) and ops_x509 (REQUIRE X509), empty passwords; a
#             client certificate pki/mysql-client.{crt,key} (CN=ops-test-client). One started by an
#             older services.sh without TLS is restarted; a renewed certificate is loaded by FLUSH SSL.
#   mariadb3  throw-away instance with the binary log on (point-in-time recovery tests): datadir
#             $OPS_SVC_DIR/mariadb3/data, 127.0.0.1:3308, root with an empty password, log_bin=binlog,
#             binlog_format=ROW (OPS_SVC_MARIADB3_BINLOG_FORMAT=MIXED|STATEMENT at its first start),
#             server_id=3308; accounts ops_binlog (REPLICATION SLAVE, BINLOG MONITOR; empty password)
#             and ops_norepl (no REPLICATION SLAVE). A server already answering on 3308 is left alone.
#   swift     Swift all-in-one with tempauth (test:tester/testing), memcached 127.0.0.1:11211, proxy :8080,
#             object/container/account :6200/:6201/:6202, 1 replica, workers = 0. Rewrites /etc/swift.
#   s3        Swift's S3 API (s3api before tempauth) on a second proxy, 127.0.0.1:8081, over swift's servers
#             (started when missing); access key test:tester, secret testing, region us-east-1, path style,
#             SigV4. The :8080 proxy is not touched. Installs s3cmd. Details: scripts/svc/s3.sh.
#   postfix   packaged Postfix on 127.0.0.1:2525 only, STARTTLS with the test PKI (edits /etc/postfix).
#   sendmail  sendmail 8.17 unpacked under $OPS_SVC_DIR/sendmail (not installed: that would remove
#             Postfix), daemon on 127.0.0.1:2526 with STARTTLS, in a private UTS namespace. Local mail
#             is accepted and thrown away. It logs only to syslog, which this machine does not have.
#   dane      DANE test bed (services.md §7): knot, authoritative and signing, on 127.0.0.1:5353 and
#             unbound, validating, on 127.0.0.1:5300; zones dane.test (signed, trusted: AD),
#             plain.test (unsigned), bogus.test (wrong trust anchor) and badsig.test (an altered RRSIG
#             over its TLSA records), each with mx1 A 127.0.0.1 and TLSA 3 1 1 for the PKI's server key
#             at _25._tcp.mx1 and _2525._tcp.mx1. Details: scripts/svc/dane.sh.
#   libvirt   libvirtd without hypervisor drivers; test driver as test+unix:///default, unix socket only.
#   nftables  the nft tool; nothing to start.
#   chromium  Debian's chromium (headless), for the inventory HTML and ops serve status page tests; nothing to start.
#
# Input environment:
#   OPS_SVC_DIR   state directory (default /var/lib/ops-test; absolute, not under /tmp, no world-writable
#                 directory on its path). Logs: $OPS_SVC_DIR/log/*.log, pids: $OPS_SVC_DIR/run/*.pid.
#   OPS_PKI_DIR   test PKI directory (default $OPS_SVC_DIR/pki); see scripts/pki.sh.
#
# Variables printed by `services.sh env` (values are fixed; with OPS_IT=1 a test fails, never skips, when a service
# does not answer):
#   OPS_SVC_DIR               the state directory in use
#   OPS_IT_MYSQL_DSN          root:@tcp(127.0.0.1:3306)/  (go-sql-driver DSN, root with an empty password)
#   OPS_IT_MYSQL_ADDR         127.0.0.1:3306
#   OPS_IT_MYSQL_SOCKET       /run/mysqld/mysqld.sock
#   OPS_IT_MYSQL_TESTER_DSN   tester:testpw@tcp(127.0.0.1:3306)/testdb  (a non-root user with a password)
#   OPS_IT_MYSQL2_DSN         root:@tcp(127.0.0.1:3307)/  (mariadb2, the restore target)
#   OPS_IT_MYSQL2_ADDR        127.0.0.1:3307
#   OPS_IT_MYSQL2_SOCKET      $OPS_SVC_DIR/mariadb2/mysqld.sock
#   OPS_IT_MYSQL2_CA          $OPS_SVC_DIR/pki/ca.crt  (verifies mariadb2's certificate)
#   OPS_IT_MYSQL2_CLIENT_CERT $OPS_SVC_DIR/pki/mysql-client.crt  (for ops_x509; key 0600, root only)
#   OPS_IT_MYSQL2_CLIENT_KEY  $OPS_SVC_DIR/pki/mysql-client.key
#   OPS_IT_MYSQL3_DSN         root:@tcp(127.0.0.1:3308)/  (mariadb3, binary log on)
#   OPS_IT_MYSQL3_ADDR        127.0.0.1:3308
#   OPS_IT_MYSQL3_SOCKET      $OPS_SVC_DIR/mariadb3/mysqld.sock
#   OPS_IT_MYSQL3_DATADIR     $OPS_SVC_DIR/mariadb3/data  (the binlog files are there)
#   OPS_IT_SWIFT_AUTH         http://127.0.0.1:8080/auth/v1.0  (tempauth, auth v1)
#   OPS_IT_SWIFT_USER         test:tester
#   OPS_IT_SWIFT_KEY_FILE     $OPS_SVC_DIR/swift/tester.key  (0600, holds "testing", no newline)
#   OPS_IT_S3_ENDPOINT        http://127.0.0.1:8081  (path style; region us-east-1)
#   OPS_IT_S3_ACCESS_KEY      test:tester
#   OPS_IT_S3_SECRET_FILE     $OPS_SVC_DIR/s3/secret  (0600, holds "testing", no newline)
#   OPS_IT_S3CMD_CFG          $OPS_SVC_DIR/s3/s3cmd.cfg  (s3cmd -c FILE ...; 0600, root only)
#   OPS_IT_SMTP_ADDR          127.0.0.1:2525  (Postfix, STARTTLS; certificate CN=localhost, SANs
#                             DNS:localhost IP:127.0.0.1 IP:::1, served with the CA in the chain)
#   OPS_IT_SMTP_CA            $OPS_SVC_DIR/pki/ca.crt  (CN=Test Root CA; key ca.key next to it)
#   OPS_IT_PKI_DIR            $OPS_SVC_DIR/pki  (scripts/pki.sh issue NAME CN [SAN...] adds certificates)
#   OPS_IT_SENDMAIL           $OPS_SVC_DIR/sendmail/bin/sendmail: wrapper running the extracted sendmail
#                             with a dotted host name (root only; same arguments as sendmail)
#   OPS_IT_SENDMAIL_BIN       the extracted sendmail binary itself
#   OPS_IT_SENDMAIL_CF_DIR    its m4 directory: m4 -D_CF_DIR_=DIR/ DIR/m4/cf.m4 X.mc > X.cf
#   OPS_IT_SENDMAIL_MAKEMAP   the extracted makemap (give it -C YOUR.cf, see services.md §3d)
#   OPS_IT_SENDMAIL_ADDR      127.0.0.1:2526  (the sendmail daemon, STARTTLS, same certificate)
#   OPS_IT_DANE_RESOLVER      127.0.0.1:5300  (unbound: validating; sets AD on dane.test answers)
#   OPS_IT_DANE_KNOT_CONF     $OPS_SVC_DIR/dane/knot/knot.conf  (knotc -c FILE zone-begin/zone-set/zone-commit)
#   OPS_IT_LIBVIRT_SOCK       /run/libvirt/libvirt-sock
#   OPS_IT_LIBVIRT_URI        test:///default  (the URI to open over that socket; virsh: test+unix:///default)

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"
# shellcheck source=pki.sh
. "$SCRIPT_DIR/pki.sh"
# shellcheck source=svc/mariadb.sh
. "$SCRIPT_DIR/svc/mariadb.sh"
# shellcheck source=svc/swift.sh
. "$SCRIPT_DIR/svc/swift.sh"
# shellcheck source=svc/s3.sh
. "$SCRIPT_DIR/svc/s3.sh"
# shellcheck source=svc/smtp.sh
. "$SCRIPT_DIR/svc/smtp.sh"
# shellcheck source=svc/dane.sh
. "$SCRIPT_DIR/svc/dane.sh"
# shellcheck source=svc/misc.sh
. "$SCRIPT_DIR/svc/misc.sh"

ALL_SERVICES=(mariadb mariadb2 mariadb3 swift s3 postfix sendmail dane libvirt nftables chromium)

usage() {
	echo "usage: $0 {start|stop|restart|status|install|env} [mariadb|mariadb2|mariadb3|swift|s3|postfix|sendmail|dane|libvirt|nftables|chromium|all]..." >&2
	exit 2
}

print_env() {
	local pki sm
	pki=$(pki_dir)
	sm=$OPS_SVC_DIR/sendmail
	# write the key file when we can; tests read it
	if [ "$(id -u)" = 0 ] && [ -d "$OPS_SVC_DIR" ]; then
		swift_write_keyfile
		s3_write_files
	fi
	while IFS='=' read -r k v; do
		printf "export %s='%s'\n" "$k" "$v"
	done <<EOF
OPS_SVC_DIR=$OPS_SVC_DIR
OPS_IT_MYSQL_DSN=root:@tcp(127.0.0.1:3306)/
OPS_IT_MYSQL_ADDR=127.0.0.1:3306
OPS_IT_MYSQL_SOCKET=$MYSQL_SOCK
OPS_IT_MYSQL_TESTER_DSN=tester:testpw@tcp(127.0.0.1:3306)/testdb
OPS_IT_MYSQL2_DSN=root:@tcp(127.0.0.1:$MARIADB2_PORT)/
OPS_IT_MYSQL2_ADDR=127.0.0.1:$MARIADB2_PORT
OPS_IT_MYSQL2_SOCKET=$MARIADB2_SOCK
OPS_IT_MYSQL2_CA=$pki/ca.crt
OPS_IT_MYSQL2_CLIENT_CERT=$pki/mysql-client.crt
OPS_IT_MYSQL2_CLIENT_KEY=$pki/mysql-client.key
OPS_IT_MYSQL3_DSN=root:@tcp(127.0.0.1:$MARIADB3_PORT)/
OPS_IT_MYSQL3_ADDR=127.0.0.1:$MARIADB3_PORT
OPS_IT_MYSQL3_SOCKET=$MARIADB3_SOCK
OPS_IT_MYSQL3_DATADIR=$MARIADB3_DIR/data
OPS_IT_SWIFT_AUTH=$SWIFT_AUTH_URL
OPS_IT_SWIFT_USER=test:tester
OPS_IT_SWIFT_KEY_FILE=$SWIFT_KEY_FILE
OPS_IT_S3_ENDPOINT=$S3_ENDPOINT
OPS_IT_S3_ACCESS_KEY=test:tester
OPS_IT_S3_SECRET_FILE=$S3_SECRET_FILE
OPS_IT_S3CMD_CFG=$S3CMD_CFG
OPS_IT_SMTP_ADDR=127.0.0.1:2525
OPS_IT_SMTP_CA=$pki/ca.crt
OPS_IT_PKI_DIR=$pki
OPS_IT_SENDMAIL=$sm/bin/sendmail
OPS_IT_SENDMAIL_BIN=$SENDMAIL_BIN
OPS_IT_SENDMAIL_CF_DIR=$SENDMAIL_CF_DIR
OPS_IT_SENDMAIL_MAKEMAP=$SENDMAIL_ROOT/usr/libexec/sendmail/makemap
OPS_IT_SENDMAIL_ADDR=127.0.0.1:2526
OPS_IT_DANE_RESOLVER=127.0.0.1:$UNBOUND_PORT
OPS_IT_DANE_KNOT_CONF=$KNOT_CONF
OPS_IT_LIBVIRT_SOCK=$LIBVIRT_SOCK
OPS_IT_LIBVIRT_URI=test:///default
EOF
}

# install_services SERVICE...: one apt transaction for every missing package, then per-service preparation.
install_services() {
	local s p pkgs=()
	for s in "$@"; do
		SVC=$s
		if declare -F "svc_${s}_preinstall" >/dev/null; then "svc_${s}_preinstall"; fi
		for p in $("svc_${s}_pkgs"); do
			case " ${pkgs[*]} " in *" $p "*) ;; *) pkgs+=("$p") ;; esac
		done
	done
	SVC=apt
	apt_ensure "${pkgs[@]}"
	for s in "$@"; do
		SVC=$s
		if declare -F "svc_${s}_prepare" >/dev/null; then "svc_${s}_prepare"; fi
	done
	SVC=services
}

# run_each ACTION SERVICE...: run svc_SERVICE_ACTION in a subshell for each; go on after a failure.
run_each() {
	local action=$1 s rc worst=0 failed=()
	shift
	for s in "$@"; do
		set +e
		(
			set -e
			SVC=$s
			"svc_${s}_${action}"
		)
		rc=$?
		set -e
		if [ "$rc" != 0 ]; then
			failed+=("$s")
			[ "$rc" -gt "$worst" ] && worst=$rc
		fi
	done
	if [ ${#failed[@]} -gt 0 ]; then
		if [ "$action" = status ]; then
			return "$worst"
		fi
		echo "services.sh: $action failed for: ${failed[*]}" >&2
		return 1
	fi
}

main() {
	[ $# -ge 1 ] || usage
	local cmd=$1 s t0 rc=0 services=() reversed=() i
	shift
	case $cmd in
	-h | --help | help)
		sed -n '3,/^$/p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	env)
		[ $# -eq 0 ] || usage
		print_env
		return 0
		;;
	start | stop | restart | status | install) ;;
	*) usage ;;
	esac
	if [ $# -eq 0 ]; then set -- all; fi
	for s in "$@"; do
		case " all ${ALL_SERVICES[*]} " in
		*" $s "*) ;;
		*)
			echo "services.sh: unknown service '$s' (known: ${ALL_SERVICES[*]} all)" >&2
			exit 2
			;;
		esac
		if [ "$s" = all ]; then
			services=("${ALL_SERVICES[@]}")
			break
		fi
		case " ${services[*]} " in *" $s "*) ;; *) services+=("$s") ;; esac
	done
	for ((i = ${#services[@]} - 1; i >= 0; i--)); do reversed+=("${services[i]}"); done

	if [ "$cmd" = status ]; then
		run_each status "${services[@]}" || rc=$?
		return "$rc"
	fi

	ensure_state_dir
	# one start/stop at a time (fd 9 is closed in every daemon started, see start_bg)
	exec 9>"$RUN_DIR/services.lock"
	if ! flock -n 9; then
		echo "services.sh: waiting for another services.sh run to finish ($RUN_DIR/services.lock)" >&2
		flock -w 600 9 || die "another services.sh still holds $RUN_DIR/services.lock after 600 s"
	fi
	t0=$(now_ms)
	case $cmd in
	install)
		install_services "${services[@]}"
		;;
	start)
		install_services "${services[@]}"
		run_each start "${services[@]}" || rc=$?
		;;
	stop)
		run_each stop "${reversed[@]}" || rc=$?
		;;
	restart)
		run_each stop "${reversed[@]}" || rc=$?
		install_services "${services[@]}"
		run_each start "${services[@]}" || rc=$?
		;;
	esac
	if [ ${#services[@]} -gt 1 ]; then
		local verdict="done"
		[ "$rc" = 0 ] || verdict=FAILED
		echo "services.sh $cmd: $verdict in $(elapsed_since "$t0")"
	fi
	return "$rc"
}

main "$@"
