package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"testing"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/internal/bytesize"
)

// A compressible table three times larger than the server's estimate, fed
// to the backup's bar as the dump and the store report it (the parts as
// written, the stored bytes in between): the bar never shows more than 99 %
// nor an amount done above the total it shows, and ends at exactly the SQL
// written when the stream is stored.
func TestBackupBarNeverPassesTheEstimate(t *testing.T) {
	rt := &opsRuntime{streams: streams{stdout: io.Discard, stderr: io.Discard}}
	pb, o := rt.backupBar(true, "app", "SQL")
	re := regexp.MustCompile(`\] +(\d+)% (\S+ \S+) of ~(\S+ \S+) SQL`)
	check := func(step string) {
		t.Helper()
		m := re.FindStringSubmatch(pb.Line())
		if m == nil {
			t.Fatalf("%s: %q", step, pb.Line())
		}
		p, _ := strconv.Atoi(m[1])
		done, total := parseHuman(t, m[2]), parseHuman(t, m[3])
		if p > 99 || done > total {
			t.Fatalf("%s: %q", step, pb.Line())
		}
	}
	const mib = 1 << 20
	o.DumpPlanned(map[string]backup.TableEstimate{"shop.orders": {Bytes: 10 * mib}, "shop.items": {Bytes: 10 * mib, Rows: 1000}})
	var raw, stored int64
	for _, table := range []string{"shop.orders", "shop.items"} {
		for range 30 { // 30 MiB: three times the estimate, compressed 20:1
			o.Progress(stored + mib/40) // the store is ahead of the dump's last report
			check(table + " stored")
			raw += mib
			stored += mib / 20
			o.DumpProgress(backup.DumpProgress{Table: table, RawBytes: raw, StoredBytes: stored, PartBytes: mib, PartRows: 10}) // items: 3000 rows, not 1000
			check(table)
		}
		raw += 30
		o.DumpProgress(backup.DumpProgress{RawBytes: raw, StoredBytes: stored, PartBytes: 30, Ended: table})
		check(table + " ended")
	}
	o.Progress(stored + 200) // age's header: not SQL
	o.Stored(raw)
	if l, want := pb.Line(), " 100% "+bytesize.Human(raw)+" of "+bytesize.Human(raw)+" SQL"; !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(l) {
		t.Fatalf("at the end: %q, want %q", l, want)
	}
}

// parseHuman reads back a bytesize.Human amount ("1.5 MiB") to the byte,
// within its rounding.
func parseHuman(t *testing.T, s string) float64 {
	t.Helper()
	var n float64
	var unit string
	if _, err := fmt.Sscan(s, &n, &unit); err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]
	if mult == 0 {
		t.Fatalf("amount %q: unit", s)
	}
	return n * mult
}
