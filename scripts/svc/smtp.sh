# shellcheck shell=bash
# postfix: the packaged Postfix, reconfigured to listen on 127.0.0.1:2525 only, STARTTLS with the test
#          PKI (services.md §3a). Note: this edits /etc/postfix/main.cf and master.cf of the host.
# sendmail: sendmail 8.17 extracted (apt-get download + dpkg-deb -x, so Postfix stays installed) under
#          $OPS_SVC_DIR/sendmail, daemon on 127.0.0.1:2526 with STARTTLS, run inside `unshare -u` with
#          a dotted host name (services.md §3b). $OPS_SVC_DIR/sendmail/bin/sendmail is a wrapper that
#          runs the extracted binary the same way, for tests.

SENDMAIL_DIR=$OPS_SVC_DIR/sendmail
SENDMAIL_ROOT=$SENDMAIL_DIR/root
SENDMAIL_BIN=$SENDMAIL_ROOT/usr/libexec/sendmail/sendmail
SENDMAIL_CF_DIR=$SENDMAIL_ROOT/usr/share/sendmail/cf
SENDMAIL_WRAPPER=$SENDMAIL_DIR/bin/sendmail
SENDMAIL_HOSTNAME=mta.localdomain

svc_postfix_pkgs() { echo postfix openssl; }
svc_sendmail_pkgs() { echo m4 openssl; }

# the PKI is checked once per run, in the parent shell (the start functions run in subshells)
svc_postfix_prepare() {
	[ "${PKI_READY:-0}" = 1 ] && return 0
	pki_init || die "creating the test PKI failed"
	PKI_READY=1
}

_smtp_pki() {
	[ "${PKI_READY:-0}" = 1 ] || pki_init || die "creating the test PKI failed"
}

# Without a preseed, noninteractive debconf picks "Internet Site"; ours is reconfigured anyway.
svc_postfix_preinstall() {
	pkg_installed postfix && return 0
	printf '%s\n' "postfix postfix/main_mailer_type select Local only" \
		"postfix postfix/mailname string localhost.localdomain" | debconf-set-selections
}

_postfix_running() {
	postfix status >/dev/null 2>&1
}

_postfix_master_pid() {
	local pid
	[ -r /var/spool/postfix/pid/master.pid ] || return 1
	read -r pid </var/spool/postfix/pid/master.pid || return 1
	pid_alive "$pid" && echo "$pid"
}

_postfix_stamp() { # what the configuration was made from, plus the current state of the two files
	printf '%s\n' "$1"
	cksum /etc/postfix/main.cf /etc/postfix/master.cf 2>/dev/null
}

_postfix_configure() {
	local pki want stamp=$OPS_SVC_DIR/postfix.stamp
	pki=$(pki_dir)
	want="v1 $pki $LOG_DIR"
	# postconf is slow on a busy machine: skip when main.cf/master.cf are as we left them
	if [ -s "$stamp" ] && [ "$(cat "$stamp")" = "$(_postfix_stamp "$want")" ]; then
		return 0
	fi
	postconf -e "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" "myhostname = mail.localhost" \
		"mynetworks = 127.0.0.0/8" \
		"smtpd_tls_cert_file = $pki/server-chain.crt" "smtpd_tls_key_file = $pki/server.key" \
		"smtpd_tls_security_level = may" "smtpd_tls_loglevel = 1" \
		"maillog_file_prefixes = /var, /dev/stdout, $LOG_DIR" "maillog_file = $LOG_DIR/postfix.log" ||
		die "postconf -e failed"
	# no listener on :25; ours on 2525 without chroot (no copies of /etc files in the spool needed)
	if [ -n "$(postconf -M smtp/inet 2>/dev/null)" ]; then postconf -MX smtp/inet; fi
	postconf -M "2525/inet=2525 inet n - n - - smtpd" || die "postconf -M failed"
	local aliases
	aliases=$(postconf -h alias_database)
	case $aliases in
	hash:/etc/aliases) [ -e /etc/aliases.db ] || newaliases ;;
	esac
	_postfix_stamp "$want" >"$stamp"
}

svc_postfix_start() {
	local t0 ca pid
	_smtp_pki
	ca=$(pki_dir)/ca.crt
	if _postfix_running; then
		if smtp_starttls_ok 127.0.0.1:2525 "$ca"; then
			pid=$(_postfix_master_pid) && write_pidfile postfix "$pid"
			echo "postfix: already running"
			return 0
		fi
		t0=$(now_ms)
		_postfix_configure
		postfix reload >>"$LOG_DIR/postfix-ctl.log" 2>&1 9>&- || die "postfix reload failed"
		wait_until -l "$LOG_DIR/postfix.log" postfix 20 smtp_starttls_ok 127.0.0.1:2525 "$ca" ||
			die "postfix does not offer STARTTLS on 127.0.0.1:2525 after a reload"
		pid=$(_postfix_master_pid) && write_pidfile postfix "$pid"
		echo "postfix: was running with another configuration; reconfigured and reloaded in $(elapsed_since "$t0")"
		return 0
	fi
	port_open 2525 && die "127.0.0.1:2525 is in use by another process"
	t0=$(now_ms)
	_postfix_configure
	postfix start >>"$LOG_DIR/postfix-ctl.log" 2>&1 9>&- || {
		tail -n 10 "$LOG_DIR/postfix-ctl.log" "$LOG_DIR/postfix.log" >&2 2>/dev/null
		die "postfix start failed"
	}
	wait_until -l "$LOG_DIR/postfix.log" -l "$LOG_DIR/postfix-ctl.log" postfix 30 \
		smtp_starttls_ok 127.0.0.1:2525 "$ca" || die "postfix does not offer STARTTLS on 127.0.0.1:2525"
	pid=$(_postfix_master_pid) && write_pidfile postfix "$pid"
	echo "postfix: started in $(elapsed_since "$t0")"
}

svc_postfix_stop() {
	local t0
	if ! _postfix_running; then
		rm -f "$RUN_DIR/postfix.pid"
		echo "postfix: not running"
		return 0
	fi
	t0=$(now_ms)
	postfix stop >>"$LOG_DIR/postfix-ctl.log" 2>&1 || die "postfix stop failed"
	stop_pid postfix 20 || die "the postfix master did not exit"
	echo "postfix: stopped in $(elapsed_since "$t0")"
}

svc_postfix_status() {
	if ! _postfix_running; then
		echo "postfix: stopped"
		return 3
	fi
	if smtp_starttls_ok 127.0.0.1:2525 "$(pki_dir)/ca.crt"; then
		echo "postfix: running (master pid $(_postfix_master_pid); 127.0.0.1:2525 STARTTLS verified)"
	else
		echo "postfix: running, but 127.0.0.1:2525 does not offer a verifiable STARTTLS"
		return 3
	fi
}

# ---------------------------------------------------------------------------------------------
# sendmail

# svc_sendmail_prepare: fetch and unpack sendmail-bin/-base/-cf once; install their shared libraries.
svc_sendmail_prepare() {
	svc_postfix_prepare
	install -d -m 0755 "$SENDMAIL_DIR"
	chmod go-w "$SENDMAIL_DIR"
	if [ -x "$SENDMAIL_BIN" ] && [ -f "$SENDMAIL_CF_DIR/m4/cf.m4" ] &&
		! ldd "$SENDMAIL_BIN" 2>/dev/null | grep -q 'not found'; then
		return 0
	fi
	local t0 deb deps
	t0=$(now_ms)
	rm -rf "$SENDMAIL_DIR/debs" "$SENDMAIL_ROOT"
	apt_download "$SENDMAIL_DIR/debs" sendmail-bin sendmail-base sendmail-cf
	for deb in "$SENDMAIL_DIR"/debs/*.deb; do
		dpkg-deb -x "$deb" "$SENDMAIL_ROOT" || die "dpkg-deb -x $deb failed"
	done
	# the libraries sendmail-bin depends on (first alternative of each lib* dependency)
	deps=$(dpkg-deb -f "$SENDMAIL_DIR"/debs/sendmail-bin_*.deb Depends | tr ',' '\n' |
		sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | grep '^lib' || true)
	# shellcheck disable=SC2086 # a list of package names
	apt_ensure $deps
	[ -x "$SENDMAIL_BIN" ] || die "no $SENDMAIL_BIN in the extracted packages"
	if ldd "$SENDMAIL_BIN" | grep 'not found' >&2; then die "sendmail misses shared libraries"; fi
	echo "sendmail: unpacked $(cd "$SENDMAIL_DIR/debs" && echo *.deb) in $(elapsed_since "$t0")"
}

_sendmail_configure() {
	local d=$SENDMAIL_DIR pki
	pki=$(pki_dir)
	install -d -m 0755 "$d/run" "$d/bin"
	install -d -m 0700 "$d/mqueue"
	printf 'root: root\npostmaster: root\n' | write_file "$d/aliases" 0644
	printf 'hosts files\naliases files\n' | write_file "$d/service.switch" 0644
	write_file "$d/bin/sendmail" 0755 <<EOF
#!/bin/sh
# Runs the extracted sendmail in a private UTS namespace with a dotted host name (a bare host name
# makes sendmail sleep 60 s). Needs root (unshare). Generated by scripts/services.sh.
exec unshare -u sh -c 'hostname $SENDMAIL_HOSTNAME && exec "\$0" "\$@"' "$SENDMAIL_BIN" "\$@"
EOF
	local mc
	mc=$(
		cat <<EOF
divert(-1)
dnl generated by scripts/services.sh (services.md §3b)
divert(0)dnl
VERSIONID(\`ops-test')dnl
OSTYPE(\`linux')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDOMAIN_NAME', \`sendmail.localhost')dnl
define(\`confSERVICE_SWITCH_FILE', \`$d/service.switch')dnl
define(\`confPID_FILE', \`$d/run/sendmail.pid')dnl
define(\`QUEUE_DIR', \`$d/mqueue')dnl
define(\`STATUS_FILE', \`$d/run/statistics')dnl
define(\`ALIAS_FILE', \`$d/aliases')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`confDEF_USER_ID', \`mail:mail')dnl
define(\`confLOG_LEVEL', \`14')dnl
define(\`confCACERT_PATH', \`$pki/capath')dnl
define(\`confCACERT', \`$pki/ca.crt')dnl
define(\`confSERVER_CERT', \`$pki/server-chain.crt')dnl
define(\`confSERVER_KEY', \`$pki/server.key')dnl
define(\`confCLIENT_CERT', \`$pki/server-chain.crt')dnl
define(\`confCLIENT_KEY', \`$pki/server.key')dnl
dnl local mail is read and thrown away (no procmail or mail.local here), so the queue stays empty
define(\`LOCAL_MAILER_PATH', \`/bin/sh')dnl
define(\`LOCAL_MAILER_ARGS', \`sh -c cat>/dev/null \$u')dnl
define(\`LOCAL_MAILER_FLAGS', \`n9')dnl
FEATURE(\`no_default_msa')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MTA-v4, Port=2526, Addr=127.0.0.1')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
	)
	FILE_CHANGED=0
	write_file "$d/tls.mc" 0644 <<<"$mc"
	if [ "$FILE_CHANGED" = 1 ] || [ ! -s "$d/tls.cf" ] || [ "$d/tls.cf" -ot "$SENDMAIL_CF_DIR/m4/cf.m4" ]; then
		m4 -D_CF_DIR_="$SENDMAIL_CF_DIR/" "$SENDMAIL_CF_DIR/m4/cf.m4" "$d/tls.mc" >"$d/tls.cf.new" 2>"$LOG_DIR/sendmail-m4.log" ||
			die "m4 failed (see $LOG_DIR/sendmail-m4.log)"
		mv -f "$d/tls.cf.new" "$d/tls.cf"
	fi
	if [ ! -s "$d/aliases.db" ] || [ "$d/aliases.db" -ot "$d/aliases" ]; then
		"$SENDMAIL_WRAPPER" -C "$d/tls.cf" -bi >>"$LOG_DIR/sendmail.log" 2>&1 || warn "newaliases failed (see $LOG_DIR/sendmail.log)"
	fi
}

svc_sendmail_start() {
	local t0 ca
	_smtp_pki
	ca=$(pki_dir)/ca.crt
	if is_running sendmail && smtp_starttls_ok 127.0.0.1:2526 "$ca"; then
		echo "sendmail: already running"
		return 0
	fi
	stop_pid sendmail 10 || die "a previous sendmail would not stop"
	port_open 2526 && die "127.0.0.1:2526 is in use by another process"
	t0=$(now_ms)
	_sendmail_configure
	# -bD: daemon in the foreground, so the pid start_bg records is sendmail's own
	# shellcheck disable=SC2016 # expanded by the inner sh
	start_bg sendmail unshare -u sh -c 'hostname "$0" && exec "$1" -C "$2" -bD -q15m' \
		"$SENDMAIL_HOSTNAME" "$SENDMAIL_BIN" "$SENDMAIL_DIR/tls.cf"
	wait_until -w sendmail sendmail 30 smtp_starttls_ok 127.0.0.1:2526 "$ca" || {
		echo "sendmail logs only to syslog, which this machine lacks; try: $SENDMAIL_WRAPPER -C $SENDMAIL_DIR/tls.cf -bt -d0.1 </dev/null" >&2
		stop_pid sendmail 5 || true
		die "sendmail does not offer STARTTLS on 127.0.0.1:2526"
	}
	echo "sendmail: started in $(elapsed_since "$t0")"
}

svc_sendmail_stop() {
	local t0
	if ! is_running sendmail; then
		rm -f "$RUN_DIR/sendmail.pid"
		echo "sendmail: not running"
		return 0
	fi
	t0=$(now_ms)
	stop_pid sendmail 20 || die "sendmail did not stop"
	echo "sendmail: stopped in $(elapsed_since "$t0")"
}

svc_sendmail_status() {
	if ! is_running sendmail; then
		echo "sendmail: stopped"
		return 3
	fi
	if smtp_starttls_ok 127.0.0.1:2526 "$(pki_dir)/ca.crt"; then
		echo "sendmail: running (pid $(running_pid sendmail); 127.0.0.1:2526 STARTTLS verified)"
	else
		echo "sendmail: running (pid $(running_pid sendmail)), but 127.0.0.1:2526 does not offer a verifiable STARTTLS"
		return 3
	fi
}
