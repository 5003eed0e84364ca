#!/usr/bin/env bash
# bench/tlsrpt-dir.sh: `ops serve` with tlscheck.report_dir holding N TLSRPT reports (the
# Microsoft-style JSON of tlscheck/tlsrpt/testdata, each with its own report-id, every tenth
# gzip'd), scraped with curl: how long each scrape takes, how long until the sums appear
# (the first scan reads and parses every file; scrapes meanwhile wait at most 2 s and export no
# ops_tlsrpt_* series), and the scrape time once every file is cached (a listing and a stat
# per file), then after one file is added. Peak RSS of the daemon at the end.
#
# Usage: bench/tlsrpt-dir.sh [N...]     (default: 1000 20000)
# Environment:
#   OPS   an ops binary to measure (default: built from this checkout)
#   PORT  the loopback port serve listens on (default 19273)
# Output: a Markdown table, one row per size. Nothing is installed (needs curl and python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 20000)
PORT=${PORT:-19273}
TMP=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
OPS=${OPS:-}
if [ -z "$OPS" ]; then
	OPS=$TMP/ops
	(cd "$ROOT" && go build -o "$OPS" ./cmd/ops)
fi
SRC="$ROOT/tlscheck/tlsrpt/testdata/microsoft.com!example.org!1796083200!1796169599!134090592000000000.json"

# gen DIR N: N reports, each its own report-id.
gen() {
	python3 - "$1" "$2" "$SRC" <<'EOF'
import gzip, os, sys
d, n, src = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read()
for i in range(n):
    body = src.replace('"134090592000000000+example.org"', '"bench-%d"' % i).encode()
    if i % 10 == 0:
        open(os.path.join(d, "r%07d.json.gz" % i), "wb").write(gzip.compress(body))
    else:
        open(os.path.join(d, "r%07d.json" % i), "wb").write(body)
EOF
}

# scrape: seconds one GET /metrics takes; the body in $TMP/body.
scrape() { curl -s -o "$TMP/body" -w '%{time_total}' "http://127.0.0.1:$PORT/metrics"; }

echo "| reports | first scrape s | sums after s | scrapes meanwhile (max s) | cached scrape s | after adding one s | reports exported | peak RSS MiB |"
echo "|---:|---:|---:|---|---:|---:|---:|---:|"
for n in "${SIZES[@]}"; do
	dir=$TMP/reports-$n
	mkdir -p "$dir"
	gen "$dir" "$n"
	printf 'lock_dir: %s\nserve: {listen: "127.0.0.1:%s"}\ntlscheck: {report_dir: %s}\n' "$TMP/locks" "$PORT" "$dir" >"$TMP/ops.yaml"
	"$OPS" --config "$TMP/ops.yaml" serve 2>"$TMP/serve-$n.log" &
	PID=$!
	until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.05; done
	start=$(date +%s.%N)
	first=$(scrape)
	count=1 worst=$first
	until grep -q '^ops_tlsrpt_reports ' "$TMP/body"; do
		t=$(scrape)
		count=$((count + 1))
		worst=$(python3 -c "print(max($worst, $t))")
	done
	ready=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
	exported=$(awk '/^ops_tlsrpt_reports /{print $2}' "$TMP/body")
	sleep 6 # past the 5 s reuse of a scan
	cached=$(scrape)
	cp "$dir/r0000001.json" "$dir/added.json"
	sleep 6
	added=$(scrape)
	rss=$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$PID/status")
	kill "$PID"
	wait "$PID" || true
	PID=
	echo "| $n | $first | $ready | $count (max $worst) | $cached | $added | $exported | $rss |"
done
