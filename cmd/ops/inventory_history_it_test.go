package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"

	"github.com/opsteam/ops/internal/testenv"
)

// invhistLibvirt holds a connection to the test driver of the services'
// libvirtd for the whole test: test:///default keeps its domains only while
// a connection is open. Every domain it defines is named invhist-it-*.
type invhistLibvirt struct {
	t    *testing.T
	l    *libvirt.Libvirt
	sock string
}

func newInvhistLibvirt(t *testing.T) *invhistLibvirt {
	t.Helper()
	sock := testenv.Getenv("OPS_IT_LIBVIRT_SOCK", "/run/libvirt/libvirt-sock")
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatalf("libvirtd is not reachable on %s (scripts/services.sh start libvirt): %v", sock, err)
	}
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(c))
	if err := l.ConnectToURI("test:///default"); err != nil {
		t.Fatalf("open test:///default: %v", err)
	}
	lv := &invhistLibvirt{t: t, l: l, sock: sock}
	lv.cleanup() // a previous run that died half way
	t.Cleanup(func() {
		lv.cleanup()
		_ = l.Disconnect()
	})
	return lv
}

func (lv *invhistLibvirt) cleanup() {
	doms, _, err := lv.l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive|libvirt.ConnectListDomainsInactive)
	if err != nil {
		lv.t.Fatal(err)
	}
	for _, d := range doms {
		if strings.HasPrefix(d.Name, "invhist-it-") {
			_ = lv.l.DomainDestroy(d)
			_ = lv.l.DomainUndefineFlags(d, libvirt.DomainUndefineSnapshotsMetadata)
		}
	}
}

const invhistUUID = "6a1c0de0-1111-4e57-9000-%012d"

func invhistDomainXML(name string, n int) string {
	return fmt.Sprintf(`<domain type='test'><name>%s</name><uuid>`+invhistUUID+`</uuid><memory>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`, name, n)
}

// define defines and starts a domain.
func (lv *invhistLibvirt) define(name string, n int) libvirt.Domain {
	lv.t.Helper()
	d, err := lv.l.DomainDefineXML(invhistDomainXML(name, n))
	if err != nil {
		lv.t.Fatalf("define %s: %v", name, err)
	}
	if err := lv.l.DomainCreate(d); err != nil {
		lv.t.Fatalf("start %s: %v", name, err)
	}
	return d
}

// oldSnapshot gives the domain a snapshot taken at `at` (a redefined one:
// the test driver keeps the creation time it is given).
func (lv *invhistLibvirt) oldSnapshot(d libvirt.Domain, n int, at time.Time) {
	lv.t.Helper()
	x := fmt.Sprintf(`<domainsnapshot><name>before-upgrade</name><state>running</state><creationTime>%d</creationTime>%s</domainsnapshot>`,
		at.Unix(), invhistDomainXML(d.Name, n))
	if _, err := lv.l.DomainSnapshotCreateXML(d, x, uint32(libvirt.DomainSnapshotCreateRedefine)); err != nil {
		lv.t.Fatalf("snapshot of %s: %v", d.Name, err)
	}
}

// invhistVCSim is an in-process vCenter simulator; DC0_H0_VM0 gets a
// snapshot dated `old`.
func invhistVCSim(t *testing.T, old time.Time) (*url.URL, *find.Finder) {
	t.Helper()
	m := simulator.VPX()
	m.Host, m.ClusterHost, m.Machine = 1, 1, 2
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Remove)
	s := m.Service.NewServer()
	t.Cleanup(s.Close)
	u := *s.URL
	u.User = url.UserPassword("user", "pass")
	c, err := govmomi.NewClient(t.Context(), &u, true)
	if err != nil {
		t.Fatal(err)
	}
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	vm := invhistVM(t, f, "DC0_H0_VM0")
	invhistWait(t)(vm.CreateSnapshot(t.Context(), "before-upgrade", "", false, false))
	// vcsim stamps a snapshot with the time it is taken: age it in place
	sim := m.Map().Get(vm.Reference()).(*simulator.VirtualMachine)
	m.Map().WithLock(simulator.NewContext(), sim, func() {
		sim.Snapshot.RootSnapshotList[0].CreateTime = old
	})
	u.User = nil
	return &u, f
}

func invhistVM(t *testing.T, f *find.Finder, name string) *object.VirtualMachine {
	t.Helper()
	vm, err := f.VirtualMachine(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// invhistWait(t)(vm.PowerOff(ctx)) waits for a task to finish.
func invhistWait(t *testing.T) func(*object.Task, error) {
	return func(task *object.Task, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Wait(context.WithoutCancel(t.Context())); err != nil {
			t.Fatal(err)
		}
	}
}

type invhistReport struct {
	VMs []struct {
		Source, Name, Power string
		Snapshots           int
		SnapshotOldest      string `json:"snapshot_oldest"`
	} `json:"vms"`
	Hosts []struct {
		Source, Name, Connection string
	} `json:"hosts"`
	Findings []struct {
		Severity, Check, Source, Object, Message string
	} `json:"findings"`
}

// Three runs against vcsim and the real libvirtd (a VM added, one removed,
// one powered off on each side), then `history` and `diff --since`; old
// snapshots on both sides give snapshot_age warnings; ops serve's scheduled
// run keeps a snapshot too and /metrics has the inventory gauges.
func TestInventoryHistoryIT(t *testing.T) {
	testenv.RequireIT(t)
	lv := newInvhistLibvirt(t)
	now := time.Now()
	vcOld, kvmOld := now.Add(-80*time.Hour).Truncate(time.Second), time.Date(2020, 9, 13, 12, 26, 40, 0, time.UTC)
	vcURL, f := invhistVCSim(t, vcOld)

	dir := t.TempDir()
	pass := filepath.Join(dir, "vc.pass")
	if err := os.WriteFile(pass, []byte("pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hist := filepath.Join(dir, "history")
	prom := filepath.Join(dir, "ops.prom")
	addr := freeAddr(t)
	body := fmt.Sprintf(`inventory:
  sources:
    - {name: vc, type: vcenter, url: "%s", user: user, password_file: %s, insecure: true}
    - {name: kvm, type: libvirt, uri: "test:///default", socket: %s}
  history: {dir: %s, keep: 10}
  findings: {snapshot_max_age: 72h}
serve:
  listen: %s
`, vcURL, pass, lv.sock, hist, addr)
	cfg := writeConfig(t, body)

	a := lv.define("invhist-it-a", 1)
	lv.oldSnapshot(a, 1, kvmOld)
	b := lv.define("invhist-it-b", 2)
	run := func(n int) invhistReport {
		t.Helper()
		code, out, stderr := runOps(t, "--config", cfg, "inventory", "--output", "json", "--metrics-file", prom)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", n, code, stderr)
		}
		var r invhistReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("run %d: %v", n, err)
		}
		return r
	}
	r1 := run(1)
	// the old snapshots: a warning each, with the creation times
	warned := map[string]string{}
	for _, fd := range r1.Findings {
		if fd.Check == "snapshot_age" {
			warned[fd.Source+"/"+fd.Object] = fd.Severity + " " + fd.Message
		}
	}
	if w := warned["vc/DC0_H0_VM0"]; !strings.HasPrefix(w, "warning 1 snapshot, the oldest taken "+vcOld.UTC().Format(time.RFC3339)+" (80 hours ago; limit 72h)") {
		t.Errorf("vcsim VM with an 80-hour-old snapshot: %q (all: %v)", w, warned)
	}
	if w := warned["kvm/invhist-it-a"]; !strings.HasPrefix(w, "warning 1 snapshot, the oldest taken 2020-09-13T12:26:40Z") {
		t.Errorf("libvirt domain with a 2020 snapshot: %q (all: %v)", w, warned)
	}
	if _, ok := warned["kvm/invhist-it-b"]; ok {
		t.Error("a domain without snapshots has a snapshot_age finding")
	}

	lv.define("invhist-it-c", 3) // added
	invhistWait(t)(invhistVM(t, f, "DC0_H0_VM1").PowerOff(t.Context()))
	run(2)

	if err := lv.l.DomainDestroy(b); err != nil { // removed
		t.Fatal(err)
	}
	if err := lv.l.DomainUndefineFlags(b, 0); err != nil {
		t.Fatal(err)
	}
	if err := lv.l.DomainDestroy(a); err != nil { // powered off
		t.Fatal(err)
	}
	vm := invhistVM(t, f, "DC0_C0_RP0_VM0")
	invhistWait(t)(vm.PowerOff(t.Context()))
	invhistWait(t)(vm.Destroy(t.Context()))
	r3 := run(3)

	invhistHistory(t, cfg, hist)
	invhistDiffSince(t, cfg)
	invhistMetrics(t, prom, r3, kvmOld)

	// ops serve: its scheduled run keeps a snapshot and fills /metrics
	if err := os.WriteFile(cfg, []byte(strings.Replace(body, "  history:", "  schedule: \"@every 1s\"\n  history:", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, _, exited := startServe(t, cfg)
	m := invhistScrape(t, addr, exited)
	stopServe(t, cmd, exited)
	for _, series := range []string{`ops_inventory_hosts{connection="connected"}`, `ops_inventory_vms{power="on"}`,
		`ops_inventory_vms{power="off"}`, `ops_inventory_findings{severity="warning"}`} {
		if v := metricValue(m, series); v < 1 {
			t.Errorf("/metrics %s = %v, want at least 1", series, v)
		}
	}
	if age := metricValue(m, "ops_inventory_snapshot_oldest_age_seconds"); age < time.Since(kvmOld).Seconds()-3600 {
		t.Errorf("/metrics snapshot age %v s, want the 2020 snapshot's (%v s)", age, time.Since(kvmOld).Seconds())
	}
	entries, _ := os.ReadDir(hist)
	if len(entries) < 4 {
		t.Errorf("ops serve kept no snapshot: %d files in the history", len(entries))
	}
}

func invhistHistory(t *testing.T, cfg, hist string) {
	t.Helper()
	code, out, stderr := runOps(t, "--config", cfg, "inventory", "history", "--output", "json")
	if code != 0 {
		t.Fatalf("history: %d %s", code, stderr)
	}
	var snaps []struct {
		File        string
		VMs         int
		VMsOff      int `json:"vms_off"`
		Error       string
		CollectedAt time.Time `json:"collected_at"`
	}
	if err := json.Unmarshal([]byte(out), &snaps); err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 3 {
		t.Fatalf("history: want 3 snapshots:\n%s", out)
	}
	for i, s := range snaps {
		if s.Error != "" {
			t.Errorf("snapshot %s: %s", s.File, s.Error)
		}
		if _, err := os.Stat(filepath.Join(hist, s.File)); err != nil {
			t.Error(err)
		}
		if i > 0 && s.CollectedAt.After(snaps[i-1].CollectedAt) {
			t.Errorf("not newest first: %s", out)
		}
	}
	// run 2 → 3: two VMs powered off (invhist-it-a, DC0_C0_RP0_VM0 removed
	// first), so the newest has more VMs off than the oldest
	if snaps[0].VMsOff <= snaps[2].VMsOff {
		t.Errorf("VMs off: newest %d, oldest %d", snaps[0].VMsOff, snaps[2].VMsOff)
	}
	_, table, _ := runOps(t, "--config", cfg, "inventory", "history")
	t.Logf("ops inventory history:\n%s", table)
}

func invhistDiffSince(t *testing.T, cfg string) {
	t.Helper()
	code, out, stderr := runOps(t, "--config", cfg, "inventory", "diff", "--since", "1h", "--output", "json")
	if code != 1 {
		t.Fatalf("diff --since 1h: exit %d, want 1: %s", code, stderr)
	}
	var d struct {
		Differ         bool
		Added, Removed []struct{ Kind, Source, Name string }
		Changed        []struct {
			Kind, Source, Name string
			Fields             []struct {
				Field    string
				Old, New any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	has := func(list []struct{ Kind, Source, Name string }, src, name string) bool {
		for _, x := range list {
			if x.Kind == "vm" && x.Source == src && x.Name == name {
				return true
			}
		}
		return false
	}
	if !d.Differ || !has(d.Added, "kvm", "invhist-it-c") || !has(d.Removed, "kvm", "invhist-it-b") || !has(d.Removed, "vc", "DC0_C0_RP0_VM0") {
		t.Errorf("diff --since: added/removed:\n%s", out)
	}
	power := map[string]string{}
	for _, c := range d.Changed {
		for _, fc := range c.Fields {
			if c.Kind == "vm" && fc.Field == "power" {
				power[c.Source+"/"+c.Name] = fmt.Sprint(fc.Old, "→", fc.New)
			}
		}
	}
	if power["kvm/invhist-it-a"] != "on→off" || power["vc/DC0_H0_VM1"] != "on→off" {
		t.Errorf("diff --since: power changes %v\n%s", power, out)
	}
	_, text, _ := runOps(t, "--config", cfg, "inventory", "diff", "--since", "1h")
	t.Logf("ops inventory diff --since 1h:\n%s", text)
}

// invhistMetrics: the gauges of the last run match its report.
func invhistMetrics(t *testing.T, prom string, r invhistReport, kvmOld time.Time) {
	t.Helper()
	b, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	power, conn, sev := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, v := range r.VMs {
		power[v.Power]++
	}
	for _, h := range r.Hosts {
		conn[h.Connection]++
	}
	for _, f := range r.Findings {
		sev[f.Severity]++
	}
	for _, p := range []string{"on", "off", "suspended"} {
		if got := metricValue(string(b), `ops_inventory_vms{power="`+p+`"}`); got != power[p] {
			t.Errorf("ops_inventory_vms{power=%q} = %v, want %v", p, got, power[p])
		}
	}
	for _, c := range []string{"connected", "disconnected", "not_responding"} {
		if got := metricValue(string(b), `ops_inventory_hosts{connection="`+c+`"}`); got != conn[c] {
			t.Errorf("ops_inventory_hosts{connection=%q} = %v, want %v", c, got, conn[c])
		}
	}
	if got := metricValue(string(b), `ops_inventory_findings{severity="warning"}`); got != sev["warning"] || got < 2 {
		t.Errorf("ops_inventory_findings{severity=warning} = %v, want %v (two old snapshots at least)", got, sev["warning"])
	}
	age := metricValue(string(b), "ops_inventory_snapshot_oldest_age_seconds")
	if want := time.Since(kvmOld).Seconds(); age < want-3600 || age > want+3600 {
		t.Errorf("snapshot age %v s, want about %v s (the 2020 snapshot)", age, want)
	}
	t.Logf("metrics:\n%s", invhistLines(string(b), "ops_inventory_"))
}

func invhistScrape(t *testing.T, addr string, exited <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a hang guard, not a timing
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := string(b); metricValue(m, `ops_inventory_vms{power="on"}`) >= 0 {
				return m
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("ops serve exited: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("ops serve never reported an inventory run in /metrics")
	return ""
}

func invhistLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
