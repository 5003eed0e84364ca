package schedule

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsteam/ops/internal/output"
)

// parser is the one schedule syntax of ops: the standard five fields
// (minute hour day-of-month month day-of-week), the descriptors @yearly,
// @annually, @monthly, @weekly, @daily, @midnight, @hourly and @every
// DURATION, each optionally prefixed by CRON_TZ=Area/City (or TZ=).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSpec parses a `schedule:` value as `ops serve` does. Specs without
// CRON_TZ= follow the scheduler's location (Options.Location, by default the
// machine's local time zone). Like cron(8) on most systems, a time that does
// not exist because of a daylight-saving jump (02:30 on the spring-forward
// night) is skipped for that day, and one that happens twice runs once.
func ParseSpec(spec string) (cron.Schedule, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, fmt.Errorf("empty schedule: expected five cron fields (\"0 2 * * *\"), @daily, @hourly or @every DURATION")
	}
	sched, err := parse(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	// robfig/cron silently turns "@every 0s", negative and sub-second
	// intervals into whole seconds; say so instead.
	if rest, ok := strings.CutPrefix(stripTZ(s), "@every "); ok {
		d, _ := time.ParseDuration(strings.TrimSpace(rest)) // Parse above accepted it
		if d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("schedule %q: the @every interval must be a whole number of seconds, at least 1s", spec)
		}
	}
	return sched, nil
}

// ValidateSpec reports whether spec is a valid schedule (config checks
// call it; the message names the spec).
func ValidateSpec(spec string) error {
	_, err := ParseSpec(spec)
	return err
}

// parse calls robfig/cron's parser, which panics on some inputs (a bare
// "TZ=" or "CRON_TZ=Europe/Berlin" without fields): a typo in a config file
// must be an error, never a crash of the daemon.
func parse(s string) (sched cron.Schedule, err error) {
	if (strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ=")) && !strings.ContainsAny(s, " \t") {
		return nil, errors.New("a time zone prefix must be followed by a schedule (CRON_TZ=Europe/Berlin 0 2 * * *)")
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("unparseable: %v", r)
		}
	}()
	return parser.Parse(s)
}

func stripTZ(s string) string {
	if strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ=") {
		if i := strings.IndexByte(s, ' '); i > 0 {
			return strings.TrimSpace(s[i+1:])
		}
	}
	return s
}

// Plan is a job with its next run times (`ops serve --dry-run`,
// `ops schedule`).
type Plan struct {
	Kind     string      `json:"kind"`
	Name     string      `json:"name"`
	Schedule string      `json:"schedule"` // "" = not scheduled
	Next     []time.Time `json:"next"`
}

// PlanJobs computes the next n run times of every job after from, in loc
// for specs without CRON_TZ= (nil = time.Local; CRON_TZ= jobs get their
// times in their own zone), in the jobs' order. It fails
// on the first invalid schedule, like Scheduler.Start.
func PlanJobs(jobs []Job, from time.Time, n int, loc *time.Location) ([]Plan, error) {
	if loc == nil {
		loc = time.Local
	}
	if _, err := prepare(jobs); err != nil {
		return nil, err
	}
	out := make([]Plan, 0, len(jobs))
	for _, j := range jobs {
		p := Plan{Kind: j.Kind, Name: j.Name, Schedule: j.Schedule, Next: []time.Time{}}
		if strings.TrimSpace(j.Schedule) != "" {
			sched, _ := ParseSpec(j.Schedule)
			show := loc // a CRON_TZ= job is shown in its own zone
			if ss, ok := sched.(*cron.SpecSchedule); ok && ss.Location != time.Local {
				show = ss.Location
			}
			t := from.In(loc)
			for range n {
				t = sched.Next(t)
				if t.IsZero() {
					break // a spec that never fires (Feb 30)
				}
				p.Next = append(p.Next, t.In(show))
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// TimeLayout is how the plan and the status page print times.
const TimeLayout = "Mon 2006-01-02 15:04:05 MST"

// WritePlan prints plans as a table: one row per run, the job's kind, name
// and schedule on its first row only.
func WritePlan(w io.Writer, plans []Plan) error {
	var rows [][]string
	for _, p := range plans {
		sched := p.Schedule
		if strings.TrimSpace(sched) == "" {
			rows = append(rows, []string{p.Kind, p.Name, "-", "not scheduled"})
			continue
		}
		if len(p.Next) == 0 {
			rows = append(rows, []string{p.Kind, p.Name, sched, "never"})
			continue
		}
		for i, t := range p.Next {
			if i == 0 {
				rows = append(rows, []string{p.Kind, p.Name, sched, t.Format(TimeLayout)})
			} else {
				rows = append(rows, []string{"", "", "", t.Format(TimeLayout)})
			}
		}
	}
	return output.WriteTable(w, []string{"KIND", "NAME", "SCHEDULE", "NEXT RUNS"}, rows)
}
