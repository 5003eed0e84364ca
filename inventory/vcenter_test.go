package inventory

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/opsteam/ops/internal/secret"
	"github.com/opsteam/ops/internal/testenv"
)

// startVCSim runs an in-process vCenter simulator. configure may change the
// model before it is created; the URL returned carries no credentials.
func startVCSim(t testing.TB, configure func(*simulator.Model), creds ...*url.Userinfo) (*simulator.Model, *url.URL) {
	return startVCSimTLS(t, false, configure, creds...)
}

func startVCSimTLS(t testing.TB, useTLS bool, configure func(*simulator.Model), creds ...*url.Userinfo) (*simulator.Model, *url.URL) {
	t.Helper()
	m := simulator.VPX()
	if configure != nil {
		configure(m)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Remove)
	if len(creds) > 0 {
		m.Service.Listen = &url.URL{User: creds[0]}
	}
	if useTLS {
		m.Service.TLS = new(tls.Config)
	}
	s := m.Service.NewServer()
	t.Cleanup(s.Close)
	u := *s.URL
	u.User = nil
	return m, &u
}

func vcSource(u *url.URL, user, pass string) *VCenterSource {
	return &VCenterSource{SourceName: "vc", URL: u.String(), User: user, Password: secret.New(pass), Insecure: true, Wait: 30 * time.Second}
}

// Mutate the simulator into the states the report must show: a powered-off,
// a suspended VM, a VM with an IP and a snapshot, a disconnected host and a
// host in maintenance mode.
func mutateVCSim(t *testing.T, u *url.URL) {
	t.Helper()
	ctx := t.Context()
	lu := *u
	lu.User = url.UserPassword("user", "pass")
	c, err := govmomi.NewClient(ctx, &lu, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Logout(ctx) }()
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	wait := func(task interface {
		Wait(context.Context) error
	}, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	vm0, err := f.VirtualMachine(ctx, "DC0_H0_VM0")
	if err != nil {
		t.Fatal(err)
	}
	wait(vm0.PowerOff(ctx))
	vm1, err := f.VirtualMachine(ctx, "DC0_H0_VM1")
	if err != nil {
		t.Fatal(err)
	}
	wait(vm1.Suspend(ctx))
	vmc, err := f.VirtualMachine(ctx, "DC0_C0_RP0_VM0")
	if err != nil {
		t.Fatal(err)
	}
	wait(vmc.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
		&types.OptionValue{Key: "SET.guest.ipAddress", Value: "10.0.0.5"},
	}}))
	wait(vmc.CreateSnapshot(ctx, "before-upgrade", "", false, false))
	h1, err := f.HostSystem(ctx, "DC0_C0_H1")
	if err != nil {
		t.Fatal(err)
	}
	wait(h1.EnterMaintenanceMode(ctx, 0, false, nil))
	h2, err := f.HostSystem(ctx, "DC0_C0_H2")
	if err != nil {
		t.Fatal(err)
	}
	wait(h2.Disconnect(ctx))
}

// normaliseVCSim drops what vcsim does not keep stable between runs: which
// cluster host a cluster VM lands on and the datastore's free space (taken
// from the real file system).
func normaliseVCSim(r *Report) {
	for i := range r.VMs {
		if r.VMs[i].Cluster != "" {
			r.VMs[i].Host = "(cluster host)"
		}
	}
	for i := range r.Hosts {
		if r.Hosts[i].Cluster != "" {
			r.Hosts[i].VMCount = -1
		}
	}
	for i := range r.Datastores {
		r.Datastores[i].FreeBytes = -1
	}
	for i := range r.VMs {
		if r.VMs[i].SnapshotOldest != "" {
			r.VMs[i].SnapshotOldest = "(taken by the test)"
		}
	}
	for i := range r.Sources {
		r.Sources[i].DurationMS = 0
		r.Sources[i].Endpoint = "https://127.0.0.1:PORT/sdk"
	}
}

func TestVCenterSimulator(t *testing.T) {
	_, u := startVCSim(t, func(m *simulator.Model) { m.Host, m.ClusterHost, m.Machine = 1, 3, 2 })
	mutateVCSim(t, u)
	r, err := Collect(t.Context(), Options{Sources: []Source{vcSource(u, "user", "pass")}, Now: clock})
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if len(r.Hosts) != 4 || len(r.VMs) != 4 || len(r.Datastores) != 1 {
		t.Fatalf("got %d hosts, %d VMs, %d datastores; want 4, 4, 1", len(r.Hosts), len(r.VMs), len(r.Datastores))
	}
	vm := map[string]VM{}
	for _, v := range r.VMs {
		vm[v.Name] = v
	}
	if p := vm["DC0_H0_VM0"].Power; p != PowerOff {
		t.Errorf("DC0_H0_VM0 power = %q, want off", p)
	}
	if p := vm["DC0_H0_VM1"].Power; p != PowerSuspended {
		t.Errorf("DC0_H0_VM1 power = %q, want suspended", p)
	}
	c := vm["DC0_C0_RP0_VM0"]
	if c.Power != PowerOn || c.Snapshots != 1 || len(c.IPs) != 1 || c.IPs[0] != "10.0.0.5" || c.Cluster != "DC0_C0" {
		t.Errorf("DC0_C0_RP0_VM0 = %+v", c)
	}
	if at, err := time.Parse(time.RFC3339, c.SnapshotOldest); err != nil || time.Since(at) > time.Hour || time.Since(at) < -time.Minute {
		t.Errorf("DC0_C0_RP0_VM0 snapshot_oldest = %q (%v), want the time the test took it", c.SnapshotOldest, err)
	}
	if h := vm["DC0_H0_VM0"].Host; h != "DC0_H0" {
		t.Errorf("DC0_H0_VM0 host = %q", h)
	}
	normaliseVCSim(r)
	golden(t, "vcsim.json", render(t, r, FormatJSON, KindAll))
}

func TestVCenterWrongCredentials(t *testing.T) {
	_, u := startVCSim(t, nil, url.UserPassword("admin", "s3cret"))
	ok := &fakeSource{name: "other", typ: "test", recs: Records{Hosts: []Host{{Name: "x", Connection: ConnConnected, Power: PowerOn}}}}
	r, err := Collect(t.Context(), Options{Sources: []Source{vcSource(u, "admin", "wrong"), ok}, Now: clock})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("err = %v, want ErrPartial", err)
	}
	st := r.Sources[1] // sorted: other, vc
	if st.Name != "vc" || st.OK || !strings.Contains(st.Error, "login rejected: incorrect user name or password") || !strings.Contains(st.Error, `as "admin"`) {
		t.Errorf("vc status = %+v", st)
	}
	if strings.Contains(err.Error(), "wrong") || strings.Contains(st.Endpoint, "admin") {
		t.Errorf("password or user leaked: %v / %s", err, st.Endpoint)
	}
	if len(r.Hosts) != 1 {
		t.Errorf("the other source's records are missing")
	}
	if !errors.Is(err, ErrLogin) {
		t.Errorf("err = %v, want ErrLogin in the chain", err)
	}
	// and the right password works
	if _, err := vcSource(u, "admin", "s3cret").Collect(t.Context()); err != nil {
		t.Errorf("right credentials: %v", err)
	}
}

func TestVCenterUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	src := vcSource(&url.URL{Scheme: "https", Host: addr, Path: "/sdk"}, "u", "p")
	_, err = src.Collect(t.Context())
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "connect to https://"+addr+"/sdk") {
		t.Errorf("err = %v", err)
	}
}

// An endpoint that accepts the TCP connection and never answers: the
// per-source timeout ends it with a clear error.
func TestVCenterHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	src := vcSource(&url.URL{Scheme: "http", Host: l.Addr().String(), Path: "/sdk"}, "u", "p")
	src.Wait = 300 * time.Millisecond
	start := time.Now()
	r, err := Collect(t.Context(), Options{Sources: []Source{src}})
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s", el)
	}
	if !errors.Is(err, ErrPartial) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	if r.Sources[0].OK || !strings.Contains(r.Sources[0].Error, "no answer within 300ms") {
		t.Errorf("status = %+v", r.Sources[0])
	}
}

// A 50-host / 1,000-VM vCenter, the size bench/inventory.sh measures.
func newBigVCSim(t testing.TB) *url.URL {
	_, u := startVCSim(t, func(m *simulator.Model) {
		m.Cluster, m.ClusterHost, m.Host, m.Machine = 5, 10, 0, 200
	})
	return u
}

// Building the model takes ~40 s on a busy 2-core machine, so this runs
// with the integration tests (OPS_IT=1) only.
func TestVCenterLarge(t *testing.T) {
	testenv.RequireIT(t)
	u := newBigVCSim(t)
	start := time.Now()
	r, err := Collect(t.Context(), Options{Sources: []Source{vcSource(u, "user", "pass")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("50 hosts / 1000 VMs collected in %s", time.Since(start))
	if len(r.Hosts) != 50 || len(r.VMs) != 1000 {
		t.Fatalf("got %d hosts, %d VMs", len(r.Hosts), len(r.VMs))
	}
	n := 0
	for _, h := range r.Hosts {
		n += h.VMCount
	}
	if n != 1000 {
		t.Errorf("VMs placed on hosts: %d, want 1000", n)
	}
}

func BenchmarkVCenterCollect(b *testing.B) {
	u := newBigVCSim(b)
	src := vcSource(u, "user", "pass")
	b.ResetTimer()
	for b.Loop() {
		r, err := Collect(b.Context(), Options{Sources: []Source{src}})
		if err != nil || len(r.VMs) != 1000 {
			b.Fatalf("err=%v vms=%d", err, len(r.VMs))
		}
	}
}

// Certificates are verified unless insecure is set.
func TestVCenterTLSVerify(t *testing.T) {
	_, u := startVCSimTLS(t, true, nil)
	if u.Scheme != "https" {
		t.Fatalf("simulator URL %s is not https", u)
	}
	src := vcSource(u, "user", "pass")
	src.Insecure = false
	_, err := src.Collect(t.Context())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: err = %v", err)
	}
	src.Insecure = true
	if r, err := src.Collect(t.Context()); err != nil || len(r.VMs) == 0 {
		t.Errorf("insecure: %v", err)
	}
}

// The snapshot tree's oldest creation time at any depth, and the size of
// the snapshots' own files from layoutEx (vcsim reports them as empty).
func TestVSphereSnapshots(t *testing.T) {
	at := func(h int) time.Time { return fixedNow.Add(time.Duration(h) * time.Hour) }
	tree := []types.VirtualMachineSnapshotTree{{CreateTime: at(-10), ChildSnapshotList: []types.VirtualMachineSnapshotTree{
		{CreateTime: at(-5), ChildSnapshotList: []types.VirtualMachineSnapshotTree{{CreateTime: at(-1)}}},
	}}, {CreateTime: at(-30)}}
	if got := oldestSnapshot(tree); !got.Equal(at(-30)) {
		t.Errorf("oldest = %s", got)
	}
	if n := countSnapshots(tree); n != 4 {
		t.Errorf("count = %d", n)
	}
	layout := &types.VirtualMachineFileLayoutEx{
		File: []types.VirtualMachineFileLayoutExFileInfo{
			{Key: 1, Name: "vm.vmdk", Size: 1 << 40}, {Key: 2, Name: "vm-Snapshot1.vmsn", Size: 100},
			{Key: 3, Name: "vm-Snapshot1.vmem", Size: 4000}, {Key: 4, Name: "vm-Snapshot2.vmsn", Size: 20},
		},
		Snapshot: []types.VirtualMachineFileLayoutExSnapshotLayout{{DataKey: 2, MemoryKey: 3}, {DataKey: 4, MemoryKey: -1}},
	}
	if n := snapshotBytes(layout); n != 4120 {
		t.Errorf("snapshot bytes = %d, want 4120", n)
	}
	if n := snapshotBytes(nil); n != 0 {
		t.Errorf("no layout: %d", n)
	}
}
