package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/mysql/binlog"
	"github.com/opsteam/ops/backup/pitr"
)

// list --binlog's archive table shows the greatest event time archived,
// not the last event's: after a recovery replayed old events into the
// source, the newest chunk ends with events older than what it holds.
func TestBinlogListShowsTheNewestEvent(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	pos := func(p uint64) binlog.BinlogPos { return binlog.BinlogPos{File: "binlog.000001", Pos: p} }
	chunks := []*pitr.ChunkInfo{
		{Status: catalog.StatusComplete, Start: pos(4), Follows: pos(4), End: pos(500), Next: pos(500),
			FirstEvent: t0, LastEvent: t0.Add(time.Minute), MaxEvent: t0.Add(time.Minute)},
		{Status: catalog.StatusComplete, Start: pos(500), Follows: pos(500), End: pos(900), Next: pos(900),
			FirstEvent: t0.Add(5 * time.Minute), LastEvent: t0.Add(-time.Hour), MaxEvent: t0.Add(5 * time.Minute)},
	}
	ch := pitr.AnalyzeBinlog("app", chunks, nil)
	var b bytes.Buffer
	if err := writeBinlogTables(&b, []*pitr.BinlogChain{ch}, binlogListing{}); err != nil {
		t.Fatal(err)
	}
	want := t0.Add(5 * time.Minute).Local().Format(time.DateTime)
	if !strings.Contains(b.String(), "NEWEST EVENT") || !strings.Contains(b.String(), want) {
		t.Errorf("list --binlog table, want the newest event %s:\n%s", want, b.String())
	}
}
