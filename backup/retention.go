package backup

import (
	"fmt"
	"github.com/opsteam/ops/backup/catalog"
	"sort"
	"time"
)

// Retention decisions follow restic's `forget` semantics: backups are
// walked newest first; keep_last keeps the N newest; keep_daily keeps the
// newest backup of each of the last N calendar days that have a backup
// (likewise ISO weeks and months); a backup is kept if any rule keeps it.
// Only complete backups are counted; the newest complete backup is always
// kept, and a policy with every count at 0 keeps everything.

// Snapshot is what retention needs to know of a backup.
type Snapshot struct {
	ID   string
	Time time.Time
}

// Decision is the outcome for one backup.
type Decision struct {
	Snapshot
	Keep    bool
	Reasons []string // "last", "daily 2026-11-28", …
}

// Empty reports whether the policy keeps everything (no rule set).
func (r Retention) Empty() bool {
	return r.KeepLast == 0 && r.KeepDaily == 0 && r.KeepWeekly == 0 && r.KeepMonthly == 0
}

// ApplyRetention decides for each snapshot; calendar buckets are computed in
// loc (time.Local when nil). The result is sorted newest first.
func ApplyRetention(snaps []Snapshot, r Retention, loc *time.Location) []Decision {
	if loc == nil {
		loc = time.Local
	}
	ds := make([]Decision, len(snaps))
	for i, s := range snaps {
		ds[i] = Decision{Snapshot: s}
	}
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Time.Equal(ds[j].Time) {
			// Same start time: the backup made later has the greater ID
			// (freeID's -2, -3, … suffixes), so it is the newer one.
			return catalog.IDAfter(ds[i].ID, ds[j].ID)
		}
		return ds[i].Time.After(ds[j].Time)
	})
	if r.Empty() {
		for i := range ds {
			ds[i].Keep, ds[i].Reasons = true, []string{"no retention policy"}
		}
		return ds
	}
	type rule struct {
		name  string
		count int
		last  string
		key   func(t time.Time, i int) string
	}
	rules := []*rule{
		{name: "last", count: r.KeepLast, key: func(_ time.Time, i int) string { return fmt.Sprint(i) }},
		{name: "daily", count: r.KeepDaily, key: func(t time.Time, _ int) string { return t.In(loc).Format("2006-01-02") }},
		{name: "weekly", count: r.KeepWeekly, key: func(t time.Time, _ int) string {
			y, w := t.In(loc).ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		}},
		{name: "monthly", count: r.KeepMonthly, key: func(t time.Time, _ int) string { return t.In(loc).Format("2006-01") }},
	}
	for i := range ds {
		for _, ru := range rules {
			if ru.count <= 0 {
				continue
			}
			k := ru.key(ds[i].Time, i)
			if k == ru.last {
				continue
			}
			ru.last = k
			ru.count--
			ds[i].Keep = true
			if ru.name == "last" {
				ds[i].Reasons = append(ds[i].Reasons, "last")
			} else {
				ds[i].Reasons = append(ds[i].Reasons, ru.name+" "+k)
			}
		}
	}
	if len(ds) > 0 && !ds[0].Keep {
		ds[0].Keep, ds[0].Reasons = true, []string{"newest"}
	}
	return ds
}
