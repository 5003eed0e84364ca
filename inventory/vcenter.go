package inventory

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/opsteam/ops/internal/secret"
)

// VCenterSource reads hosts, VMs, datastores and clusters from vCenter or a
// standalone ESXi host with one container view and a single property
// collector retrieval (paged by the collector): no per-object round trips.
type VCenterSource struct {
	SourceName string
	URL        string // https://HOST[:PORT]/sdk; "/sdk" is added when missing
	User       string
	Password   secret.Secret
	Insecure   bool          // skip TLS certificate verification
	Wait       time.Duration // per-source timeout (0 = Options.Timeout)
}

var _ Source = (*VCenterSource)(nil)

func (s *VCenterSource) Name() string           { return s.SourceName }
func (s *VCenterSource) Type() string           { return TypeVCenter }
func (s *VCenterSource) Timeout() time.Duration { return s.Wait }

// Endpoint is the URL without credentials.
func (s *VCenterSource) Endpoint() string {
	u, err := soap.ParseURL(s.URL)
	if err != nil || u == nil {
		return s.URL
	}
	u.User = nil
	return u.String()
}

// Property paths fetched per kind: explicit lists, never "all".
var (
	vcHostProps = []string{"name", "runtime.connectionState", "runtime.powerState", "runtime.inMaintenanceMode",
		"summary.hardware", "summary.config.product"}
	vcVMProps = []string{"name", "summary.config.template", "summary.config.numCpu", "summary.config.memorySizeMB",
		"summary.config.guestFullName", "summary.config.uuid", "summary.runtime.powerState", "summary.runtime.host",
		"summary.guest.guestFullName", "summary.guest.ipAddress", "guest.net", "datastore", "snapshot.rootSnapshotList",
		"layoutEx.file", "layoutEx.snapshot"}
	vcDatastoreProps = []string{"summary"}
	vcClusterProps   = []string{"name", "host"}
)

// Collect logs in, reads the inventory and logs out.
func (s *VCenterSource) Collect(ctx context.Context) (Records, error) {
	u, err := soap.ParseURL(s.URL)
	if err != nil {
		return Records{}, fmt.Errorf("url %q: %w", s.URL, err)
	}
	if u == nil {
		return Records{}, errors.New("url is empty")
	}
	if s.User != "" {
		u.User = url.UserPassword(s.User, s.Password.Reveal())
	}
	endpoint := s.Endpoint()
	c, err := govmomi.NewClient(ctx, u, s.Insecure)
	if err != nil {
		return Records{}, fmt.Errorf("connect to %s as %q: %w", endpoint, s.User, cleanSoapError(err))
	}
	defer func() {
		// log out even when ctx has expired, but never wait long for it
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = c.Logout(lctx)
	}()
	return collectVSphere(ctx, c)
}

// ErrLogin marks a rejected vCenter login (wrong user name or password).
var ErrLogin = errors.New("login rejected: incorrect user name or password")

func cleanSoapError(err error) error {
	if !soap.IsSoapFault(err) {
		return err
	}
	f := soap.ToSoapFault(err)
	switch f.VimFault().(type) {
	case types.InvalidLogin, *types.InvalidLogin:
		return fmt.Errorf("%w (server said: %s)", ErrLogin, strings.TrimSpace(f.String))
	}
	if f.String != "" {
		return fmt.Errorf("%s (%s)", strings.TrimSpace(f.String), f.Code)
	}
	return err
}

func collectVSphere(ctx context.Context, c *govmomi.Client) (Records, error) {
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder,
		[]string{"HostSystem", "VirtualMachine", "Datastore", "ClusterComputeResource"}, true)
	if err != nil {
		return Records{}, fmt.Errorf("create container view: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = v.Destroy(dctx)
	}()
	var content []types.ObjectContent
	// One RetrievePropertiesEx (plus continuation pages) for all four kinds.
	err = v.Retrieve(ctx, []string{"HostSystem"}, vcHostProps, &content,
		types.PropertySpec{Type: "VirtualMachine", PathSet: vcVMProps},
		types.PropertySpec{Type: "Datastore", PathSet: vcDatastoreProps},
		types.PropertySpec{Type: "ClusterComputeResource", PathSet: vcClusterProps},
	)
	if err != nil {
		return Records{}, fmt.Errorf("retrieve properties: %w", err)
	}
	var (
		hosts    []mo.HostSystem
		vms      []mo.VirtualMachine
		dss      []mo.Datastore
		clusters []mo.ClusterComputeResource
	)
	for _, oc := range content {
		obj, err := mo.ObjectContentToType(oc)
		if err != nil {
			return Records{}, fmt.Errorf("decode %s: %w", oc.Obj, err)
		}
		switch o := obj.(type) {
		case mo.HostSystem:
			hosts = append(hosts, o)
		case mo.VirtualMachine:
			vms = append(vms, o)
		case mo.Datastore:
			dss = append(dss, o)
		case mo.ClusterComputeResource:
			clusters = append(clusters, o)
		}
	}
	return vsphereRecords(hosts, vms, dss, clusters), nil
}

func vsphereRecords(hosts []mo.HostSystem, vms []mo.VirtualMachine, dss []mo.Datastore, clusters []mo.ClusterComputeResource) Records {
	var r Records
	hostCluster := map[types.ManagedObjectReference]string{}
	for _, c := range clusters {
		for _, h := range c.Host {
			hostCluster[h] = c.Name
		}
	}
	hostName := map[types.ManagedObjectReference]string{}
	for _, h := range hosts {
		hostName[h.Reference()] = h.Name
		x := Host{
			Name:        h.Name,
			Hypervisor:  "esxi",
			Cluster:     hostCluster[h.Reference()],
			Connection:  vsphereConnection(string(h.Runtime.ConnectionState)),
			Power:       vsphereHostPower(h.Runtime.PowerState),
			Maintenance: h.Runtime.InMaintenanceMode,
		}
		if hw := h.Summary.Hardware; hw != nil {
			x.Vendor, x.Model, x.CPUModel = hw.Vendor, hw.Model, strings.Join(strings.Fields(hw.CpuModel), " ")
			x.CPUSockets, x.CPUCores, x.CPUThreads = int(hw.NumCpuPkgs), int(hw.NumCpuCores), int(hw.NumCpuThreads)
			x.CPUMHz, x.MemoryBytes = int(hw.CpuMhz), hw.MemorySize
		}
		if p := h.Summary.Config.Product; p != nil {
			x.Version, x.Build = p.Version, p.Build
			if p.ProductLineId != "" && p.ProductLineId != "embeddedEsx" {
				x.Hypervisor = p.ProductLineId
			}
		}
		r.Hosts = append(r.Hosts, x)
	}
	dsName := map[types.ManagedObjectReference]string{}
	for _, d := range dss {
		dsName[d.Reference()] = d.Summary.Name
		r.Datastores = append(r.Datastores, Datastore{
			Name:          d.Summary.Name,
			Type:          strings.ToLower(d.Summary.Type),
			CapacityBytes: d.Summary.Capacity,
			FreeBytes:     d.Summary.FreeSpace,
			Accessible:    d.Summary.Accessible,
		})
	}
	for _, v := range vms {
		cfg := v.Summary.Config
		x := VM{
			Name:        v.Name,
			UUID:        cfg.Uuid,
			Power:       vspherePower(v.Summary.Runtime.PowerState),
			CPUs:        int(cfg.NumCpu),
			MemoryBytes: int64(cfg.MemorySizeMB) << 20,
			GuestOS:     cfg.GuestFullName,
			Template:    cfg.Template,
			IPs:         []string{},
			Datastores:  []string{},
		}
		if h := v.Summary.Runtime.Host; h != nil {
			x.Host = hostName[*h]
			x.Cluster = hostCluster[*h]
		}
		if g := v.Summary.Guest; g != nil {
			if g.GuestFullName != "" {
				x.GuestOS = g.GuestFullName // what the tools see beats the config
			}
			if g.IpAddress != "" {
				x.IPs = append(x.IPs, g.IpAddress)
			}
		}
		if v.Guest != nil {
			for _, n := range v.Guest.Net {
				for _, ip := range n.IpAddress {
					if !slices.Contains(x.IPs, ip) && !strings.HasPrefix(strings.ToLower(ip), "fe80:") {
						x.IPs = append(x.IPs, ip)
					}
				}
			}
		}
		for _, d := range v.Datastore {
			if n := dsName[d]; n != "" {
				x.Datastores = append(x.Datastores, n)
			}
		}
		if v.Snapshot != nil {
			x.Snapshots = countSnapshots(v.Snapshot.RootSnapshotList)
			if t := oldestSnapshot(v.Snapshot.RootSnapshotList); !t.IsZero() {
				x.SnapshotOldest = t.UTC().Format(time.RFC3339)
			}
			x.SnapshotBytes = snapshotBytes(v.LayoutEx)
		}
		r.VMs = append(r.VMs, x)
	}
	return r
}

func countSnapshots(t []types.VirtualMachineSnapshotTree) int {
	n := len(t)
	for _, c := range t {
		n += countSnapshots(c.ChildSnapshotList)
	}
	return n
}

// oldestSnapshot is the creation time of the oldest snapshot of the tree.
func oldestSnapshot(t []types.VirtualMachineSnapshotTree) time.Time {
	var oldest time.Time
	for _, c := range t {
		for _, x := range []time.Time{c.CreateTime, oldestSnapshot(c.ChildSnapshotList)} {
			if !x.IsZero() && (oldest.IsZero() || x.Before(oldest)) {
				oldest = x
			}
		}
	}
	return oldest
}

// snapshotBytes sums the files vCenter lists as the snapshots' own: their
// state (.vmsn) and memory (.vmem) files. The delta disks are shared with
// the running VM's disk chain and not counted.
func snapshotBytes(l *types.VirtualMachineFileLayoutEx) int64 {
	if l == nil {
		return 0
	}
	size := map[int32]int64{}
	for _, f := range l.File {
		size[f.Key] = f.Size
	}
	var n int64
	for _, s := range l.Snapshot {
		n += size[s.DataKey]
		if s.MemoryKey >= 0 && s.MemoryKey != s.DataKey {
			n += size[s.MemoryKey]
		}
	}
	return n
}

func vspherePower(p types.VirtualMachinePowerState) string {
	switch p {
	case types.VirtualMachinePowerStatePoweredOn:
		return PowerOn
	case types.VirtualMachinePowerStateSuspended:
		return PowerSuspended
	default:
		return PowerOff
	}
}

// vsphereHostPower maps HostSystemPowerState. standBy (a low-power state the
// host wakes from) is "suspended"; "unknown", which vCenter reports only for
// hosts it is not connected to, is "off": the connection field says why.
func vsphereHostPower(p types.HostSystemPowerState) string {
	switch p {
	case types.HostSystemPowerStatePoweredOn:
		return PowerOn
	case types.HostSystemPowerStateStandBy:
		return PowerSuspended
	default:
		return PowerOff
	}
}

func vsphereConnection(s string) string {
	switch s {
	case "connected":
		return ConnConnected
	case "notResponding":
		return ConnNotResponding
	default:
		return ConnDisconnected
	}
}
