#!/usr/bin/env bash
# bench/tlscheck.sh: STARTTLS checks per second against the local Postfix, for `ops tlscheck`
# (tlscheck.Check, through bench/tlscheck-bench) at concurrency 1 and 32, next to posttls-finger
# (Postfix's own probe) and testssl.sh --starttls smtp when they are installed.
#
# Usage: bench/tlscheck.sh            (needs: scripts/services.sh start postfix)
# Environment:
#   OPS_IT_SMTP_ADDR  default 127.0.0.1:2525      OPS_IT_SMTP_CA  default /var/lib/ops-test/pki/ca.crt
#   N1                checks at concurrency 1 (default 200)
#   N32               checks at concurrency 32 (default 2000)
#   NPEER             checks for posttls-finger (default 200; sequential and 32 in parallel)
#   TESTSSL=0         skip testssl.sh (one run takes tens of seconds)
#   DANE_RESOLVER     default 127.0.0.1:5300 (scripts/services.sh start dane): also measure checks
#                     with a TLSA lookup each (mx1.dane.test, --require DANE); empty: skip
#   MIN_RATE          checks/s ops must reach at concurrency 32 (default 400); below it: exit 1
# Output: one line per tool: name, concurrency, checks, seconds, checks/s. Apt packages are not
# installed by this script (testssl.sh: apt-get install testssl.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ADDR=${OPS_IT_SMTP_ADDR:-127.0.0.1:2525}
CA=${OPS_IT_SMTP_CA:-/var/lib/ops-test/pki/ca.crt}
N1=${N1:-200}
N32=${N32:-2000}
NPEER=${NPEER:-200}
MIN_RATE=${MIN_RATE:-400}
HOST=${ADDR%:*}
PORT=${ADDR##*:}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

[ -r "$CA" ] || { echo "no CA file $CA: run scripts/services.sh start postfix" >&2; exit 3; }
if ! (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
	echo "nothing listens on $ADDR: run scripts/services.sh start postfix" >&2
	exit 3
fi

now() { date +%s.%N; }
report() { # NAME CONCURRENCY CHECKS START END
	awk -v n="$1" -v c="$2" -v k="$3" -v s="$4" -v e="$5" \
		'BEGIN { d = e - s; printf "%-22s concurrency=%-3d checks=%-5d seconds=%-8.3f checks_per_second=%.4g\n", n, c, k, d, k / d }'
}

(cd "$ROOT" && go build -o "$TMP/tlscheck-bench" ./bench/tlscheck-bench)

echo "# target $ADDR, CA $CA, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
"$TMP/tlscheck-bench" -addr "$ADDR" -ca "$CA" -n 20 -c 4 >/dev/null # warm up Postfix's smtpd processes
"$TMP/tlscheck-bench" -addr "$ADDR" -ca "$CA" -n "$N1" -c 1
out=$("$TMP/tlscheck-bench" -addr "$ADDR" -ca "$CA" -n "$N32" -c 32)
echo "$out"
rate=$(sed -n 's/.*checks_per_second=\([0-9.]*\).*/\1/p' <<<"$out")
DANE_RESOLVER=${DANE_RESOLVER-127.0.0.1:5300}
if [ -n "$DANE_RESOLVER" ]; then
	"$TMP/tlscheck-bench" -addr "$ADDR" -ca "$CA" -name mx1.dane.test -resolver "$DANE_RESOLVER" -n "$N32" -c 32 ||
		echo "  DANE: not measured (scripts/services.sh start dane)"
fi

if command -v posttls-finger >/dev/null; then
	# -c: no SMTP after the handshake report; -l secure with the test CA; [host]:port skips MX lookups.
	pf() { posttls-finger -c -l secure -F "$CA" -P /nonexistent "[$HOST]:$PORT" localhost >/dev/null 2>&1 || echo fail; }
	export -f pf
	export CA HOST PORT
	s=$(now)
	fails=$(for _ in $(seq "$NPEER"); do pf; done | wc -l)
	e=$(now)
	report posttls-finger 1 "$NPEER" "$s" "$e"
	[ "$fails" = 0 ] || echo "  posttls-finger: $fails of $NPEER runs failed"
	s=$(now)
	fails=$(seq "$NPEER" | xargs -P 32 -I{} bash -c pf | wc -l)
	e=$(now)
	report posttls-finger 32 "$NPEER" "$s" "$e"
	[ "$fails" = 0 ] || echo "  posttls-finger: $fails of $NPEER runs failed"
else
	echo "posttls-finger: not installed (package postfix)"
fi

TESTSSL_BIN=$(command -v testssl.sh || command -v testssl || true)
if [ "${TESTSSL:-1}" != 0 ] && [ -n "$TESTSSL_BIN" ]; then
	# One default run (protocols, ciphers, certificate, vulnerabilities): testssl.sh's unit of work.
	s=$(now)
	"$TESTSSL_BIN" --quiet --color 0 --warnings off --starttls smtp --add-ca "$CA" "$ADDR" >"$TMP/testssl.log" 2>&1 || true
	e=$(now)
	report testssl.sh 1 1 "$s" "$e"
	grep -q "Start" "$TMP/testssl.log" || { echo "  testssl.sh output:"; tail -5 "$TMP/testssl.log"; }
else
	echo "testssl.sh: skipped (TESTSSL=0 or not installed: apt-get install testssl.sh)"
fi

if awk -v r="$rate" -v m="$MIN_RATE" 'BEGIN { exit !(r >= m) }'; then
	echo "ops tlscheck at concurrency 32: $rate checks/s >= target $MIN_RATE"
else
	echo "ops tlscheck at concurrency 32: $rate checks/s < target $MIN_RATE" >&2
	exit 1
fi
