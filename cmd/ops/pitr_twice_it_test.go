package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The issue's "recovering twice loses the window": a first `restore
// --until T` onto the source server itself (under other names) replays
// old events into the source's binary log with their original
// timestamps, and the archiver stores them, so the newest archived event
// is older than T. The recoverable window still reaches past T (it comes
// from the greatest event time archived, not from the last event's), so
// a second `restore --until T` under two more names exits 0 too, with
// the same CHECKSUM TABLE as the first and as the source just before T.
func TestPointInTimeRestoreTwiceOntoTheSourceIT(t *testing.T) {
	p := newPitrITNamed(t, "win_twice")
	p.ops(p.cfg, "backup", "run", "--job", "it", "--no-prune")
	mustExec(t, p.root,
		"INSERT INTO "+p.a+".t1 (v, n) SELECT CONCAT('after the backup ', seq), seq FROM "+p.a+".seq_1_to_300",
		"UPDATE "+p.a+".t1 SET n = n + 1 WHERE id % 7 = 0",
		"UPDATE "+p.b+".t2 SET v = MD5(CONCAT(v, 'x')) WHERE id % 5 = 0",
		"DELETE FROM "+p.b+".t2 WHERE id % 11 = 0")
	p.tables = []string{p.a + ".t1", p.b + ".t2"}
	p.beforeT = checksums(t, p.root, p.tables, nil)
	T := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(T) + 20*time.Millisecond)
	mustExec(t, p.root, "DELETE FROM "+p.a+".t1 WHERE id % 2 = 0", "UPDATE "+p.b+".t2 SET n = 0")
	p.ops(p.cfg, "backup", "binlog", "--job", "it", "--once")
	until := T.UTC().Format(time.RFC3339)

	names := func(suffix string) map[string]string {
		return map[string]string{p.a: p.a + suffix, p.b: p.b + suffix}
	}
	t.Cleanup(func() {
		for _, s := range []string{"_w1", "_w2"} {
			for _, db := range names(s) {
				p.root.Exec("DROP DATABASE IF EXISTS " + db)
			}
		}
	})
	// restore returns the restored tables' checksums and where its replay
	// stopped ("up to FILE:POS (event at TIME)").
	restore := func(suffix string) (map[string]string, string) {
		t.Helper()
		m := names(suffix)
		args := []string{"--config", p.cfg, "backup", "restore", "--job", "it", "--until", until,
			"--database", p.a + "=" + m[p.a], "--database", p.b + "=" + m[p.b]}
		code, out, stderr := runOps(t, args...)
		if code != 0 {
			t.Fatalf("ops %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, stderr)
		}
		t.Logf("restore --until %s as %s: %s", until, suffix, strings.TrimSpace(out))
		_, stop, _ := strings.Cut(strings.TrimSpace(out), " up to ")
		return checksums(t, p.root, p.tables, m), stop
	}
	first, firstStop := restore("_w1")
	sameSums(t, "first restore onto the source", first, p.beforeT)

	// The archiver stores the first restore's writes: its base (new
	// timestamps), then the replayed events (their original timestamps).
	p.ops(p.cfg, "backup", "binlog", "--job", "it", "--once")
	chunks := p.chunks(t)
	newest := chunks[len(chunks)-1]
	// Usually the newest chunk ends with the replayed events, older than T
	// (what made the second restore exit 2 when the window came from the
	// last event). Other tests writing to the same server at that moment
	// can put a newer event last: then this run does not show it, and
	// TestWindowsFromTheNewestEvent (unit) still does.
	t.Logf("newest chunk %s: last event %s (before T: %v), greatest event %s", newest.Start, newest.LastEvent.UTC().Format(time.RFC3339),
		newest.LastEvent.Before(T), newest.MaxEvent.UTC().Format(time.RFC3339))
	if newest.MaxEvent.Before(T) {
		t.Errorf("the newest chunk's max_event %s is before T %s: it holds the first restore's writes, stamped after T", newest.MaxEvent, T)
	}
	var l binlogListing
	if err := json.Unmarshal([]byte(p.ops(p.cfg, "backup", "list", "--binlog", "--job", "it", "--output", "json")), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Windows) != 1 || !l.Windows[0].Recoverable || l.Windows[0].Until.Before(T) || l.Windows[0].UntilPosition != newest.Next {
		t.Errorf("list --binlog after the replay onto the source: windows %+v, want one reaching %s and %s", l.Windows, until, newest.Next)
	}
	t.Logf("list --binlog:\n%s", p.ops(p.cfg, "backup", "list", "--binlog", "--job", "it"))
	// verify reads every chunk of the window and recomputes max_event.
	t.Logf("verify: %s", strings.TrimSpace(p.ops(p.cfg, "backup", "verify", "--job", "it")))

	second, secondStop := restore("_w2")
	if firstStop == "" || secondStop != firstStop {
		t.Errorf("the replays stopped at %q and %q: want the same event", firstStop, secondStop)
	}
	sameSums(t, "second restore onto the source", second, p.beforeT)
	sameSums(t, "second restore against the first", second, first)
}
