package backuptest

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/storage/mem"
)

const FakeSQL = "CREATE DATABASE IF NOT EXISTS `app`;\nUSE `app`;\nINSERT INTO `t` VALUES (1),(2),(3);\n-- Dump completed\n"

// FakeDump writes fakeSQL compressed as asked and reports one table.
func FakeDump(sql string) func(context.Context, dump.DumpOptions, io.Writer) (*dump.DumpResult, error) {
	return func(_ context.Context, o dump.DumpOptions, w io.Writer) (*dump.DumpResult, error) {
		c, err := o.Compression.NewCodec(o.CompressionLevel, 1)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		frame, err := c.Compress(nil, []byte(sql))
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(frame); err != nil {
			return nil, err
		}
		return &dump.DumpResult{ServerVersion: "10.11.6-MariaDB", ConsistencyMode: "lock", Databases: []string{"app"},
			Tables:      []dump.TableStat{{Database: "app", Name: "t", Rows: 3, Digest: "xxh64sum:000000000000002a"}},
			Compression: o.Compression.OrDefault(), RawBytes: int64(len(sql))}, nil
	}
}

func FixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

var T0 = time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)

// EditManifest rewrites a stored manifest through fn (as someone with
// write access to the target could).
func EditManifest(t *testing.T, s *mem.Store, name string, fn func(m map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(s.Bytes(name), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	data, _ := json.Marshal(m)
	s.Replace(name, data)
}

func WriteKey(t *testing.T, key string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "manifest.key")
	if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
