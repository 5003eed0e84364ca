# shellcheck shell=bash
# lib.sh: small framework for the loopback test services, sourced by services.sh and pki.sh.
#
# State lives in $OPS_SVC_DIR (default /var/lib/ops-test). It must be an absolute path that is not
# under /tmp, and no directory on the way to it may be world-writable (sendmail refuses such paths,
# and so should we). Layout:
#   $OPS_SVC_DIR/log/NAME.log   stdout+stderr of every process started here, apt output (apt.log)
#   $OPS_SVC_DIR/run/NAME.pid   line 1: pid, line 2: the process start time (guards against pid reuse)
#   $OPS_SVC_DIR/<service>/     data and generated configuration of each service
#
# Functions: ensure_state_dir, apt_ensure, apt_update_once, apt_download, start_bg, is_running,
# stop_pid, wait_until, write_file, port_open, die, elapsed_since.

OPS_SVC_DIR=${OPS_SVC_DIR:-/var/lib/ops-test}
OPS_SVC_DIR=${OPS_SVC_DIR%/}
LOG_DIR=$OPS_SVC_DIR/log
RUN_DIR=$OPS_SVC_DIR/run
APT_UPDATED=${APT_UPDATED:-0}
# Name printed in front of messages; services.sh sets it to the service being handled.
SVC=${SVC:-services}

die() {
	printf '%s: error: %s\n' "$SVC" "$*" >&2
	exit 1
}

warn() {
	printf '%s: warning: %s\n' "$SVC" "$*" >&2
}

require_root() {
	[ "$(id -u)" = 0 ] || die "must run as root"
}

# now_ms: wall clock in milliseconds (EPOCHREALTIME uses the locale's decimal separator).
now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	printf '%s\n' $((10#$t / 1000))
}

# elapsed_since START_MS: "4.1s"
elapsed_since() {
	local ms=$(($(now_ms) - $1))
	printf '%d.%ds\n' $((ms / 1000)) $((ms % 1000 / 100))
}

# ensure_state_dir: create $OPS_SVC_DIR, log/ and run/ (root-owned, 0755) and check that the path is safe.
ensure_state_dir() {
	require_root
	case $OPS_SVC_DIR in
	/*) ;;
	*) die "OPS_SVC_DIR must be an absolute path (got '$OPS_SVC_DIR')" ;;
	esac
	local d real perm
	real=$(realpath -m "$OPS_SVC_DIR") || die "cannot resolve $OPS_SVC_DIR"
	case $real/ in
	/tmp/* | /var/tmp/* | /dev/shm/*) die "OPS_SVC_DIR must not be under /tmp, /var/tmp or /dev/shm (got $real)" ;;
	esac
	# no world-writable directory on the way (checked before anything is created)
	d=$(dirname "$real")
	while :; do
		if [ -e "$d" ]; then
			perm=$(stat -L -c %a "$d") || die "cannot stat $d"
			if (((8#$perm & 8#0002) != 0)); then
				die "$d is world-writable; OPS_SVC_DIR ($real) must not be below a world-writable directory"
			fi
		fi
		[ "$d" = / ] && break
		d=$(dirname "$d")
	done
	for d in "$OPS_SVC_DIR" "$LOG_DIR" "$RUN_DIR"; do
		install -d -m 0755 "$d" || die "cannot create $d"
		chown root:root "$d"
		chmod go-w "$d"
	done
}

# ---------------------------------------------------------------------------------------------
# apt

pkg_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# apt_run ARGS...: apt-get quietly, output appended to log/apt.log, last lines shown on failure.
apt_run() {
	local log=$LOG_DIR/apt.log
	printf '=== %s apt-get %s\n' "$(date -u +%FT%TZ)" "$*" >>"$log"
	if ! DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >>"$log" 2>&1; then
		tail -n 15 "$log" >&2
		die "apt-get $* failed (full log: $log)"
	fi
}

# apt_update_once: `apt-get update`, at most once per run of the calling script.
apt_update_once() {
	[ "$APT_UPDATED" = 1 ] && return 0
	apt_run update
	APT_UPDATED=1
}

# apt_ensure PKG...: install (without recommends) whichever of PKG is missing; no-op when all are there.
apt_ensure() {
	local missing=() p t0 installed
	# one dpkg-query for all (it prints nothing for packages it has never heard of)
	installed=" $({ dpkg-query -W -f='${db:Status-Status}:${Package} ' "$@" 2>/dev/null || true; } | tr ' ' '\n' |
		sed -n 's/^installed://p' | tr '\n' ' ') "
	for p in "$@"; do
		case $installed in *" ${p%%:*} "*) ;; *) missing+=("$p") ;; esac
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	t0=$(now_ms)
	apt_update_once
	apt_run install --no-install-recommends "${missing[@]}"
	printf 'apt: installed %s in %s\n' "${missing[*]}" "$(elapsed_since "$t0")"
}

# apt_download DIR PKG...: `apt-get download` into DIR (no install), updating the lists once if needed.
apt_download() {
	local dir=$1
	shift
	install -d -m 0755 "$dir"
	if ! (cd "$dir" && DEBIAN_FRONTEND=noninteractive apt-get -q download "$@") >>"$LOG_DIR/apt.log" 2>&1; then
		[ "$APT_UPDATED" = 1 ] && die "apt-get download $* failed (see $LOG_DIR/apt.log)"
		apt_update_once
		(cd "$dir" && DEBIAN_FRONTEND=noninteractive apt-get -q download "$@") >>"$LOG_DIR/apt.log" 2>&1 ||
			die "apt-get download $* failed (see $LOG_DIR/apt.log)"
	fi
}

# ---------------------------------------------------------------------------------------------
# processes

# proc_starttime PID: field 22 of /proc/PID/stat (clock ticks since boot).
proc_starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086 # split on purpose
	set -- $s
	printf '%s\n' "${20}"
}

# pid_alive PID: the process exists and is not a zombie (PID 1 here reaps orphans only every ~2 s).
pid_alive() {
	[ -n "${1:-}" ] && [ -r "/proc/$1/status" ] || return 1
	! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# write_pidfile NAME PID: record PID and its start time in $RUN_DIR/NAME.pid.
write_pidfile() {
	printf '%s\n%s\n' "$2" "$(proc_starttime "$2" || echo 0)" >"$RUN_DIR/$1.pid"
}

# running_pid NAME: print the pid of NAME if its pidfile names a live process started at the recorded time.
running_pid() {
	local f=$RUN_DIR/$1.pid pid st cur
	[ -s "$f" ] || return 1
	{
		read -r pid
		read -r st || st=
	} <"$f"
	pid_alive "$pid" || return 1
	if [ -n "$st" ]; then
		cur=$(proc_starttime "$pid") || return 1
		[ "$cur" = "$st" ] || return 1
	fi
	printf '%s\n' "$pid"
}

is_running() {
	running_pid "$1" >/dev/null
}

# start_bg NAME CMD...: run CMD detached (nohup, own session), output appended to $LOG_DIR/NAME.log,
# pid in $RUN_DIR/NAME.pid. CMD must stay in the foreground (not daemonize) for the pid to be right.
start_bg() {
	local name=$1 pid envv
	shift
	printf '=== %s start: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG_DIR/$name.log"
	# A clean environment (the caller's PYTHONPATH, proxies, locale... must not leak into daemons),
	# and 9>&-: do not hand services.sh's lock descriptor to a long-lived daemon.
	envv=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root)
	if [ -n "${TZ:-}" ]; then envv+=("TZ=$TZ"); fi
	nohup env -i "${envv[@]}" setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null 9>&- &
	pid=$!
	write_pidfile "$name" "$pid"
}

# proc_pgrp PID: the process group of PID.
proc_pgrp() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086 # split on purpose
	set -- $s
	printf '%s\n' "$3"
}

# stop_pid NAME [TIMEOUT_S]: SIGTERM, wait until gone (a zombie counts as gone), then SIGKILL.
# When the process leads its own process group (start_bg uses setsid), the signals go to the whole
# group, and members left after the leader exited (e.g. sendmail's delivery children) are killed.
stop_pid() {
	local name=$1 timeout=${2:-20} pid deadline target
	pid=$(running_pid "$name") || {
		rm -f "$RUN_DIR/$name.pid"
		return 0
	}
	target=$pid
	if [ "$(proc_pgrp "$pid")" = "$pid" ]; then target=-$pid; fi
	kill -TERM -- "$target" 2>/dev/null || true
	deadline=$(($(now_ms) + timeout * 1000))
	while pid_alive "$pid" && [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.05
	done
	if pid_alive "$pid"; then
		warn "$name (pid $pid) ignored SIGTERM for ${timeout}s; sending SIGKILL"
		kill -KILL -- "$target" 2>/dev/null || true
		deadline=$(($(now_ms) + 5000))
		while pid_alive "$pid" && [ "$(now_ms)" -lt "$deadline" ]; do
			sleep 0.05
		done
	fi
	if [ "$target" != "$pid" ]; then kill -KILL -- "$target" 2>/dev/null || true; fi
	rm -f "$RUN_DIR/$name.pid"
	! pid_alive "$pid"
}

# wait_until [-w NAME]... [-l LOGFILE]... DESC TIMEOUT_S CMD...
# Poll CMD every 0.1 s until it succeeds. Fail early when a watched process (-w, a start_bg name)
# exits. On failure print the last lines of the logs (-l; default $LOG_DIR/DESC.log) and return 1.
wait_until() {
	local watch=() logs=() desc timeout deadline n f why=
	while [ $# -gt 0 ]; do
		case $1 in
		-w)
			watch+=("$2")
			shift 2
			;;
		-l)
			logs+=("$2")
			shift 2
			;;
		*) break ;;
		esac
	done
	desc=$1 timeout=$2
	shift 2
	[ ${#logs[@]} -eq 0 ] && logs=("$LOG_DIR/$desc.log")
	deadline=$(($(now_ms) + timeout * 1000))
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		for n in ${watch[@]+"${watch[@]}"}; do
			if ! is_running "$n"; then
				why="process $n exited"
				break 2
			fi
		done
		if [ "$(now_ms)" -ge "$deadline" ]; then
			why="not ready after ${timeout}s"
			break
		fi
		sleep 0.1
	done
	printf '%s: %s (check: %s)\n' "$desc" "$why" "$*" >&2
	for f in "${logs[@]}"; do
		[ -s "$f" ] || continue
		printf -- '--- last lines of %s\n' "$f" >&2
		tail -n 15 "$f" >&2
	done
	return 1
}

# ---------------------------------------------------------------------------------------------
# misc

# write_file PATH MODE [OWNER]: write stdin to PATH only when the content differs (atomic rename);
# always applies MODE and OWNER. Sets FILE_CHANGED=1 when the file was (re)written.
# shellcheck disable=SC2034 # read by the service modules
FILE_CHANGED=0
write_file() {
	local path=$1 mode=$2 owner=${3:-} tmp
	tmp=$(mktemp "$path.XXXXXX") || die "cannot write $path"
	cat >"$tmp"
	if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
		rm -f "$tmp"
	else
		mv -f "$tmp" "$path"
		# shellcheck disable=SC2034 # read by the service modules
		FILE_CHANGED=1
	fi
	chmod "$mode" "$path"
	if [ -n "$owner" ]; then chown "$owner" "$path"; fi
}

# port_open PORT [HOST]: something accepts TCP connections on HOST:PORT (default 127.0.0.1).
port_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${2:-127.0.0.1}" "$1" 2>/dev/null
}

# smtp_starttls_ok HOST:PORT CAFILE: the server offers STARTTLS and its chain verifies for "localhost".
smtp_starttls_ok() {
	local out
	out=$(timeout 5 openssl s_client -brief -starttls smtp -connect "$1" -servername localhost \
		-verify_hostname localhost -CAfile "$2" -verify_return_error </dev/null 2>&1) || return 1
	grep -q 'Verification: OK' <<<"$out"
}
