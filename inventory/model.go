package inventory

import (
	"cmp"
	"slices"
	"time"
)

// Schema is the value of Report.Schema; bump it on incompatible changes.
const Schema = "ops.inventory/v1"

// Power states (the JSON `power` vocabulary, for every source).
const (
	PowerOn        = "on"
	PowerOff       = "off"
	PowerSuspended = "suspended"
)

// Connection states (the JSON `connection` vocabulary).
const (
	ConnConnected     = "connected"
	ConnDisconnected  = "disconnected"
	ConnNotResponding = "not_responding"
)

// Source types (Config `type`).
const (
	TypeVCenter  = "vcenter"
	TypeLibvirt  = "libvirt"
	TypeFile     = "file"
	TypeNftables = "nftables"
)

// Finding severities, most severe first.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// Capabilities are the firewall capability names of the contract (cli.md).
var Capabilities = []string{
	"stateful", "nat", "routing", "vpn", "ips", "app_control", "url_filtering",
	"user_control", "ssl_inspection", "ssh_inspection", "malware_protection",
	"reputation_filtering", "ad_integration", "qos",
}

// IsCapability reports whether name is one of Capabilities.
func IsCapability(name string) bool { return slices.Contains(Capabilities, name) }

// Report is one inventory run. Its JSON encoding is the `--output json`
// contract: every slice is sorted (see Normalize) and never null.
type Report struct {
	Schema      string         `json:"schema"`
	CollectedAt time.Time      `json:"collected_at"`
	Sources     []SourceStatus `json:"sources"`
	Hosts       []Host         `json:"hosts"`
	VMs         []VM           `json:"vms"`
	Datastores  []Datastore    `json:"datastores"`
	Firewalls   []Firewall     `json:"firewalls"`
	Findings    []Finding      `json:"findings"`
}

// SourceStatus says whether one source could be read.
type SourceStatus struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Endpoint   string `json:"endpoint"` // URL, URI, path or netns; never credentials
	OK         bool   `json:"ok"`
	Error      string `json:"error"`
	DurationMS int64  `json:"duration_ms"`
}

// Host is a hypervisor host (ESXi, libvirt node, declared Hyper-V host, ...).
type Host struct {
	Source      string `json:"source"`
	Name        string `json:"name"`
	Hypervisor  string `json:"hypervisor"` // esxi, qemu, test, hyper-v, ...
	Version     string `json:"version"`
	Build       string `json:"build"`
	Vendor      string `json:"vendor"`
	Model       string `json:"model"`
	CPUModel    string `json:"cpu_model"`
	CPUSockets  int    `json:"cpu_sockets"`
	CPUCores    int    `json:"cpu_cores"`
	CPUThreads  int    `json:"cpu_threads"`
	CPUMHz      int    `json:"cpu_mhz"`
	MemoryBytes int64  `json:"memory_bytes"`
	Cluster     string `json:"cluster"`
	Connection  string `json:"connection"`
	Power       string `json:"power"`
	Maintenance bool   `json:"maintenance"`
	VMCount     int    `json:"vm_count"`

	scope string   // declared records: the source expected to discover it
	line  int      // declared records: line in the declared file
	keys  []string // declared records: the keys the declaration sets
}

// VM is a virtual machine or libvirt domain.
type VM struct {
	Source      string   `json:"source"`
	Name        string   `json:"name"`
	UUID        string   `json:"uuid"`
	Host        string   `json:"host"`
	Cluster     string   `json:"cluster"`
	Power       string   `json:"power"`
	CPUs        int      `json:"cpus"`
	MemoryBytes int64    `json:"memory_bytes"`
	GuestOS     string   `json:"guest_os"`
	IPs         []string `json:"ips"`
	Datastores  []string `json:"datastores"`
	Autostart   bool     `json:"autostart"`
	Template    bool     `json:"template"`
	Snapshots   int      `json:"snapshots"`
	// SnapshotOldest is when the oldest snapshot was taken (RFC 3339,
	// UTC); "" without snapshots.
	SnapshotOldest string `json:"snapshot_oldest"`
	// SnapshotBytes is the size of the snapshots' own files where the
	// source reports it (vCenter: .vmsn and .vmem); 0 = none or unknown.
	SnapshotBytes int64 `json:"snapshot_bytes"`

	scope string
	line  int
	keys  []string
}

// Datastore is a vSphere datastore or a libvirt storage pool.
type Datastore struct {
	Source        string `json:"source"`
	Name          string `json:"name"`
	Type          string `json:"type"`
	CapacityBytes int64  `json:"capacity_bytes"`
	FreeBytes     int64  `json:"free_bytes"`
	Accessible    bool   `json:"accessible"`
}

// Firewall is a packet filter: an nftables ruleset or a declared appliance.
type Firewall struct {
	Source       string    `json:"source"`
	Name         string    `json:"name"`
	Vendor       string    `json:"vendor"`
	Model        string    `json:"model"`
	Version      string    `json:"version"`
	Serial       string    `json:"serial"`
	Capabilities []string  `json:"capabilities"`
	Rules        int       `json:"rules"`
	Licenses     []License `json:"licenses"`
	Tables       []Table   `json:"tables"` // nftables only
	// RequireCapabilities (declared only) replaces the capability
	// requirement of the source and of the config for this firewall.
	RequireCapabilities []string `json:"require_capabilities,omitempty"`

	scope string
	line  int
	keys  []string
}

// License is one feature licence or subscription of a firewall.
type License struct {
	Name    string `json:"name"`
	Expires string `json:"expires"` // YYYY-MM-DD; "" = never
}

// Table is an nftables table.
type Table struct {
	Family string  `json:"family"`
	Name   string  `json:"name"`
	Chains []Chain `json:"chains"`
	Sets   int     `json:"sets"`
}

// Chain is an nftables chain. Hook and Policy are empty for regular chains.
type Chain struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Hook     string `json:"hook"`
	Priority int    `json:"priority"`
	Policy   string `json:"policy"`
	Rules    int    `json:"rules"`
}

// Finding is one vHealth-style observation.
type Finding struct {
	Severity string `json:"severity"`
	Kind     string `json:"kind"`   // host | vm | firewall | datastore
	Source   string `json:"source"` // the source of the object
	Object   string `json:"object"`
	Check    string `json:"check"`
	Message  string `json:"message"`
}

// Records is what one source contributes.
type Records struct {
	Hosts      []Host
	VMs        []VM
	Datastores []Datastore
	Firewalls  []Firewall
}

func severityRank(s string) int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	default:
		return 2
	}
}

// Normalize sorts every list into the stable order of the JSON output and
// replaces nil slices with empty ones, so the encoding is deterministic.
func (r *Report) Normalize() {
	if r.Schema == "" {
		r.Schema = Schema
	}
	r.Sources = nonNil(r.Sources)
	r.Hosts = nonNil(r.Hosts)
	r.VMs = nonNil(r.VMs)
	r.Datastores = nonNil(r.Datastores)
	r.Firewalls = nonNil(r.Firewalls)
	r.Findings = nonNil(r.Findings)
	slices.SortFunc(r.Sources, func(a, b SourceStatus) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Hosts, func(a, b Host) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Name, b.Name))
	})
	for i := range r.VMs {
		v := &r.VMs[i]
		v.IPs = sortedCopy(v.IPs)
		v.Datastores = sortedCopy(v.Datastores)
	}
	slices.SortFunc(r.VMs, func(a, b VM) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Name, b.Name), cmp.Compare(a.UUID, b.UUID))
	})
	slices.SortFunc(r.Datastores, func(a, b Datastore) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Name, b.Name))
	})
	for i := range r.Firewalls {
		f := &r.Firewalls[i]
		f.Capabilities = sortedCopy(f.Capabilities)
		f.Licenses = nonNil(f.Licenses)
		slices.SortFunc(f.Licenses, func(a, b License) int { return cmp.Compare(a.Name, b.Name) })
		f.Tables = nonNil(f.Tables)
		for j := range f.Tables {
			t := &f.Tables[j]
			t.Chains = nonNil(t.Chains)
			slices.SortFunc(t.Chains, func(a, b Chain) int { return cmp.Compare(a.Name, b.Name) })
		}
		slices.SortFunc(f.Tables, func(a, b Table) int {
			return cmp.Or(cmp.Compare(a.Family, b.Family), cmp.Compare(a.Name, b.Name))
		})
	}
	slices.SortFunc(r.Firewalls, func(a, b Firewall) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
			cmp.Compare(a.Check, b.Check), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Source, b.Source), cmp.Compare(a.Object, b.Object), cmp.Compare(a.Message, b.Message))
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func sortedCopy(s []string) []string {
	out := make([]string, 0, len(s))
	out = append(out, s...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Summary holds the counts shown at the top of every rendering.
type Summary struct {
	Sources, SourcesFailed                  int
	Hosts, HostsConnected, HostsMaintenance int
	VMs, VMsOn, VMsOff, VMsSuspended        int
	Datastores, Firewalls, Rules            int
	Errors, Warnings, Infos                 int
}

// Summarize counts the report.
func (r *Report) Summarize() Summary {
	var s Summary
	s.Sources = len(r.Sources)
	for _, x := range r.Sources {
		if !x.OK {
			s.SourcesFailed++
		}
	}
	s.Hosts = len(r.Hosts)
	for _, h := range r.Hosts {
		if h.Connection == ConnConnected {
			s.HostsConnected++
		}
		if h.Maintenance {
			s.HostsMaintenance++
		}
	}
	s.VMs = len(r.VMs)
	for _, v := range r.VMs {
		switch v.Power {
		case PowerOn:
			s.VMsOn++
		case PowerOff:
			s.VMsOff++
		case PowerSuspended:
			s.VMsSuspended++
		}
	}
	s.Datastores = len(r.Datastores)
	s.Firewalls = len(r.Firewalls)
	for _, f := range r.Firewalls {
		s.Rules += f.Rules
	}
	for _, f := range r.Findings {
		switch f.Severity {
		case SeverityError:
			s.Errors++
		case SeverityWarning:
			s.Warnings++
		default:
			s.Infos++
		}
	}
	return s
}
