package inventory

import (
	"slices"
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	fw := func(caps []string, lic ...License) Firewall {
		return Firewall{Source: "d", Name: "fw", Capabilities: caps, Licenses: lic}
	}
	tests := []struct {
		name string
		rep  Report
		decl Records
		opt  EvalOptions
		want []string // "severity check object: message"
	}{
		{name: "healthy", rep: Report{
			Hosts: []Host{{Source: "vc", Name: "h", Connection: ConnConnected, Power: PowerOn}},
			VMs:   []VM{{Source: "vc", Name: "v", Power: PowerOn}},
		}},
		{name: "host states", rep: Report{Hosts: []Host{
			{Source: "vc", Name: "a", Connection: ConnDisconnected},
			{Source: "vc", Name: "b", Connection: ConnNotResponding},
			{Source: "vc", Name: "c", Connection: ConnConnected, Maintenance: true},
		}}, want: []string{
			"error host_connection a: host is disconnected",
			"error host_connection b: host is not responding",
			"warning host_maintenance c: host is in maintenance mode",
		}},
		{name: "declared on but off or suspended", rep: Report{VMs: []VM{
			{Source: "vc", Name: "off", Power: PowerOff},
			{Source: "vc", Name: "susp", Power: PowerSuspended},
			{Source: "vc", Name: "on", Power: PowerOn},
			{Source: "vc", Name: "undeclared-off", Power: PowerOff},
			{Source: "kvm", Name: "scoped", Power: PowerOff},
		}}, decl: Records{VMs: []VM{
			{Source: "f", Name: "off", Power: PowerOn},
			{Source: "f", Name: "susp", Power: PowerOn},
			{Source: "f", Name: "on", Power: PowerOn},
			{Source: "f", Name: "scoped", Power: PowerOn, scope: "vc"}, // expected on vc, found on kvm: no match
			{Source: "f", Name: "declared-off", Power: PowerOff},
		}}, want: []string{
			"error vm_power off: declared on (source f) but powered off",
			"error vm_power susp: declared on (source f) but suspended",
		}},
		{name: "required capabilities", rep: Report{Firewalls: []Firewall{fw([]string{"stateful"})}},
			opt:  EvalOptions{RequireFirewallCapabilities: []string{"stateful", "ips", "url_filtering"}},
			want: []string{"error firewall_capability fw: missing required capabilities: ips, url_filtering"}},
		{name: "capabilities present", rep: Report{Firewalls: []Firewall{fw([]string{"ips", "stateful"})}},
			opt: EvalOptions{RequireFirewallCapabilities: []string{"stateful", "ips"}}},
		{name: "licences", rep: Report{Firewalls: []Firewall{fw(nil,
			License{Name: "old", Expires: "2026-11-27"},
			License{Name: "today", Expires: "2026-11-28"},
			License{Name: "soon", Expires: "2026-12-28"},
			License{Name: "later", Expires: "2026-12-29"},
			License{Name: "forever"},
		)}}, want: []string{
			"error license_expired fw: license old expired on 2026-11-27 (1 day ago)",
			"warning license_expiring fw: license soon expires on 2026-12-28 (in 30 days)",
			"warning license_expiring fw: license today expires on 2026-11-28 (today)",
		}},
		{name: "licence window", rep: Report{Firewalls: []Firewall{fw(nil, License{Name: "x", Expires: "2026-12-05"})}},
			opt: EvalOptions{LicenseWarning: 3 * 24 * time.Hour}},
		{name: "open chains", rep: Report{Firewalls: []Firewall{{Source: "nft", Name: "gw", Tables: []Table{{Family: "inet", Name: "filter", Chains: []Chain{
			{Name: "input", Type: "filter", Hook: "input", Policy: "accept", Rules: 0},
			{Name: "fwd", Type: "filter", Hook: "forward", Policy: "accept", Rules: 2},
			{Name: "out", Type: "filter", Hook: "output", Policy: "drop", Rules: 0},
			{Name: "nat", Type: "nat", Hook: "postrouting", Policy: "accept", Rules: 0},
			{Name: "regular", Type: "", Hook: "", Rules: 0},
		}}}}}}, want: []string{
			"warning chain_accept_empty gw: chain inet filter input (hook input): policy accept and no rules, so everything passes",
		}},
		{name: "snapshot age", rep: Report{VMs: []VM{
			{Source: "vc", Name: "old", Snapshots: 3, SnapshotOldest: "2026-11-20T12:00:00Z"},
			{Source: "vc", Name: "at-limit", Snapshots: 1, SnapshotOldest: "2026-11-25T12:00:00Z"},
			{Source: "kvm", Name: "hours", Snapshots: 1, SnapshotOldest: "2026-11-25T08:00:00Z"},
			{Source: "vc", Name: "none"},
			{Source: "vc", Name: "bad", Snapshots: 1, SnapshotOldest: "yesterday"},
		}}, opt: EvalOptions{SnapshotMaxAge: 72 * time.Hour}, want: []string{
			"warning snapshot_age hours: 1 snapshot, the oldest taken 2026-11-25T08:00:00Z (76 hours ago; limit 72h)",
			"warning snapshot_age bad: unreadable snapshot time \"yesterday\"",
			"warning snapshot_age old: 3 snapshots, the oldest taken 2026-11-20T12:00:00Z (8 days ago; limit 72h)",
		}},
		{name: "snapshot age off", rep: Report{VMs: []VM{{Source: "vc", Name: "old", Snapshots: 1, SnapshotOldest: "2020-01-01T00:00:00Z"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opt.Now.IsZero() {
				tc.opt.Now = fixedNow
			}
			tc.rep.Findings = Evaluate(&tc.rep, tc.decl, tc.opt)
			tc.rep.Normalize()
			var got []string
			for _, f := range tc.rep.Findings {
				got = append(got, f.Severity+" "+f.Check+" "+f.Object+": "+f.Message)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}
