package inventory

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiffIdentical(t *testing.T) {
	a, b := sampleReport(t), sampleReport(t)
	b.CollectedAt = b.CollectedAt.Add(24 * 3600e9)
	for i := range b.Sources {
		b.Sources[i].DurationMS = 1234
	}
	if d := Diff(a, b); d.Differ || len(d.Added)+len(d.Removed)+len(d.Changed) != 0 {
		t.Errorf("identical reports differ: %+v", d)
	}
}

func TestDiff(t *testing.T) {
	old := sampleReport(t)
	cur := sampleReport(t)
	// a VM removed, one added, one powered on with more memory and a new IP,
	// a host leaves maintenance, a firewall chain gains rules, a source fails
	cur.VMs = slicesDeleteFunc(cur.VMs, func(v VM) bool { return v.Name == "old-build" })
	cur.VMs = append(cur.VMs, VM{Source: "kvm", Name: "new-vm", Host: "kvm1", Power: PowerOn, CPUs: 1, IPs: []string{}, Datastores: []string{}})
	for i := range cur.VMs {
		if cur.VMs[i].Name == "web-01" {
			cur.VMs[i].Power = PowerOn
			cur.VMs[i].MemoryBytes = 8 << 30
			cur.VMs[i].IPs = []string{"10.0.0.11"}
		}
	}
	for i := range cur.Hosts {
		if cur.Hosts[i].Name == "esx02.example.net" {
			cur.Hosts[i].Maintenance = false
		}
	}
	for i := range cur.Firewalls {
		if cur.Firewalls[i].Name == "gw1" {
			cur.Firewalls[i].Tables[0].Chains[0].Rules = 4 // inet filter forward
			cur.Firewalls[i].Rules = 7
		}
	}
	for i := range cur.Sources {
		if cur.Sources[i].Name == "kvm" {
			cur.Sources[i].OK, cur.Sources[i].Error = false, "connect to libvirtd: connection refused"
		}
	}
	cur.Findings = Evaluate(cur, Records{}, EvalOptions{Now: fixedNow, RequireFirewallCapabilities: []string{"stateful", "ips"}})
	cur.Normalize()

	d := Diff(old, cur)
	if !d.Differ {
		t.Fatal("Differ = false")
	}
	var text bytes.Buffer
	if err := d.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff.txt", text.Bytes())
	var js bytes.Buffer
	if err := d.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff.json", js.Bytes())
}

// Diff works on reports read back from JSON files (the CLI's case).
func TestDiffFiles(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport(t)
	var b bytes.Buffer
	if err := Render(&b, r, FormatJSON, KindAll); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "a.json")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := LoadReport(p)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(a, r); d.Differ {
		t.Errorf("report differs from its own JSON: %+v", d)
	}
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"schema": "something/v9"}`), 0o644)
	if _, err := LoadReport(bad); err == nil || !strings.Contains(err.Error(), `schema "something/v9"`) {
		t.Errorf("LoadReport(bad schema) = %v", err)
	}
	_ = os.WriteFile(bad, []byte(`hosts: []`), 0o644)
	if _, err := LoadReport(bad); err == nil || !strings.Contains(err.Error(), "not an inventory JSON report") {
		t.Errorf("LoadReport(yaml) = %v", err)
	}
}

func slicesDeleteFunc[T any](s []T, del func(T) bool) []T {
	out := s[:0:0]
	for _, x := range s {
		if !del(x) {
			out = append(out, x)
		}
	}
	return out
}
