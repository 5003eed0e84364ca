package inventory

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Check names of findings.
const (
	CheckHostConnection     = "host_connection"
	CheckHostMaintenance    = "host_maintenance"
	CheckVMPower            = "vm_power"
	CheckFirewallCapability = "firewall_capability"
	CheckChainAcceptEmpty   = "chain_accept_empty"
	CheckLicenseExpired     = "license_expired"
	CheckLicenseExpiring    = "license_expiring"
	CheckSnapshotAge        = "snapshot_age"
)

// EvalOptions parameterises Evaluate.
type EvalOptions struct {
	RequireFirewallCapabilities []string
	// SourceRequirements replace RequireFirewallCapabilities per source
	// name; a declared firewall's require_capabilities replaces both.
	SourceRequirements map[string][]string
	LicenseWarning     time.Duration // 0 = DefaultLicenseWarning
	SnapshotMaxAge     time.Duration // 0 = no snapshot_age finding
	Now                time.Time
}

// Evaluate derives the vHealth-style findings of a report. decl holds the
// declared records (from file sources), used for "declared on but powered
// off". It is pure: same input, same output.
func Evaluate(rep *Report, decl Records, o EvalOptions) []Finding {
	if o.LicenseWarning <= 0 {
		o.LicenseWarning = DefaultLicenseWarning
	}
	out := []Finding{}
	add := func(sev, kind, src, obj, check, msg string) {
		out = append(out, Finding{Severity: sev, Kind: kind, Source: src, Object: obj, Check: check, Message: msg})
	}
	for _, h := range rep.Hosts {
		switch h.Connection {
		case ConnDisconnected:
			add(SeverityError, "host", h.Source, h.Name, CheckHostConnection, "host is disconnected")
		case ConnNotResponding:
			add(SeverityError, "host", h.Source, h.Name, CheckHostConnection, "host is not responding")
		}
		if h.Maintenance {
			add(SeverityWarning, "host", h.Source, h.Name, CheckHostMaintenance, "host is in maintenance mode")
		}
	}
	var vms *nameIndex
	for _, d := range decl.VMs {
		if d.Power != PowerOn {
			continue
		}
		if vms == nil {
			vms = newNameIndex(false, len(rep.VMs))
			for i, v := range rep.VMs {
				vms.add(i, v.Source, v.Name)
			}
		}
		i, ok := vms.find(d.Name, d.scope)
		if !ok {
			continue
		}
		v := rep.VMs[i]
		if v.Power == PowerOff || v.Power == PowerSuspended {
			state := "powered off"
			if v.Power == PowerSuspended {
				state = "suspended"
			}
			add(SeverityError, "vm", v.Source, v.Name, CheckVMPower, fmt.Sprintf("declared on (source %s) but %s", d.Source, state))
		}
	}
	out = append(out, snapshotFindings(rep.VMs, o)...)
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	today := day(o.Now.UTC())
	for _, f := range rep.Firewalls {
		var missing []string
		for _, c := range o.required(f) {
			if !contains(f.Capabilities, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			add(SeverityError, "firewall", f.Source, f.Name, CheckFirewallCapability,
				"missing required capabilities: "+strings.Join(missing, ", "))
		}
		for _, t := range f.Tables {
			for _, c := range t.Chains {
				if c.Hook != "" && (c.Type == "filter" || c.Type == "") && c.Policy == "accept" && c.Rules == 0 {
					add(SeverityWarning, "firewall", f.Source, f.Name, CheckChainAcceptEmpty,
						fmt.Sprintf("chain %s %s %s (hook %s): policy accept and no rules, so everything passes", t.Family, t.Name, c.Name, c.Hook))
				}
			}
		}
		for _, l := range f.Licenses {
			if l.Expires == "" {
				continue
			}
			exp, err := time.Parse(time.DateOnly, l.Expires)
			if err != nil {
				add(SeverityWarning, "firewall", f.Source, f.Name, CheckLicenseExpiring,
					fmt.Sprintf("license %s: unreadable expiry date %q", l.Name, l.Expires))
				continue
			}
			days := int(math.Round(exp.Sub(today).Hours() / 24))
			switch {
			case days < 0:
				add(SeverityError, "firewall", f.Source, f.Name, CheckLicenseExpired,
					fmt.Sprintf("license %s expired on %s (%s ago)", l.Name, l.Expires, plural(-days, "day")))
			case exp.Sub(today) <= o.LicenseWarning:
				when := "today"
				if days > 0 {
					when = "in " + plural(days, "day")
				}
				add(SeverityWarning, "firewall", f.Source, f.Name, CheckLicenseExpiring,
					fmt.Sprintf("license %s expires on %s (%s)", l.Name, l.Expires, when))
			}
		}
	}
	return out
}

// snapshotFindings: a VM whose oldest snapshot is older than
// o.SnapshotMaxAge (0 = never) is a snapshot_age warning.
func snapshotFindings(vms []VM, o EvalOptions) []Finding {
	var out []Finding
	if o.SnapshotMaxAge <= 0 {
		return nil
	}
	add := func(v VM, msg string) {
		out = append(out, Finding{Severity: SeverityWarning, Kind: "vm", Source: v.Source, Object: v.Name, Check: CheckSnapshotAge, Message: msg})
	}
	for _, v := range vms {
		if v.SnapshotOldest == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, v.SnapshotOldest)
		if err != nil {
			add(v, fmt.Sprintf("unreadable snapshot time %q", v.SnapshotOldest))
			continue
		}
		if age := o.Now.Sub(at); age > o.SnapshotMaxAge {
			add(v, fmt.Sprintf("%s, the oldest taken %s (%s ago; limit %s)", plural(v.Snapshots, "snapshot"), v.SnapshotOldest, humanAge(age), shortDuration(o.SnapshotMaxAge)))
		}
	}
	return out
}

// humanAge is a coarse age: days from four days on, else hours, else
// minutes (so that an age just past a limit in hours reads as more).
func humanAge(d time.Duration) string {
	switch {
	case d >= 96*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/time.Minute), "minute")
}

// shortDuration drops the zero tail of a duration: 72h0m0s → 72h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// required is what a firewall must be capable of: its declared
// require_capabilities, else its source's requirement, else the global one.
func (o EvalOptions) required(f Firewall) []string {
	if f.RequireCapabilities != nil {
		return f.RequireCapabilities
	}
	if r, ok := o.SourceRequirements[f.Source]; ok {
		return r
	}
	return o.RequireFirewallCapabilities
}
