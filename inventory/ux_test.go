package inventory

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// The card of VMs whose host no source reports names them.
func TestHTMLUnplacedVMsAreLabelled(t *testing.T) {
	rep := &Report{
		Hosts: []Host{{Source: "kvm", Name: "hv1", Connection: ConnConnected, Power: PowerOn}},
		VMs: []VM{
			{Source: "kvm", Name: "placed", Host: "hv1", Power: PowerOn},
			{Source: "vc", Name: "orphan-vm", Host: "gone-host", Power: PowerOff},
		},
	}
	rep.Normalize()
	var b bytes.Buffer
	if err := Render(&b, rep, FormatHTML, ""); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	i := strings.Index(html, "VMs without a reported host")
	if i < 0 || !strings.Contains(html[i:], "<i></i>orphan-vm</span>") {
		t.Fatalf("the host-less card does not name its VM:\n%s", html[max(i, 0):min(len(html), max(i, 0)+600)])
	}
}

// Capability requirements: per declared firewall, else per source, else
// global, and none for an nftables source unless it sets its own.
func TestCapabilityRequirements(t *testing.T) {
	cfg := Config{
		RequireFirewallCapabilities: []string{"stateful", "ips"},
		Sources: []SourceConfig{
			{Name: "edge", Type: TypeNftables},
			{Name: "gw", Type: TypeNftables, RequireFirewallCapabilities: []string{"stateful", "nat"}},
			{Name: "declared", Type: TypeFile, Path: "x.yaml"},
		},
	}
	if err := cfg.Validate("inventory"); err != nil {
		t.Fatal(err)
	}
	rep := &Report{Firewalls: []Firewall{
		{Source: "edge", Name: "edge", Capabilities: []string{"stateful"}},
		{Source: "gw", Name: "gw", Capabilities: []string{"stateful"}},
		{Source: "declared", Name: "pa1", Capabilities: []string{"stateful"}},
		{Source: "declared", Name: "lab", Capabilities: []string{}, RequireCapabilities: []string{}},
		{Source: "declared", Name: "fg1", Capabilities: []string{"stateful"}, RequireCapabilities: []string{"vpn"}},
	}}
	got := map[string]string{}
	for _, f := range Evaluate(rep, Records{}, EvalOptions{RequireFirewallCapabilities: cfg.RequireFirewallCapabilities,
		SourceRequirements: cfg.SourceRequirements(), Now: time.Now()}) {
		if f.Check == CheckFirewallCapability {
			got[f.Object] = f.Message
		}
	}
	want := map[string]string{
		"gw":  "missing required capabilities: nat",
		"pa1": "missing required capabilities: ips",
		"fg1": "missing required capabilities: vpn",
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	bad := cfg
	bad.Sources = slices.Clone(cfg.Sources)
	bad.Sources[0].RequireFirewallCapabilities = []string{"ipss"}
	if err := bad.Validate("inventory"); err == nil || !strings.Contains(err.Error(), "inventory.sources[0].require_firewall_capabilities[0]") {
		t.Errorf("bad capability: %v", err)
	}
}

// A declared firewall's require_capabilities is read (and checked).
func TestDeclaredRequireCapabilities(t *testing.T) {
	d, err := ParseDeclared("d.yaml", []byte("firewalls:\n  - {name: fw, require_capabilities: [stateful, vpn]}\n"))
	if err != nil || len(d.Firewalls) != 1 || strings.Join(d.Firewalls[0].RequireCapabilities, ",") != "stateful,vpn" {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := ParseDeclared("d.yaml", []byte("firewalls:\n  - {name: fw, require_capabilities: [vnp]}\n")); err == nil ||
		!strings.Contains(err.Error(), "d.yaml:2: firewalls[0].require_capabilities[0]: unknown capability \"vnp\"") {
		t.Errorf("bad capability: %v", err)
	}
}
