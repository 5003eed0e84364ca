package schedule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/metrics"
)

func mustSpec(t *testing.T, spec string) time.Duration {
	t.Helper()
	s, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	// A Wednesday noon: the weekend is within the next eight days.
	return scheduleInterval(s, time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
}

// The interval is the longest gap between runs: a weekday schedule's is the
// weekend's, so that a Monday morning is not red.
func TestScheduleInterval(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]time.Duration{
		"@every 2s":           2 * time.Second,
		"0 3 * * *":           24 * time.Hour,
		"@hourly":             time.Hour,
		"0 3 * * 1-5":         72 * time.Hour,
		"*/15 8-18 * * *":     13*time.Hour + 15*time.Minute, // 18:45 → 08:00
		"CRON_TZ=UTC @weekly": 7 * 24 * time.Hour,
	} {
		if got := mustSpec(t, spec); got != want {
			t.Errorf("interval of %q = %s, want %s", spec, got, want)
		}
	}
}

func TestStoredBackupJudge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	daily, _ := ParseSpec("0 3 * * *")
	for _, c := range []struct {
		name  string
		b     StoredBackup
		sched bool
		level string
		stale bool
		note  string
	}{
		{"fresh", StoredBackup{ID: "a", Time: now.Add(-30 * time.Hour)}, true, LevelOK, false, "fresh: newer than 48h"},
		{"just under twice", StoredBackup{ID: "a", Time: now.Add(-48*time.Hour + time.Second)}, true, LevelOK, false, "fresh"},
		{"stale", StoredBackup{ID: "a", Time: now.Add(-48*time.Hour - time.Second)}, true, LevelFailure, true, "stale: older than 48h"},
		{"none", StoredBackup{}, true, LevelFailure, false, "no good backup in storage"},
		{"unreadable, none known", StoredBackup{Err: "connection refused"}, true, LevelProblem, false, "storage could not be read"},
		{"unreadable, fresh known", StoredBackup{ID: "a", Time: now.Add(-time.Hour), Err: "x"}, true, LevelProblem, false, "fresh"},
		{"unreadable, stale known", StoredBackup{ID: "a", Time: now.Add(-72 * time.Hour), Err: "x"}, true, LevelFailure, true, "stale"},
		{"not scheduled", StoredBackup{ID: "a", Time: now.Add(-900 * time.Hour)}, false, "", false, "not scheduled"},
	} {
		b := c.b
		var s = daily
		if !c.sched {
			s = nil
		}
		b.judge(s, now)
		if b.Level != c.level || b.Stale != c.stale || !strings.Contains(b.Note, c.note) {
			t.Errorf("%s: level %q stale %v note %q; want %q %v %q", c.name, b.Level, b.Stale, b.Note, c.level, c.stale, c.note)
		}
		if c.sched && b.StaleAfterSeconds != 48*3600 {
			t.Errorf("%s: stale after %ds, want 48h", c.name, b.StaleAfterSeconds)
		}
	}
}

func TestArchiverLevel(t *testing.T) {
	t.Parallel()
	win := &RecoveryWindow{Backup: "x"}
	for _, c := range []struct {
		name string
		a    ArchiverStatus
		want string
	}{
		{"ok", ArchiverStatus{Running: true, Window: win, SilentSeconds: 3}, LevelOK},
		{"no window", ArchiverStatus{Running: true}, LevelFailure},
		{"stored gap", ArchiverStatus{Running: true, Window: win, ArchiveGaps: 1}, LevelFailure},
		{"gap met", ArchiverStatus{Running: true, Window: win, GapsSeen: 1}, LevelFailure},
		{"silent server", ArchiverStatus{Running: true, Window: win, SilentSeconds: 31}, LevelProblem},
		{"not running", ArchiverStatus{Window: win}, LevelProblem},
		{"storage unreadable", ArchiverStatus{Running: true, Err: "refused"}, LevelProblem},
	} {
		if got := c.a.level(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// rowOf returns the <tr> of one job of the page.
func rowOf(t *testing.T, page, kind, name string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<tr class="([^"]*)" data-kind="` + kind + `" data-name="` + name + `">.*?</tr>`)
	m := re.FindString(page)
	if m == "" {
		t.Fatalf("no row for %s %s in:\n%s", kind, name, page)
	}
	return m
}

// The page shows each backup job's last good backup from the source (red
// when older than twice its schedule's interval), the inventory's findings
// coloured by the worst even when the run succeeded, and the archives'
// lag and recoverable window; /status.json carries the same.
func TestStatusPageFromSource(t *testing.T) {
	t.Parallel()
	now := time.Now()
	inv := func(context.Context) (metrics.Result, error) {
		return metrics.Result{Inventory: &metrics.Inventory{Findings: map[string]int{"error": 3, "warning": 1}}}, nil
	}
	src := func(context.Context) StatusExtra {
		return StatusExtra{
			Backups: map[string]StoredBackup{
				"fresh":  {ID: "20261207T030000Z", Time: now.Add(-90 * time.Minute), Size: 1536, CheckedAt: now},
				"old":    {ID: "20261204T030000Z", Time: now.Add(-75 * time.Hour), Size: 2048, CheckedAt: now},
				"manual": {ID: "20261101T030000Z", Time: now.Add(-800 * time.Hour), Size: 10, CheckedAt: now},
			},
			Archivers: []ArchiverStatus{{Job: "fresh", Running: true, LastEvent: now.Add(-2 * time.Second), LagSeconds: 0.5, SilentSeconds: 1,
				Window: &RecoveryWindow{From: now.Add(-90 * time.Minute), Backup: "20261207T030000Z", Until: now.Add(-2 * time.Second),
					UntilPosition: "mariadb-bin.000042:1234", Backups: 1}}},
		}
	}
	e := newEnv(t, Options{StatusSource: src},
		Job{Kind: kb, Name: "fresh", Schedule: "@every 1h", Run: newCounter().run(nil)},
		Job{Kind: kb, Name: "old", Schedule: "@daily", Run: newCounter().run(nil)},
		Job{Kind: kb, Name: "manual", Run: newCounter().run(nil)},
		Job{Kind: metrics.KindInventory, Name: "inventory", Schedule: "@daily", Run: inv},
	)
	if err := e.s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !e.s.RunNow(JobID{Kind: metrics.KindInventory, Name: "inventory"}) {
		t.Fatal("the inventory did not start")
	}
	eventually(t, "the inventory run", func() bool {
		for _, j := range e.s.Status() {
			if j.Kind == metrics.KindInventory && j.Runs == 1 {
				return true
			}
		}
		return false
	})
	srv := httptest.NewServer(e.s.Handler())
	defer srv.Close()
	code, page := get(t, srv.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("/: %d", code)
	}
	fresh := rowOf(t, page, kb, "fresh")
	for _, s := range []string{`class="row-success"`, `<span class="backup success"><code>20261207T030000Z</code>`, "1h30m ago", "1.5 KiB", "fresh: newer than 2h"} {
		contains(t, fresh, s, "fresh backup row")
	}
	old := rowOf(t, page, kb, "old")
	for _, s := range []string{`class="row-failure"`, `<span class="backup failure"><code>20261204T030000Z</code>`, "3d3h ago", "stale: older than 48h"} {
		contains(t, old, s, "stale backup row")
	}
	manual := rowOf(t, page, kb, "manual")
	for _, s := range []string{`class="row-"`, `<span class="backup "><code>20261101T030000Z</code>`, "not scheduled: no age limit"} {
		contains(t, manual, s, "unscheduled backup row")
	}
	invRow := rowOf(t, page, metrics.KindInventory, "inventory")
	for _, s := range []string{`class="row-failure"`, `<span class="sev-error failure">3 error</span> · <span class="sev-warning problem">1 warning</span> · <span class="sev-info">0 info</span>`,
		`<span class="success">success</span>`} {
		contains(t, invRow, s, "inventory row")
	}
	arch := rowOf(t, page, "binlog", "fresh")
	for _, s := range []string{`class="row-success"`, `<td class="num lag">500ms</td>`, `from backup <code>20261207T030000Z</code>`, "<code>mariadb-bin.000042:1234</code>"} {
		contains(t, arch, s, "archive row")
	}

	_, js := get(t, srv.URL+"/status.json")
	var st StatusPage
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	levels := map[string]string{}
	for _, j := range st.Jobs {
		levels[j.Name] = j.Level
		if j.Name == "old" && (j.Stored == nil || !j.Stored.Stale || j.Stored.StaleAfterSeconds != 48*3600) {
			t.Errorf("/status.json: old's stored backup %+v", j.Stored)
		}
	}
	if levels["fresh"] != LevelOK || levels["old"] != LevelFailure || levels["inventory"] != LevelFailure || levels["manual"] != "" {
		t.Errorf("/status.json levels %v\n%s", levels, js)
	}
	if len(st.Archivers) != 1 || st.Archivers[0].Window == nil || st.Archivers[0].Level != LevelOK {
		t.Errorf("/status.json archivers: %s", js)
	}
}

func TestAge(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		42 * time.Second:               "42s",
		5*time.Minute + 20*time.Second: "5m",
		90 * time.Minute:               "1h30m",
		26 * time.Hour:                 "26h",
		75 * time.Hour:                 "3d3h",
		96 * time.Hour:                 "4d",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%s) = %q, want %q", d, got, want)
		}
	}
}
