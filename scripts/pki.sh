#!/usr/bin/env bash
# pki.sh: test PKI for the SMTP services (and for tests that need more certificates from the same CA).
#
# Usage (as a command):
#   scripts/pki.sh [init]                         ensure CA + "localhost" server certificate exist
#   scripts/pki.sh issue NAME CN [SAN...] [--client] [--days N]
#                                                 issue NAME.key/NAME.crt/NAME-chain.crt signed by the CA;
#                                                 SAN items like DNS:a.example.com or IP:127.0.0.1
#                                                 (default: DNS:CN); --client sets extendedKeyUsage=clientAuth
#   scripts/pki.sh path                           print the PKI directory
# Or source it and call pki_init / pki_issue.
#
# Directory: $OPS_PKI_DIR, default $OPS_SVC_DIR/pki (OPS_SVC_DIR defaults to /var/lib/ops-test).
# Files: ca.key ca.crt (CN=Test Root CA, 10 years), server.key server.crt (CN=localhost,
# SAN DNS:localhost IP:127.0.0.1 IP:::1, 825 days), server-chain.crt (leaf + CA), and capath/ (the CA
# alone with `openssl rehash` links, for a CA directory such as sendmail's confCACERT_PATH). Keys are 0600.
# A certificate that expires within 30 days, or a leaf that no longer verifies against the CA, is re-made.

# pki_dir: the directory in use.
pki_dir() {
	printf '%s\n' "${OPS_PKI_DIR:-${OPS_SVC_DIR:-/var/lib/ops-test}/pki}"
}

_pki_valid() { # CERT [CA]: exists, valid for 30 more days, and (with CA) verifies against it
	[ -s "$1" ] || return 1
	openssl x509 -in "$1" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
	if [ -n "${2:-}" ]; then
		openssl verify -CAfile "$2" "$1" >/dev/null 2>&1 || return 1
	fi
}

# pki_issue NAME CN [SAN...] [--client] [--days N]: leaf certificate signed by the test CA.
pki_issue() {
	local name=$1 cn=$2 dir eku=serverAuth days=825 sans=() san ext
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--client) eku=clientAuth ;;
		--days)
			days=$2
			shift
			;;
		*) sans+=("$1") ;;
		esac
		shift
	done
	[ ${#sans[@]} -eq 0 ] && sans=("DNS:$cn")
	dir=$(pki_dir)
	if [ ! -s "$dir/ca.key" ] || [ ! -s "$dir/ca.crt" ]; then
		echo "pki: no CA in $dir (run pki.sh init first)" >&2
		return 1
	fi
	san=$(
		IFS=,
		printf '%s' "${sans[*]}"
	)
	ext=$(mktemp "$dir/.ext.XXXXXX")
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' \
		"$san" "$eku" >"$ext"
	(
		umask 077
		openssl req -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$cn" &&
			openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
				-set_serial "0x$(openssl rand -hex 16)" \
				-out "$dir/$name.crt" -days "$days" -extfile "$ext"
	) >>"$dir/openssl.log" 2>&1 || {
		rm -f "$ext"
		echo "pki: issuing $name failed (see $dir/openssl.log)" >&2
		return 1
	}
	rm -f "$ext" "$dir/$name.csr"
	cat "$dir/$name.crt" "$dir/ca.crt" >"$dir/$name-chain.crt"
	chmod 0600 "$dir/$name.key"
	chmod 0644 "$dir/$name.crt" "$dir/$name-chain.crt"
}

# pki_init: ensure the CA and the localhost server certificate; prints nothing when all is in place.
pki_init() {
	local dir
	dir=$(pki_dir)
	install -d -m 0755 "$dir" || return 1
	chmod go-w "$dir"
	if ! _pki_valid "$dir/ca.crt" || [ ! -s "$dir/ca.key" ]; then
		(
			umask 077
			openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 \
				-subj "/CN=Test Root CA" -addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign"
		) >>"$dir/openssl.log" 2>&1 || {
			echo "pki: creating the CA failed (see $dir/openssl.log)" >&2
			return 1
		}
		chmod 0644 "$dir/ca.crt"
		rm -f "$dir/server.crt" # re-issue the leaf under the new CA
	fi
	if ! _pki_valid "$dir/server.crt" "$dir/ca.crt" || [ ! -s "$dir/server.key" ]; then
		pki_issue server localhost DNS:localhost IP:127.0.0.1 IP:::1 || return 1
	fi
	# capath/: the CA alone, hashed, for tools that want a CA directory (sendmail confCACERT_PATH)
	if ! cmp -s "$dir/ca.crt" "$dir/capath/ca.crt"; then
		rm -rf "$dir/capath"
		install -d -m 0755 "$dir/capath"
		cp "$dir/ca.crt" "$dir/capath/ca.crt"
		openssl rehash "$dir/capath" >>"$dir/openssl.log" 2>&1 || true
	fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	case ${1:-init} in
	init)
		pki_init
		d=$(pki_dir)
		printf 'ca=%s/ca.crt server_cert=%s/server.crt server_chain=%s/server-chain.crt server_key=%s/server.key\n' \
			"$d" "$d" "$d" "$d"
		;;
	issue)
		shift
		[ $# -ge 2 ] || {
			echo "usage: $0 issue NAME CN [SAN...] [--client] [--days N]" >&2
			exit 2
		}
		pki_init
		pki_issue "$@"
		d=$(pki_dir)
		printf 'key=%s/%s.key cert=%s/%s.crt chain=%s/%s-chain.crt\n' "$d" "$1" "$d" "$1" "$d" "$1"
		;;
	path) pki_dir ;;
	*)
		echo "usage: $0 [init|issue NAME CN [SAN...] [--client] [--days N]|path]" >&2
		exit 2
		;;
	esac
fi
