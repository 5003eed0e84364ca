package pitr

import (
	"strings"
	"testing"

	"github.com/opsteam/ops/backup/mysql/binlog"
)

// A failed replay names the source position it reached
// (TestFaultReplayCutIT shows it through toxiproxy).
func TestReplayedUpTo(t *testing.T) {
	res := &PITRResult{From: binlog.BinlogPos{File: "binlog.000007", Pos: 4}}
	if got := replayedUpTo(res); !strings.Contains(got, "no event applied yet (from binlog.000007:4)") {
		t.Errorf("nothing applied: %q", got)
	}
	res.LastApplied = binlog.BinlogPos{File: "binlog.000008", Pos: 1234}
	if got := replayedUpTo(res); !strings.HasSuffix(got, "ends at source position binlog.000008:1234") {
		t.Errorf("applied up to binlog.000008:1234: %q", got)
	}
}
