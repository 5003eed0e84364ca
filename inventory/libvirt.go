package inventory

import (
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// DefaultLibvirtURI and DefaultLibvirtSocket are used when a libvirt source
// sets no uri or socket.
const (
	DefaultLibvirtURI    = "qemu:///system"
	DefaultLibvirtSocket = "/run/libvirt/libvirt-sock"
)

// LibvirtSource reads a libvirt node (node info, domains, storage pools)
// over the libvirt RPC protocol (pure Go, no cgo), through libvirtd's unix
// socket or TCP.
//
// URI forms: "qemu:///system", "test:///default", "test:///abs/fixture.xml"
// (the daemon opens the file), "DRIVER+unix:///PATH[?socket=SOCK]",
// "DRIVER+tcp://HOST[:PORT]/PATH". +tls and +ssh are not supported.
type LibvirtSource struct {
	SourceName string
	URI        string        // default qemu:///system
	Socket     string        // unix socket (default /run/libvirt/libvirt-sock)
	Wait       time.Duration // per-source timeout (0 = Options.Timeout)
}

var _ Source = (*LibvirtSource)(nil)

func (s *LibvirtSource) Name() string           { return s.SourceName }
func (s *LibvirtSource) Type() string           { return TypeLibvirt }
func (s *LibvirtSource) Timeout() time.Duration { return s.Wait }

func (s *LibvirtSource) uri() string {
	if s.URI == "" {
		return DefaultLibvirtURI
	}
	return s.URI
}

// Endpoint is the URI (it carries no credentials).
func (s *LibvirtSource) Endpoint() string { return s.uri() }

type libvirtDial struct {
	network, addr string
}

// libvirtTransport splits a libvirt URI into the URI the daemon opens and
// where to dial.
func libvirtTransport(raw string) (remote string, d libvirtDial, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", d, fmt.Errorf("%q: %w", raw, err)
	}
	driver, transport, _ := strings.Cut(u.Scheme, "+")
	if driver == "" {
		return "", d, fmt.Errorf("%q: expected DRIVER[+unix|+tcp]://[HOST]/PATH, e.g. qemu:///system", raw)
	}
	q := u.Query()
	switch transport {
	case "", "unix":
		if u.Host != "" && transport == "" {
			return "", d, fmt.Errorf("%q: a host needs a transport (%s+tcp://%s/...); only unix and tcp are supported", raw, driver, u.Host)
		}
		d = libvirtDial{network: "unix", addr: q.Get("socket")}
	case "tcp":
		host := u.Host
		if host == "" {
			host = "127.0.0.1"
		}
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "16509")
		}
		d = libvirtDial{network: "tcp", addr: host}
	default:
		return "", d, fmt.Errorf("%q: transport %q is not supported (use unix or tcp)", raw, transport)
	}
	q.Del("socket")
	r := url.URL{Scheme: driver, Path: u.Path, RawQuery: q.Encode()}
	return r.String(), d, nil
}

// Collect connects, reads and disconnects. The connection's deadline follows
// ctx, so a daemon that stops answering cannot hang the caller.
func (s *LibvirtSource) Collect(ctx context.Context) (Records, error) {
	remote, d, err := libvirtTransport(s.uri())
	if err != nil {
		return Records{}, err
	}
	if d.network == "unix" && d.addr == "" {
		d.addr = s.Socket
		if d.addr == "" {
			d.addr = DefaultLibvirtSocket
		}
	}
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, d.network, d.addr)
	if err != nil {
		return Records{}, fmt.Errorf("connect to libvirtd: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
	if err := l.ConnectToURI(libvirt.ConnectURI(remote)); err != nil {
		_ = conn.Close()
		return Records{}, ctxErr(ctx, fmt.Errorf("open %s: %w", remote, err))
	}
	defer func() { _ = l.Disconnect() }()
	r, err := readLibvirt(l)
	if err != nil {
		return Records{}, ctxErr(ctx, err)
	}
	return r, nil
}

// ctxErr prefers the context's error when the context ended: a closed
// socket is only the consequence.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func readLibvirt(l *libvirt.Libvirt) (Records, error) {
	var r Records
	hostname, err := l.ConnectGetHostname()
	if err != nil {
		return r, fmt.Errorf("hostname: %w", err)
	}
	typ, err := l.ConnectGetType()
	if err != nil {
		return r, fmt.Errorf("hypervisor type: %w", err)
	}
	hv, err := l.ConnectGetVersion()
	if err != nil {
		return r, fmt.Errorf("hypervisor version: %w", err)
	}
	model, mem, cpus, mhz, nodes, sockets, cores, threads, err := l.NodeGetInfo()
	if err != nil {
		return r, fmt.Errorf("node info: %w", err)
	}
	h := Host{
		Name:        hostname,
		Hypervisor:  strings.ToLower(typ),
		Version:     libvirtVersion(hv),
		CPUModel:    int8String(model[:]),
		CPUSockets:  int(nodes * sockets),
		CPUCores:    int(nodes * sockets * cores),
		CPUThreads:  int(cpus),
		CPUMHz:      int(mhz),
		MemoryBytes: int64(mem) * 1024,
		Connection:  ConnConnected,
		Power:       PowerOn,
	}
	if lv, err := l.ConnectGetLibVersion(); err == nil {
		h.Build = "libvirt " + libvirtVersion(lv)
	}
	_ = threads
	r.Hosts = append(r.Hosts, h)

	doms, _, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive|libvirt.ConnectListDomainsInactive)
	if err != nil {
		return r, fmt.Errorf("list domains: %w", err)
	}
	for _, d := range doms {
		state, maxMem, _, nvcpu, _, err := l.DomainGetInfo(d)
		if err != nil {
			return r, fmt.Errorf("domain %s: info: %w", d.Name, err)
		}
		v := VM{
			Name:        d.Name,
			UUID:        formatUUID(d.UUID),
			Host:        hostname,
			Power:       libvirtPower(libvirt.DomainState(state)),
			CPUs:        int(nvcpu),
			MemoryBytes: int64(maxMem) * 1024,
			IPs:         []string{},
			Datastores:  []string{},
		}
		if a, err := l.DomainGetAutostart(d); err == nil {
			v.Autostart = a != 0
		}
		if v.Power == PowerOn {
			v.IPs = domainIPs(l, d)
		}
		if x, err := l.DomainGetXMLDesc(d, 0); err == nil {
			v.GuestOS = osinfoFromXML(x)
		}
		if err := domainSnapshots(l, d, &v); err != nil {
			return r, fmt.Errorf("domain %s: %w", d.Name, err)
		}
		r.VMs = append(r.VMs, v)
	}

	pools, _, err := l.ConnectListAllStoragePools(1, 0)
	if err != nil {
		return r, fmt.Errorf("list storage pools: %w", err)
	}
	for _, p := range pools {
		st, capacity, _, avail, err := l.StoragePoolGetInfo(p)
		if err != nil {
			return r, fmt.Errorf("storage pool %s: info: %w", p.Name, err)
		}
		ds := Datastore{
			Name:          p.Name,
			CapacityBytes: int64(capacity),
			FreeBytes:     int64(avail),
			Accessible:    libvirt.StoragePoolState(st) == libvirt.StoragePoolRunning,
		}
		if x, err := l.StoragePoolGetXMLDesc(p, 0); err == nil {
			var px struct {
				Type string `xml:"type,attr"`
			}
			if xml.Unmarshal([]byte(x), &px) == nil {
				ds.Type = px.Type
			}
		}
		r.Datastores = append(r.Datastores, ds)
	}
	return r, nil
}

// domainSnapshots sets the snapshot count and the oldest creation time of
// a domain. libvirt reports no size for a snapshot.
func domainSnapshots(l *libvirt.Libvirt, d libvirt.Domain, v *VM) error {
	snaps, _, err := l.DomainListAllSnapshots(d, 1, 0)
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	v.Snapshots = len(snaps)
	var oldest int64
	for _, s := range snaps {
		x, err := l.DomainSnapshotGetXMLDesc(s, 0)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", s.Name, err)
		}
		var sx struct {
			CreationTime int64 `xml:"creationTime"`
		}
		if err := xml.Unmarshal([]byte(x), &sx); err != nil {
			return fmt.Errorf("snapshot %s: %w", s.Name, err)
		}
		if sx.CreationTime > 0 && (oldest == 0 || sx.CreationTime < oldest) {
			oldest = sx.CreationTime
		}
	}
	if oldest > 0 {
		v.SnapshotOldest = time.Unix(oldest, 0).UTC().Format(time.RFC3339)
	}
	return nil
}

// domainIPs asks the DHCP leases first, then the guest agent; a domain
// without either has no known address (not an error).
func domainIPs(l *libvirt.Libvirt, d libvirt.Domain) []string {
	ips := []string{}
	for _, src := range []libvirt.DomainInterfaceAddressesSource{libvirt.DomainInterfaceAddressesSrcLease, libvirt.DomainInterfaceAddressesSrcAgent} {
		ifaces, err := l.DomainInterfaceAddresses(d, uint32(src), 0)
		if err != nil {
			continue
		}
		for _, i := range ifaces {
			if i.Name == "lo" {
				continue
			}
			for _, a := range i.Addrs {
				if a.Addr != "" && !strings.HasPrefix(a.Addr, "127.") && !strings.HasPrefix(strings.ToLower(a.Addr), "fe80:") && a.Addr != "::1" {
					ips = append(ips, a.Addr)
				}
			}
		}
		if len(ips) > 0 {
			break
		}
	}
	return ips
}

// osinfoFromXML returns the libosinfo OS id from the domain metadata
// (virt-install writes it), e.g. "http://ubuntu.com/ubuntu/22.04" → "ubuntu 22.04".
func osinfoFromXML(x string) string {
	var d struct {
		Metadata struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"metadata"`
	}
	if xml.Unmarshal([]byte(x), &d) != nil || len(d.Metadata.Inner) == 0 {
		return ""
	}
	var li struct {
		OS struct {
			ID string `xml:"id,attr"`
		} `xml:"os"`
	}
	dec := xml.NewDecoder(strings.NewReader(string(d.Metadata.Inner)))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "libosinfo" {
			if dec.DecodeElement(&li, &se) != nil || li.OS.ID == "" {
				return ""
			}
			id := strings.TrimPrefix(strings.TrimPrefix(li.OS.ID, "http://"), "https://")
			parts := strings.Split(id, "/")
			if len(parts) >= 3 {
				return parts[len(parts)-2] + " " + parts[len(parts)-1]
			}
			return id
		}
	}
}

// libvirtPower maps virDomainState onto on|off|suspended.
func libvirtPower(s libvirt.DomainState) string {
	switch s {
	case libvirt.DomainRunning, libvirt.DomainBlocked, libvirt.DomainShutdown: // shutdown = shutting down, still running
		return PowerOn
	case libvirt.DomainPaused, libvirt.DomainPmsuspended:
		return PowerSuspended
	default: // nostate, shutoff, crashed
		return PowerOff
	}
}

// libvirtVersion decodes major*1,000,000 + minor*1,000 + release.
func libvirtVersion(v uint64) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}

func int8String(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

func formatUUID(u libvirt.UUID) string {
	b := u[:]
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
