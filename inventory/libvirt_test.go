package inventory

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
)

// libvirtSocket is the socket of the libvirtd that scripts/services.sh
// starts (services.md §4 Fix A); OPS_LIBVIRT_SOCKET overrides it.
func libvirtSocket(t *testing.T) string {
	t.Helper()
	testenv.RequireIT(t)
	sock := testenv.Getenv("OPS_LIBVIRT_SOCKET", DefaultLibvirtSocket)
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		t.Fatalf("libvirtd is not reachable on %s (scripts/services.sh start libvirt): %v", sock, err)
	}
	_ = c.Close()
	return sock
}

func fixtureURI(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/libvirt-node.xml")
	if err != nil {
		t.Fatal(err)
	}
	return "test+unix://" + p
}

// The daemon opens the fixture file through the test driver; every domain
// state maps onto on|off|suspended.
func TestLibvirtFixture(t *testing.T) {
	sock := libvirtSocket(t)
	src := &LibvirtSource{SourceName: "kvm", URI: fixtureURI(t), Socket: sock, Wait: 10 * time.Second}
	r, err := Collect(t.Context(), Options{Sources: []Source{src}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	hostname, _ := os.Hostname()
	if len(r.Hosts) != 1 {
		t.Fatalf("hosts = %+v", r.Hosts)
	}
	h := r.Hosts[0]
	if h.Name != hostname || h.Hypervisor != "test" || h.CPUMHz != 2400 || h.CPUThreads != 8 || h.CPUCores != 4 || h.CPUSockets != 1 ||
		h.MemoryBytes != 16777216*1024 || h.Connection != ConnConnected || h.Power != PowerOn || h.VMCount != 3 || h.CPUModel != "x86_64" {
		t.Errorf("host = %+v", h)
	}
	if !strings.HasPrefix(h.Build, "libvirt ") {
		t.Errorf("build = %q", h.Build)
	}
	// the daemon reports the real host name: normalise for the golden file
	for i := range r.Hosts {
		r.Hosts[i].Name = "HOSTNAME"
		r.Hosts[i].Build = "libvirt X"
	}
	for i := range r.VMs {
		r.VMs[i].Host = "HOSTNAME"
	}
	for i := range r.Sources {
		r.Sources[i].DurationMS = 0
		r.Sources[i].Endpoint = "test+unix:///FIXTURE"
	}
	vms := map[string]VM{}
	for _, v := range r.VMs {
		vms[v.Name] = v
	}
	if v := vms["web01"]; v.Power != PowerOn || v.CPUs != 2 || v.MemoryBytes != 2<<30 || v.UUID != "11111111-2222-3333-4444-000000000001" ||
		v.GuestOS != "debian 12" || len(v.IPs) != 1 {
		t.Errorf("web01 = %+v", v)
	}
	if v := vms["db01"]; v.Power != PowerOff || len(v.IPs) != 0 {
		t.Errorf("db01 = %+v", v)
	}
	if v := vms["batch01"]; v.Power != PowerSuspended {
		t.Errorf("batch01 = %+v", v)
	}
	if len(r.Datastores) != 1 || r.Datastores[0].Name != "images" || r.Datastores[0].Type != "dir" || r.Datastores[0].CapacityBytes != 100<<30 || !r.Datastores[0].Accessible {
		t.Errorf("pools = %+v", r.Datastores)
	}
	golden(t, "libvirt.json", render(t, r, FormatJSON, KindAll))
}

func TestLibvirtDefault(t *testing.T) {
	sock := libvirtSocket(t)
	r, err := (&LibvirtSource{SourceName: "kvm", URI: "test:///default", Socket: sock}).Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.VMs) != 1 || r.VMs[0].Name != "test" || r.VMs[0].Power != PowerOn || r.VMs[0].UUID != "6695eb01-f6a4-8304-79aa-97f2502e193f" {
		t.Errorf("vms = %+v", r.VMs)
	}
}

func TestLibvirtErrors(t *testing.T) {
	sock := libvirtSocket(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		src  *LibvirtSource
		want string
	}{
		{"no daemon", &LibvirtSource{SourceName: "x", URI: "test:///default", Socket: filepath.Join(dir, "none.sock")},
			"connect to libvirtd: dial unix " + filepath.Join(dir, "none.sock") + ": connect: no such file or directory"},
		{"missing fixture", &LibvirtSource{SourceName: "x", URI: "test:///nonexistent/node.xml", Socket: sock},
			"open test:///nonexistent/node.xml: "},
		{"driver not loaded", &LibvirtSource{SourceName: "x", URI: "xen:///system", Socket: sock}, "open xen:///system: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.src.Collect(t.Context())
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// A socket that accepts and never answers: the source's timeout ends it.
func TestLibvirtHangs(t *testing.T) {
	testenv.RequireIT(t)
	sock := filepath.Join(t.TempDir(), "hang.sock")
	l, err := net.Listen("unix", sock)
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
	start := time.Now()
	r, err := Collect(t.Context(), Options{Sources: []Source{&LibvirtSource{SourceName: "stuck", URI: "test:///default", Socket: sock, Wait: 300 * time.Millisecond}}})
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	if !errors.Is(err, ErrPartial) || r.Sources[0].OK || !strings.Contains(r.Sources[0].Error, "300ms") {
		t.Errorf("err = %v, status = %+v", err, r.Sources[0])
	}
}
