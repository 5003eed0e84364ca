package backup

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/storage/local"
)

// The dump's plan (each table's estimated size), its progress (table, SQL
// and compressed bytes, the part's size, the table it ends) reach
// RunOptions.DumpPlanned and DumpProgress, the bytes stored reach
// Progress, and Stored is called with the SQL written before "backup
// complete" is logged (a progress bar ends above that line, not below).
func TestRunBackupReportsProgress(t *testing.T) {
	dump := func(_ context.Context, o dump.DumpOptions, w io.Writer) (*dump.DumpResult, error) {
		if o.Progress == nil || o.Planned == nil {
			t.Fatal("no progress or plan callback passed to the dump")
		}
		o.Planned([]dump.TableEstimate{{Database: "shop", Table: "orders", Bytes: 400, Rows: 4}})
		o.Progress(dump.Progress{})
		_, err := io.WriteString(w, "stream")
		o.Progress(dump.Progress{Database: "shop", Table: "orders", RawBytes: 600, StoredBytes: 6, PartBytes: 600, PartRows: 4})
		o.Progress(dump.Progress{Database: "shop", RawBytes: 620, StoredBytes: 7, PartBytes: 20, Ended: "orders"})
		return &dump.DumpResult{Databases: []string{"shop"}, Compression: o.Compression.OrDefault(), RawBytes: 620}, err
	}
	var got []DumpProgress
	var plan map[string]TableEstimate
	var stored, storedSQL int64
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	_, err := RunBackup(context.Background(), RunOptions{Job: testJob(), Store: local.New(t.TempDir()), Now: backuptest.FixedClock(time.Now()), Dump: dump,
		Logger:       logger,
		DumpPlanned:  func(m map[string]TableEstimate) { plan = m },
		DumpProgress: func(p DumpProgress) { got = append(got, p) }, Progress: func(n int64) { stored = n },
		Stored: func(sql int64) {
			storedSQL = sql
			if strings.Contains(logs.String(), "backup complete") {
				t.Error("Stored called after \"backup complete\" was logged")
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := []DumpProgress{{}, {Table: "shop.orders", RawBytes: 600, StoredBytes: 6, PartBytes: 600, PartRows: 4},
		{RawBytes: 620, StoredBytes: 7, PartBytes: 20, Ended: "shop.orders"}}
	if !reflect.DeepEqual(got, want) || stored != 6 {
		t.Fatalf("progress %+v, stored %d", got, stored)
	}
	if !reflect.DeepEqual(plan, map[string]TableEstimate{"shop.orders": {Bytes: 400, Rows: 4}}) {
		t.Fatalf("plan %v", plan)
	}
	if storedSQL != 620 || !strings.Contains(logs.String(), "backup complete") {
		t.Fatalf("Stored(%d); logs %s", storedSQL, logs.String())
	}
}
