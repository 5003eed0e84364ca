package backup

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql"
	"github.com/opsteam/ops/backup/storage/local"
)

// The dump's progress (table, SQL and compressed bytes) reaches
// RunOptions.DumpProgress, and the bytes stored reach Progress.
func TestRunBackupReportsProgress(t *testing.T) {
	dump := func(_ context.Context, o mysql.DumpOptions, w io.Writer) (*mysql.DumpResult, error) {
		if o.Progress == nil {
			t.Fatal("no progress callback passed to the dump")
		}
		o.Progress(mysql.Progress{})
		_, err := io.WriteString(w, "stream")
		o.Progress(mysql.Progress{Database: "shop", Table: "orders", RawBytes: 600, StoredBytes: 6})
		return &mysql.DumpResult{Databases: []string{"shop"}, Compression: o.Compression.OrDefault(), RawBytes: 600}, err
	}
	var got []DumpProgress
	var stored int64
	_, err := RunBackup(context.Background(), RunOptions{Job: testJob(), Store: local.New(t.TempDir()), Now: fixedClock(time.Now()), Dump: dump,
		DumpProgress: func(p DumpProgress) { got = append(got, p) }, Progress: func(n int64) { stored = n }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (DumpProgress{}) || got[1] != (DumpProgress{Table: "shop.orders", RawBytes: 600, StoredBytes: 6}) || stored != 6 {
		t.Fatalf("progress %+v, stored %d", got, stored)
	}
}
