#!/usr/bin/env bash
# Recovery point objective of the binlog archiver: the time from a COMMIT on
# mariadb3 to its event being stored in a chunk, with flush_interval 5s, on a
# busy server (a commit every 50 ms) and a quiet one. Runs the integration
# test TestBinlogRPOIT (the real `ops backup binlog` process against the
# local target) with more samples. Not a test: run it by hand, services up
# (scripts/services.sh start mariadb mariadb3).
#
#   bench/binlog-rpo.sh              # 30 busy samples
#   SAMPLES=100 bench/binlog-rpo.sh
set -euo pipefail

cd "$(dirname "$0")/.."
set -a
eval "$(scripts/services.sh env)"
set +a
OPS_IT=1 OPS_RPO_SAMPLES=${SAMPLES:-30} go test -count=1 -v -run '^TestBinlogRPOIT$' -timeout 30m ./cmd/ops/ |
	grep -E 'RPO|^(ok|FAIL|---)'
