# shellcheck shell=bash
# swift: OpenStack Swift all-in-one (services.md §2): tempauth, memcached, 1 replica, 1 device,
# workers = 0, every server on 127.0.0.1. Configuration in /etc/swift (overwritten), storage under
# $OPS_SVC_DIR/swift/node/d1. Ready = the four /healthcheck answer and test:tester/testing gets a token.

SWIFT_DIR=$OPS_SVC_DIR/swift
SWIFT_DEV=$SWIFT_DIR/node
SWIFT_KEY_FILE=$SWIFT_DIR/tester.key
SWIFT_AUTH_URL=http://127.0.0.1:8080/auth/v1.0
# start order; stopped in reverse. The updaters and the expirer only matter for
# X-Delete-* expiry and account statistics, which no test uses; with the servers
# running as root (workers = 0) the updaters cannot lock the container databases
# and spin, so they run only with OPS_SWIFT_UPDATERS=1. Stop handles all of them.
SWIFT_PROCS=(memcached swift-account swift-container swift-object swift-proxy)
SWIFT_ALL_PROCS=("${SWIFT_PROCS[@]}" swift-container-updater swift-object-updater swift-object-expirer)
if [ "${OPS_SWIFT_UPDATERS:-0}" = 1 ]; then
	SWIFT_PROCS=("${SWIFT_ALL_PROCS[@]}")
fi

svc_swift_pkgs() {
	echo swift swift-proxy swift-account swift-container swift-object swift-object-expirer \
		python3-swiftclient memcached curl
}

swift_write_keyfile() {
	install -d -m 0755 "$SWIFT_DIR"
	printf '%s' testing | write_file "$SWIFT_KEY_FILE" 0600 root:root
}

_swift_common() { # PORT
	cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = swift
swift_dir = /etc/swift
devices = $SWIFT_DEV
mount_check = false
log_level = INFO
EOF
}

# swift_proxy_conf PORT [MIDDLEWARE]: the proxy server's configuration on 127.0.0.1:PORT, with
# MIDDLEWARE (s3api for the s3 service) in the pipeline right before tempauth (and so before slo).
swift_proxy_conf() {
	cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = swift
swift_dir = /etc/swift
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit ${2:+$2 }tempauth copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3
token_life = 86400

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11211

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:tempurl]
use = egg:swift#tempurl

[filter:ratelimit]
use = egg:swift#ratelimit

[filter:copy]
use = egg:swift#copy

[filter:container-quotas]
use = egg:swift#container_quotas

[filter:account-quotas]
use = egg:swift#account_quotas

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true

[filter:symlink]
use = egg:swift#symlink
EOF
	if [ "${2:-}" = s3api ]; then
		printf '\n[filter:s3api]\nuse = egg:swift#s3api\nlocation = us-east-1\n'
	fi
}

_swift_configure() {
	install -d -m 0755 "$SWIFT_DIR"
	install -d -o swift -g swift -m 0755 "$SWIFT_DEV" "$SWIFT_DEV/d1" /var/cache/swift /var/run/swift
	install -d -m 0755 /etc/swift
	swift_write_keyfile

	# object metadata lives in user xattrs: fail clearly on a filesystem without them
	/usr/bin/python3 -I - "$SWIFT_DEV/d1" <<'PY' || die "$SWIFT_DEV/d1 does not support user xattrs (needed by the object server)"
import os, sys, tempfile
with tempfile.NamedTemporaryFile(dir=sys.argv[1]) as f:
    os.setxattr(f.name, 'user.ops.test', b'1')
PY

	write_file /etc/swift/swift.conf 0644 swift:swift <<'EOF'
[swift-hash]
swift_hash_path_suffix = ops_test_suffix
swift_hash_path_prefix = ops_test_prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
EOF

	{
		_swift_common 6202
		cat <<'EOF'

[pipeline:main]
pipeline = healthcheck recon account-server

[app:account-server]
use = egg:swift#account

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon

[account-replicator]
[account-auditor]
[account-reaper]
EOF
	} | write_file /etc/swift/account-server.conf 0644 swift:swift

	{
		_swift_common 6201
		cat <<'EOF'

[pipeline:main]
pipeline = healthcheck recon container-server

[app:container-server]
use = egg:swift#container

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon

[container-replicator]
[container-updater]
# One process every minute: the default 4 forked sweepers every 5 s kept
# both CPUs of a test machine busy once the tests had made many containers.
interval = 60
concurrency = 1
[container-auditor]
[container-sync]
[container-sharder]
EOF
	} | write_file /etc/swift/container-server.conf 0644 swift:swift

	{
		_swift_common 6200
		cat <<'EOF'

[pipeline:main]
pipeline = healthcheck recon object-server

[app:object-server]
use = egg:swift#object

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon

[object-replicator]
[object-reconstructor]
[object-updater]
interval = 60
concurrency = 1
[object-auditor]
EOF
	} | write_file /etc/swift/object-server.conf 0644 swift:swift

	swift_proxy_conf 8080 | write_file /etc/swift/proxy-server.conf 0644 swift:swift

	write_file /etc/swift/object-expirer.conf 0644 swift:swift <<'EOF'
[DEFAULT]
user = swift
swift_dir = /etc/swift
log_level = INFO

[object-expirer]
interval = 60

[pipeline:main]
pipeline = catch_errors proxy-logging cache proxy-server

[app:proxy-server]
use = egg:swift#proxy

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11211

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging
EOF

	# Rings (part power 10, 1 replica, min_part_hours 1), built in one python process (0.7 s
	# instead of ~7 s of swift-ring-builder calls). Rebuilt only when missing or not ours.
	local stamp=$SWIFT_DIR/rings.stamp want='v1 127.0.0.1 6202/6201/6200 d1 pp10 r1'
	if [ ! -s /etc/swift/account.ring.gz ] || [ ! -s /etc/swift/container.ring.gz ] ||
		[ ! -s /etc/swift/object.ring.gz ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		rm -f /etc/swift/account.builder /etc/swift/container.builder /etc/swift/object.builder \
			/etc/swift/account.ring.gz /etc/swift/container.ring.gz /etc/swift/object.ring.gz
		/usr/bin/python3 -I - >>"$LOG_DIR/swift-rings.log" 2>&1 <<'PY' || die "building the rings failed (see $LOG_DIR/swift-rings.log)"
from swift.common.ring import RingBuilder
for name, port in (('account', 6202), ('container', 6201), ('object', 6200)):
    b = RingBuilder(10, 1, 1)
    b.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'd1', 'weight': 100})
    b.rebalance()
    b.save('/etc/swift/%s.builder' % name)
    b.get_ring().save('/etc/swift/%s.ring.gz' % name)
PY
		printf '%s\n' "$want" >"$stamp"
	fi
	chown -R swift:swift /etc/swift
}

_swift_health() {
	local p
	for p in 8080 6200 6201 6202; do
		curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$p/healthcheck" || return 1
	done
}

_swift_auth_ok() {
	[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'X-Auth-User: test:tester' \
		-H 'X-Auth-Key: testing' "$SWIFT_AUTH_URL")" = 200 ]
}

_swift_ready() {
	_swift_health && _swift_auth_ok
}

_swift_nrunning() {
	local n=0 p
	for p in "${SWIFT_PROCS[@]}"; do
		if is_running "$p"; then n=$((n + 1)); fi
	done
	echo "$n"
}

_swift_stop_all() {
	local i ok=0
	for ((i = ${#SWIFT_ALL_PROCS[@]} - 1; i >= 0; i--)); do
		stop_pid "${SWIFT_ALL_PROCS[i]}" 15 || ok=1
	done
	return "$ok"
}

_swift_port() { # process name -> the port it listens on (none for the daemons)
	case $1 in
	memcached) echo 11211 ;;
	swift-account) echo 6202 ;;
	swift-container) echo 6201 ;;
	swift-object) echo 6200 ;;
	swift-proxy) echo 8080 ;;
	esac
}

_swift_start_proc() {
	local s=$1
	case $s in
	memcached)
		start_bg memcached /usr/bin/memcached -u memcache -l 127.0.0.1 -p 11211 -U 0 -m 64
		# tempauth keeps its tokens in memcache: have it up before the proxy
		wait_until -w memcached memcached 10 port_open 11211 || die "memcached did not come up"
		;;
	swift-account | swift-container | swift-object)
		start_bg "$s" "/usr/bin/$s-server" "/etc/swift/${s#swift-}-server.conf" -v
		;;
	swift-proxy) start_bg swift-proxy /usr/bin/swift-proxy-server /etc/swift/proxy-server.conf -v ;;
	swift-container-updater | swift-object-updater)
		start_bg "$s" "/usr/bin/$s" "/etc/swift/$(echo "$s" | sed 's/^swift-//; s/-updater$//')-server.conf" -v
		;;
	swift-object-expirer) start_bg "$s" /usr/bin/swift-object-expirer /etc/swift/object-expirer.conf -v ;;
	*) die "unknown swift process $s" ;;
	esac
}

svc_swift_start() {
	local t0 n s port logs=() watch=() missing=()
	n=$(_swift_nrunning)
	if [ "$n" = "${#SWIFT_PROCS[@]}" ]; then
		echo "swift: already running"
		return 0
	fi
	for s in "${SWIFT_PROCS[@]}"; do
		is_running "$s" && continue
		missing+=("$s")
		port=$(_swift_port "$s")
		if [ -n "$port" ] && port_open "$port"; then
			die "127.0.0.1:$port (for $s) is already in use by a process not started by services.sh"
		fi
	done
	t0=$(now_ms)
	_swift_configure
	# start only what is missing (after a crash of one process the others keep running)
	for s in "${missing[@]}"; do
		_swift_start_proc "$s"
	done
	for s in "${SWIFT_PROCS[@]}"; do
		watch+=(-w "$s")
		logs+=(-l "$LOG_DIR/$s.log")
	done
	wait_until "${watch[@]}" "${logs[@]}" swift 120 _swift_ready || {
		_swift_stop_all || true
		die "swift did not come up (processes stopped again)"
	}
	if [ "$n" = 0 ]; then
		echo "swift: started in $(elapsed_since "$t0")"
	else
		echo "swift: was partly running; started ${missing[*]} in $(elapsed_since "$t0")"
	fi
}

svc_swift_stop() {
	local t0 n
	n=$(_swift_nrunning)
	if [ "$n" = 0 ]; then
		_swift_stop_all || true # clears stale pidfiles
		echo "swift: not running"
		return 0
	fi
	t0=$(now_ms)
	_swift_stop_all || die "some swift processes did not stop"
	echo "swift: stopped in $(elapsed_since "$t0")"
}

svc_swift_status() {
	local n
	n=$(_swift_nrunning)
	if [ "$n" = 0 ]; then
		echo "swift: stopped"
		return 3
	fi
	if [ "$n" = "${#SWIFT_PROCS[@]}" ] && _swift_ready >/dev/null 2>&1; then
		echo "swift: running ($n processes; healthcheck and auth ok)"
	else
		echo "swift: degraded ($n of ${#SWIFT_PROCS[@]} processes; healthcheck/auth $(_swift_ready >/dev/null 2>&1 && echo ok || echo FAILING))"
		return 3
	fi
}
