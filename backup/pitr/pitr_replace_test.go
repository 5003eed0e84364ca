package pitr

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/mysql/binlogfake"
	"github.com/opsteam/ops/backup/mysql/replay"
	"github.com/opsteam/ops/backup/mysql/restore"
	"github.com/opsteam/ops/backup/storage/mem"
)

// A point-in-time restore with --replace swaps the new copy in only after
// the replay into it succeeded: a replay that fails (here the client
// exits 1) discards the new copy and never swaps, so the original stays
// as it was; a replay that succeeds swaps. The restore is asked to defer
// its swap, and the replay writes into the name the restore wrote under.
func TestPointInTimeReplaceSwapsOnlyAfterTheReplay(t *testing.T) {
	s := mem.New()
	job := binlogJob()
	srv := binlogfake.New(3308)
	srv.Commit(3)
	backupAt(t, s, job, srv, backuptest.T0)
	srv.Statements("INSERT INTO t VALUES (1)") // (in another database: the fake's events cannot be applied)
	archiveOnce(t, s, job, &fakeSource{srv: srv})
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name, client string
		want         []string
	}{
		{"replay fails", script("bad-client", "cat >/dev/null; exit 1"), []string{"discard"}},
		{"replay succeeds", script("good-client", "cat >/dev/null"), []string{"swap"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls []string
			deferred := false
			opts := PITROptions{Job: job, Point: PointAtPosition(srv.Current()),
				BinlogTool: script("binlog", "cat >/dev/null"), Client: c.client, TempDir: dir, ReplayMode: replay.ModeStock,
				BackupRestoreOptions: backup.BackupRestoreOptions{Store: s, Replace: true, TrustUnauthenticated: true,
					Restore: func(_ context.Context, ro restore.RestoreOptions, _ io.Reader) (*restore.RestoreResult, error) {
						deferred = ro.DeferSwap
						written := map[string]string{}
						var dbs []string
						for _, dst := range ro.Databases {
							written[dst] = dst + "__ops_new_0000abcd"
							dbs = append(dbs, written[dst])
						}
						return &restore.RestoreResult{Databases: dbs, Written: written,
							Swap:    func(context.Context) error { calls = append(calls, "swap"); return nil },
							Discard: func(context.Context) error { calls = append(calls, "discard"); return nil }}, nil
					}}}
			_, err := RestorePointInTime(context.Background(), opts)
			if !deferred {
				t.Error("the base restore was not asked to defer its swap")
			}
			if (err == nil) != (c.want[0] == "swap") || !slices.Equal(calls, c.want) {
				t.Errorf("err %v, calls %v, want %v", err, calls, c.want)
			}
		})
	}
}

func TestWrittenMapping(t *testing.T) {
	got := writtenMapping(map[string]string{"a": "shop", "b": "new"}, map[string]string{"shop": "shop__ops_new_1", "new": "new"})
	if got["a"] != "shop__ops_new_1" || got["b"] != "new" || len(got) != 2 {
		t.Errorf("%v", got)
	}
}
