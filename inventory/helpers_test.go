package inventory

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// golden compares got with testdata/NAME.golden (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./inventory -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run with -update to accept):\n%s", t.Name(), p, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(no line differs)"
}

// fixedNow is the clock of every unit test.
var fixedNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// fakeSource returns canned records, an error, or blocks.
type fakeSource struct {
	name, typ string
	recs      Records
	err       error
	delay     time.Duration // wait (honouring ctx) before answering
	ignoreCtx bool          // with delay: sleep without looking at ctx (a hung library)
	panicMsg  string
	wait      time.Duration
}

func (f *fakeSource) Name() string           { return f.name }
func (f *fakeSource) Type() string           { return f.typ }
func (f *fakeSource) Endpoint() string       { return "fake://" + f.name }
func (f *fakeSource) Timeout() time.Duration { return f.wait }
func (f *fakeSource) Collect(ctx context.Context) (Records, error) {
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	if f.delay > 0 {
		if f.ignoreCtx {
			time.Sleep(f.delay)
		} else {
			select {
			case <-time.After(f.delay):
			case <-ctx.Done():
				return Records{}, ctx.Err()
			}
		}
	}
	return f.recs, f.err
}

// sampleSources is a small multi-hypervisor estate: a vCenter with a
// maintenance and a disconnected host, a libvirt node, an nftables ruleset
// with an open chain, a declared file with Hyper-V hosts and appliances,
// and one source that fails.
func sampleSources() []Source {
	vc := &fakeSource{name: "vc", typ: TypeVCenter, recs: Records{
		Hosts: []Host{
			{Name: "esx01.example.net", Hypervisor: "esxi", Version: "8.0.2", Build: "21997540", Vendor: "Dell Inc.", Model: "PowerEdge R650",
				CPUModel: "Intel(R) Xeon(R) Gold 6338", CPUSockets: 2, CPUCores: 64, CPUThreads: 128, CPUMHz: 2000, MemoryBytes: 549755813888,
				Cluster: "prod", Connection: ConnConnected, Power: PowerOn},
			{Name: "esx02.example.net", Hypervisor: "esxi", Version: "8.0.2", Build: "21997540", Vendor: "Dell Inc.", Model: "PowerEdge R650",
				CPUSockets: 2, CPUCores: 64, CPUThreads: 128, CPUMHz: 2000, MemoryBytes: 549755813888,
				Cluster: "prod", Connection: ConnConnected, Power: PowerOn, Maintenance: true},
			{Name: "esx03.example.net", Hypervisor: "esxi", Version: "7.0.3", Vendor: "HPE", Model: "DL360",
				Connection: ConnDisconnected, Power: PowerOff},
		},
		VMs: []VM{
			{Name: "web-01", UUID: "4203a1b2-0000-0000-0000-000000000001", Host: "esx01.example.net", Cluster: "prod", Power: PowerOff, CPUs: 2,
				MemoryBytes: 4 << 30, GuestOS: "Ubuntu Linux (64-bit)", IPs: []string{}, Datastores: []string{"ds-ssd"}},
			{Name: "web-02", UUID: "4203a1b2-0000-0000-0000-000000000002", Host: "esx01.example.net", Cluster: "prod", Power: PowerOn, CPUs: 2,
				MemoryBytes: 4 << 30, GuestOS: "Ubuntu Linux (64-bit)", IPs: []string{"10.0.0.12", "10.0.0.2"}, Datastores: []string{"ds-ssd"}, Snapshots: 2,
				SnapshotOldest: "2026-11-20T08:30:00Z", SnapshotBytes: 3 << 30},
			{Name: "db-01", UUID: "4203a1b2-0000-0000-0000-000000000003", Host: "esx01.example.net", Cluster: "prod", Power: PowerSuspended, CPUs: 8,
				MemoryBytes: 32 << 30, GuestOS: "Red Hat Enterprise Linux 9 (64-bit)", IPs: []string{}, Datastores: []string{"ds-ssd", "ds-hdd"}},
			{Name: "tmpl-ubuntu", UUID: "4203a1b2-0000-0000-0000-000000000004", Host: "esx02.example.net", Cluster: "prod", Power: PowerOff, CPUs: 2,
				MemoryBytes: 2 << 30, GuestOS: "Ubuntu Linux (64-bit)", IPs: []string{}, Datastores: []string{"ds-hdd"}, Template: true},
		},
		Datastores: []Datastore{
			{Name: "ds-ssd", Type: "vmfs", CapacityBytes: 4 << 40, FreeBytes: 1 << 40, Accessible: true},
			{Name: "ds-hdd", Type: "nfs", CapacityBytes: 16 << 40, FreeBytes: 12 << 40, Accessible: true},
		},
	}}
	kvm := &fakeSource{name: "kvm", typ: TypeLibvirt, recs: Records{
		Hosts: []Host{{Name: "kvm1", Hypervisor: "qemu", Version: "7.2.0", Build: "libvirt 9.0.0", CPUModel: "x86_64", CPUSockets: 1, CPUCores: 8,
			CPUThreads: 16, CPUMHz: 2400, MemoryBytes: 68719476736, Connection: ConnConnected, Power: PowerOn}},
		VMs: []VM{
			{Name: "ci-runner", UUID: "8d3f0c1e-1111-2222-3333-444455556666", Host: "kvm1", Power: PowerOn, CPUs: 4, MemoryBytes: 8 << 30,
				GuestOS: "debian 12", IPs: []string{"192.168.122.20"}, Datastores: []string{}, Autostart: true},
			{Name: "old-build", UUID: "8d3f0c1e-1111-2222-3333-444455556667", Host: "kvm1", Power: PowerOff, CPUs: 2, MemoryBytes: 2 << 30,
				IPs: []string{}, Datastores: []string{}, Snapshots: 1, SnapshotOldest: "2026-11-27T12:00:00Z"},
		},
		Datastores: []Datastore{{Name: "default", Type: "dir", CapacityBytes: 500 << 30, FreeBytes: 120 << 30, Accessible: true}},
	}}
	edge := &fakeSource{name: "edge", typ: TypeNftables, recs: Records{Firewalls: []Firewall{{
		Name: "gw1", Vendor: "netfilter", Model: "nftables", Version: "6.1.0-28-amd64", Capabilities: []string{"stateful", "nat"}, Rules: 3,
		Licenses: []License{},
		Tables: []Table{
			{Family: "inet", Name: "filter", Chains: []Chain{
				{Name: "input", Type: "filter", Hook: "input", Priority: 0, Policy: "drop", Rules: 3},
				{Name: "forward", Type: "filter", Hook: "forward", Priority: 0, Policy: "accept", Rules: 0},
			}},
			{Family: "ip", Name: "nat", Chains: []Chain{{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: 100, Policy: "accept", Rules: 0}}},
		},
	}}}}
	broken := &fakeSource{name: "vc-lab", typ: TypeVCenter, err: errors.New("connect to https://vc-lab.example.net/sdk as \"ro\": ServerFaultCode: Cannot complete login due to an incorrect user name or password.")}
	declared := &FileSource{SourceName: "declared", Path: "testdata/declared.yaml"}
	return []Source{vc, kvm, edge, declared, broken}
}

// sampleReport collects sampleSources with the fixed clock; durations are
// zeroed so that renderings are stable.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	r, err := Collect(t.Context(), Options{
		Sources:                     sampleSources(),
		RequireFirewallCapabilities: []string{"stateful", "ips"},
		SnapshotMaxAge:              DefaultSnapshotMaxAge,
		Now:                         clock,
	})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Collect: err = %v, want ErrPartial (vc-lab fails)", err)
	}
	for i := range r.Sources {
		r.Sources[i].DurationMS = 0
	}
	return r
}
