#!/usr/bin/env bash
# Throughput of the Swift target (swift.Store.Put (backup/storage/swift), parallel SLO
# segments) against the stock client (`swift upload --use-slo`) on the same
# bytes and segment size. Not a test: run it by hand, Swift running
# (scripts/services.sh start swift).
#
#   bench/swift.sh                         # 1 GiB, 64 MiB segments, 2 runs each
#   SIZE_MB=2048 SEG_MB=128 RUNS=3 bench/swift.sh
#   CONCURRENCY=8 bench/swift.sh           # segments in flight for ops (swift CLI: its default 10 threads)
#
# Prints wall time, MB/s (10^6 bytes/s) and peak RSS (/usr/bin/time -v) per run.
set -euo pipefail

cd "$(dirname "$0")/.."
AUTH=${OPS_IT_SWIFT_AUTH:-http://127.0.0.1:8080/auth/v1.0}
USER_=${OPS_IT_SWIFT_USER:-test:tester}
KEY_FILE=${OPS_IT_SWIFT_KEY_FILE:-}
SIZE_MB=${SIZE_MB:-1024}
SEG_MB=${SEG_MB:-64}
RUNS=${RUNS:-2}
CONCURRENCY=${CONCURRENCY:-4}
WORK=${WORK:-$(mktemp -d /tmp/ops-swift-bench.XXXXXX)}
CONTAINER=ops-bench-$$
SEG=$((SEG_MB * 1024 * 1024))

if [ -n "$KEY_FILE" ]; then ST_KEY=$(cat "$KEY_FILE"); else ST_KEY=testing; fi
export ST_AUTH=$AUTH ST_USER=$USER_ ST_KEY # both clients read the key from the environment

cleanup() {
	swift delete "$CONTAINER" >/dev/null 2>&1 || true
	swift delete "${CONTAINER}_segments" >/dev/null 2>&1 || true
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

echo "building bench/swiftput…" >&2
go build -o "$WORK/swiftput" ./bench/swiftput

DATA=$WORK/data.bin
echo "generating $SIZE_MB MiB of random bytes…" >&2
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$DATA"
cat "$DATA" >/dev/null # page cache: both clients read from memory
BYTES=$(stat -c %s "$DATA")
SHA=$(sha256sum "$DATA" | cut -d' ' -f1)

# run LABEL CMD...: time one upload, print a table row.
run() {
	local label=$1; shift
	local tv=$WORK/time.txt
	/usr/bin/time -v -o "$tv" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || {
		echo "$label failed:" >&2; cat "$WORK/err.txt" >&2; exit 1
	}
	local wall rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tv")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
	printf '| %-34s | %7.2f | %8.1f | %8.0f |\n' "$label" "$wall" "$(echo "$BYTES / 1000000 / $wall" | bc -l)" "$((rss / 1024))"
}

echo
echo "Swift at $AUTH, $SIZE_MB MiB ($BYTES bytes), segments of $SEG_MB MiB, $(nproc) CPUs"
echo
echo "| client                             |  wall s |     MB/s | RSS MiB |"
echo "|------------------------------------|--------:|---------:|--------:|"
for i in $(seq 1 "$RUNS"); do
	run "ops swiftput (concurrency $CONCURRENCY)" \
		"$WORK/swiftput" -auth "$AUTH" -user "$USER_" -container "$CONTAINER" \
		-segment-size "$SEG" -concurrency "$CONCURRENCY" -name ops.bin "$DATA"
	got=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' "$WORK/out.txt")
	[ "$got" = "$SHA" ] || { echo "swiftput: sha256 $got, want $SHA" >&2; exit 1; }
	(cd "$WORK" && run "swift upload --use-slo -S $SEG_MB MiB" \
		swift upload --use-slo -S "$SEG" "$CONTAINER" data.bin --object-name cli.bin)
done

# Both objects read back identical to the source.
for o in ops.bin cli.bin; do
	got=$(swift download "$CONTAINER" "$o" -o - | sha256sum | cut -d' ' -f1)
	[ "$got" = "$SHA" ] || { echo "$o: sha256 $got, want $SHA" >&2; exit 1; }
done
echo
echo "both objects downloaded with sha256 $SHA"
