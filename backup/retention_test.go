package backup

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone database is in the test binary: no skip without tzdata

	"github.com/opsteam/ops/backup/backuptest"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage/mem"
)

// A simulated month: one backup a day at 02:00 plus an extra one at 14:00
// every Sunday, from 2026-10-01 to 2026-11-28 (Europe/Paris, across the DST
// change of 2026-10-25). The expected sets are worked out by hand from
// restic's rules.
func TestRetentionSimulatedMonths(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	var snaps []Snapshot
	for d := time.Date(2026, 10, 1, 2, 0, 0, 0, loc); !d.After(time.Date(2026, 11, 28, 2, 0, 0, 0, loc)); d = d.AddDate(0, 0, 1) {
		snaps = append(snaps, Snapshot{ID: d.Format("0102-1504"), Time: d})
		if d.Weekday() == time.Sunday {
			e := d.Add(12 * time.Hour)
			snaps = append(snaps, Snapshot{ID: e.Format("0102-1504"), Time: e})
		}
	}
	kept := func(r Retention) string {
		var ids []string
		for _, d := range ApplyRetention(snaps, r, loc) {
			if d.Keep {
				ids = append(ids, d.ID)
			}
		}
		return strings.Join(ids, " ")
	}
	cases := []struct {
		name string
		r    Retention
		want string
	}{
		{"last 3", Retention{KeepLast: 3}, "1128-0200 1127-0200 1126-0200"},
		// 11-22 is a Sunday: its 14:00 backup is that day's newest.
		{"daily 7", Retention{KeepDaily: 7}, "1128-0200 1127-0200 1126-0200 1125-0200 1124-0200 1123-0200 1122-1400"},
		// ISO weeks (Mon–Sun): newest of each of the last 4 weeks that have backups.
		{"weekly 4", Retention{KeepWeekly: 4}, "1128-0200 1122-1400 1115-1400 1108-1400"},
		{"monthly 12", Retention{KeepMonthly: 12}, "1128-0200 1031-0200"},
		{"combined", Retention{KeepLast: 2, KeepDaily: 3, KeepWeekly: 2, KeepMonthly: 2},
			"1128-0200 1127-0200 1126-0200 1122-1400 1031-0200"},
	}
	for _, c := range cases {
		if got := kept(c.r); got != c.want {
			t.Errorf("%s:\n got  %s\n want %s", c.name, got, c.want)
		}
	}
}

func TestRetentionNeverDropsNewestAndEmptyKeepsAll(t *testing.T) {
	now := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	var snaps []Snapshot
	for i := 0; i < 5; i++ {
		snaps = append(snaps, Snapshot{ID: fmt.Sprint(i), Time: now.Add(-time.Duration(i) * time.Hour)})
	}
	for _, d := range ApplyRetention(snaps, Retention{}, time.UTC) {
		if !d.Keep {
			t.Fatalf("empty policy dropped %s", d.ID)
		}
	}
	// keep_monthly 1 keeps the newest of this month; nothing else.
	ds := ApplyRetention(snaps, Retention{KeepMonthly: 1}, time.UTC)
	if !ds[0].Keep || ds[0].ID != "0" {
		t.Fatalf("newest not kept: %+v", ds[0])
	}
	for _, d := range ds[1:] {
		if d.Keep {
			t.Errorf("kept %s", d.ID)
		}
	}
	// Order of input does not matter.
	rev := []Snapshot{snaps[4], snaps[2], snaps[0], snaps[3], snaps[1]}
	if got := ApplyRetention(rev, Retention{KeepLast: 2}, time.UTC); got[0].ID != "0" || got[1].ID != "1" || !got[1].Keep || got[2].Keep {
		t.Errorf("unsorted input: %+v", got)
	}
}

func TestRetentionZeroUnset(t *testing.T) {
	def := Retention{KeepLast: 7, KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12}
	r := def
	r.ZeroUnset(func(string) bool { return false })
	if r != def {
		t.Errorf("nothing set: %+v", r)
	}
	r = Retention{KeepLast: 7, KeepDaily: 3, KeepWeekly: 4, KeepMonthly: 12}
	r.ZeroUnset(func(k string) bool { return k == "keep_daily" })
	if r != (Retention{KeepDaily: 3}) {
		t.Errorf("keep_daily set: %+v", r)
	}
}

// Backups in the same second (same start time, IDs from freeID): the one
// made later, with the greater run number, is the newer one: keep_last 1 and
// keep_daily 1 keep it, whatever the order retention is given them in, and
// "-10" is after "-9" (numbers, not strings).
func TestRetentionSameSecondTieBreak(t *testing.T) {
	at := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	earlier := Snapshot{ID: catalog.NewID(at.Add(-time.Hour)), Time: at.Add(-time.Hour)}
	cases := []struct {
		ids  []string
		want string
	}{
		{[]string{"20261128T020000Z", "20261128T020000Z-2"}, "20261128T020000Z-2"},
		{[]string{"20261128T020000Z-2", "20261128T020000Z-3"}, "20261128T020000Z-3"},
		{[]string{"20261128T020000Z-9", "20261128T020000Z-10"}, "20261128T020000Z-10"},
		{[]string{"20261128T020000Z", "20261128T020000Z-2", "20261128T020000Z-10", "20261128T020000Z-9"}, "20261128T020000Z-10"},
	}
	for _, c := range cases {
		for _, rev := range []bool{false, true} {
			snaps := []Snapshot{earlier}
			for i := range c.ids {
				id := c.ids[i]
				if rev {
					id = c.ids[len(c.ids)-1-i]
				}
				snaps = append(snaps, Snapshot{ID: id, Time: at})
			}
			for _, r := range []Retention{{KeepLast: 1}, {KeepDaily: 1}, {KeepMonthly: 1}} {
				var kept []string
				ds := ApplyRetention(snaps, r, time.UTC)
				for _, d := range ds {
					if d.Keep {
						kept = append(kept, d.ID)
					}
				}
				if strings.Join(kept, " ") != c.want || ds[0].ID != c.want {
					t.Errorf("%v (input reversed %v), %+v: kept %q (newest %s), want only %s", c.ids, rev, r, kept, ds[0].ID, c.want)
				}
			}
		}
	}
}

func TestIDAfter(t *testing.T) {
	order := []string{ // oldest first
		"20261128T015959Z", "20261128T015959Z-2",
		"20261128T020000Z", "20261128T020000Z-2", "20261128T020000Z-9", "20261128T020000Z-10", "20261128T020000Z-11",
		"20261128T020001Z",
	}
	for i := range order {
		for j := range order {
			if got := catalog.IDAfter(order[i], order[j]); got != (i > j) {
				t.Errorf("idAfter(%s, %s) = %v", order[i], order[j], got)
			}
		}
	}
}

// Eleven runs of a job in the same millisecond: list shows the last one
// first, "latest" is the last one, and prune with keep_last 1 keeps it.
func TestSameSecondBackupsListAndPrune(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	at := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	var last *catalog.Manifest
	for i := 0; i < 11; i++ {
		last = fakeBackup(t, s, "app", at, fmt.Sprint("run ", i), false)
	}
	if want := catalog.NewID(at) + "-11"; last.ID != want {
		t.Fatalf("11th run's ID %s, want %s", last.ID, want)
	}
	list, err := ListBackups(ctx, s, Job{Name: "app"}, false)
	if err != nil || len(list) != 11 {
		t.Fatalf("list: %d backups, %v", len(list), err)
	}
	for i, b := range list {
		want := catalog.NewID(at)
		if n := 11 - i; n > 1 {
			want += fmt.Sprintf("-%d", n)
		}
		if b.ID != want {
			t.Errorf("list[%d] = %s, want %s", i, b.ID, want)
		}
	}
	if b, err := FindBackup(ctx, s, Job{Name: "app"}, "latest"); err != nil || b.ID != last.ID {
		t.Errorf("latest = %v, %v; want %s", b, err, last.ID)
	}
	j := testJob()
	j.Name, j.Retention = "app", Retention{KeepLast: 1}
	res, err := Prune(ctx, PruneOptions{Job: j, Store: s, DryRun: true, Location: time.UTC, Now: backuptest.FixedClock(at.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Decisions {
		if d.Keep != (d.ID == last.ID) {
			t.Errorf("prune keep_last 1: %s keep=%v; only %s must be kept", d.ID, d.Keep, last.ID)
		}
	}
}
