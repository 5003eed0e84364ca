package schedule

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone database is in the test binary: no skip without tzdata

	"github.com/opsteam/ops/internal/metrics"
)

func TestParseSpec(t *testing.T) {
	t.Parallel()
	for spec, wantErr := range map[string]string{
		"0 2 * * *":                          "",
		"*/15 * * * 1-5":                     "",
		"@daily":                             "",
		"@hourly":                            "",
		"@every 1h":                          "",
		"@every 90s":                         "",
		"  @weekly  ":                        "",
		"CRON_TZ=Europe/Berlin 0 2 * * *":    "",
		"TZ=UTC @daily":                      "",
		"CRON_TZ=Europe/Berlin @every 1h":    "",
		"":                                   "empty schedule",
		"   ":                                "empty schedule",
		"* * *":                              "expected exactly 5 fields",
		"0 0 2 * * *":                        "expected exactly 5 fields", // no seconds field
		"61 * * * *":                         "end of range (61) above maximum (59)",
		"@every 0s":                          "at least 1s",
		"@every -1h":                         "at least 1s",
		"@every 1500ms":                      "whole number of seconds",
		"CRON_TZ=Europe/Berlin @every 500ms": "whole number of seconds",
		"@every":                             "",
		"@fortnightly":                       "unrecognized descriptor",
		"CRON_TZ=Nowhere/City 0 2 * * *":     "provided bad location Nowhere/City",
	} {
		_, err := ParseSpec(spec)
		switch {
		case spec == "@every": // cron reports its own error; only require one
			if err == nil {
				t.Errorf("ParseSpec(%q) accepted", spec)
			}
		case wantErr == "" && err != nil:
			t.Errorf("ParseSpec(%q) = %v", spec, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("ParseSpec(%q) = %v, want an error containing %q", spec, err, wantErr)
		}
		if err := ValidateSpec(spec); (err == nil) != (wantErr == "" && spec != "@every") {
			t.Errorf("ValidateSpec(%q) = %v disagrees with ParseSpec", spec, err)
		}
	}
}

func TestPlanJobs(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	run := newCounter().run(nil)
	// Saturday 2026-03-28 00:00 Berlin; the clocks jump 02:00→03:00 on the 29th.
	from := time.Date(2026, 3, 28, 0, 0, 0, 0, berlin)
	jobs := []Job{
		{Kind: metrics.KindBackup, Name: "app", Schedule: "30 2 * * *", Run: run},
		{Kind: metrics.KindTLSCheck, Name: "partners", Schedule: "@every 1h", Run: run},
		{Kind: metrics.KindInventory, Name: "inventory", Schedule: "CRON_TZ=America/New_York 0 9 * * 1-5", Run: run},
		{Kind: metrics.KindBackup, Name: "manual", Run: run},
	}
	plans, err := PlanJobs(jobs, from, 5, berlin)
	if err != nil {
		t.Fatal(err)
	}
	f := func(p Plan) []string {
		var out []string
		for _, t := range p.Next {
			out = append(out, t.Format("2006-01-02 15:04 MST"))
		}
		return out
	}
	for i, want := range [][]string{
		// 02:30 does not exist on the 29th in Berlin: that day is skipped
		// (robfig/cron behaviour, documented on ParseSpec).
		{"2026-03-28 02:30 CET", "2026-03-30 02:30 CEST", "2026-03-31 02:30 CEST", "2026-04-01 02:30 CEST", "2026-04-02 02:30 CEST"},
		{"2026-03-28 01:00 CET", "2026-03-28 02:00 CET", "2026-03-28 03:00 CET", "2026-03-28 04:00 CET", "2026-03-28 05:00 CET"},
		{"2026-03-30 09:00 EDT", "2026-03-31 09:00 EDT", "2026-04-01 09:00 EDT", "2026-04-02 09:00 EDT", "2026-04-03 09:00 EDT"},
		nil,
	} {
		if got := f(plans[i]); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: next runs\n got %v\nwant %v", plans[i].Name, got, want)
		}
	}

	var b strings.Builder
	if err := WritePlan(&b, plans); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 1+5+5+5+1 {
		t.Errorf("plan has %d lines, want 17:\n%s", len(lines), out)
	}
	for _, s := range []string{"KIND", "NEXT RUNS", "Sat 2026-03-28 02:30:00 CET", "Mon 2026-03-30 02:30:00 CEST",
		"CRON_TZ=America/New_York 0 9 * * 1-5", "manual", "not scheduled"} {
		contains(t, out, s, "plan table")
	}

	if _, err := PlanJobs([]Job{{Kind: "backup", Name: "x", Schedule: "bogus", Run: run}}, from, 5, nil); err == nil ||
		!strings.Contains(err.Error(), "backup/x") {
		t.Errorf("PlanJobs with a bad schedule = %v, want an error naming backup/x", err)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"0 2 * * *", "@every 1h", "CRON_TZ=UTC @daily", "*/5 1-3 * JAN-MAR MON", "@every 1s", "TZ="} {
		f.Add(s)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		sched, err := ParseSpec(spec)
		if err != nil {
			return
		}
		if next := sched.Next(from); !next.IsZero() && !next.After(from) {
			t.Errorf("ParseSpec(%q).Next(%v) = %v, not after", spec, from, next)
		}
	})
}
