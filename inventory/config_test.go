package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsteam/ops/internal/fielderr"
	"github.com/opsteam/ops/internal/secret"
)

// The cli.md example section decodes (yaml tags match the contract) and
// validates.
func TestConfigCLIExample(t *testing.T) {
	const doc = `
sources:
  - {name: vc, type: vcenter, url: "https://vc.example.net/sdk", user: "ro@vsphere.local", password_file: /etc/ops/vc.pass, insecure: false}
  - {name: kvm, type: libvirt, uri: "qemu:///system", socket: /run/libvirt/libvirt-sock}
  - {name: declared, type: file, path: /etc/ops/inventory.yaml}
  - {name: edge, type: nftables, netns: ""}
require_firewall_capabilities: [stateful, ips, app_control, url_filtering]
schedule: "@daily"
report: {format: html, path: /var/lib/ops/inventory.html}
history: {dir: /var/lib/ops/inventory-history, keep: 90}
findings: {snapshot_max_age: 72h}
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate("inventory"); err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) != 4 || c.Sources[0].PasswordFile != "/etc/ops/vc.pass" || c.Sources[1].Socket != "/run/libvirt/libvirt-sock" ||
		c.Report.Format != "html" || c.Schedule != "@daily" || len(c.RequireFirewallCapabilities) != 4 ||
		c.History.Keep != 90 || c.Findings.SnapshotMaxAge != 72*time.Hour {
		t.Errorf("decoded %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		return Config{Sources: []SourceConfig{
			{Name: "vc", Type: TypeVCenter, URL: "https://vc/sdk", User: "ro"},
			{Name: "kvm", Type: TypeLibvirt},
			{Name: "declared", Type: TypeFile, Path: "/etc/ops/inventory.yaml"},
			{Name: "edge", Type: TypeNftables, Netns: "fw"},
		}}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad type", func(c *Config) { c.Sources[1].Type = "kvm" },
			`inventory.sources[1].type: "kvm": expected vcenter, libvirt, file or nftables`},
		{"no type", func(c *Config) { c.Sources[1].Type = "" },
			`inventory.sources[1].type: required: expected vcenter, libvirt, file or nftables`},
		{"no name", func(c *Config) { c.Sources[0].Name = "" }, `inventory.sources[0].name: required`},
		{"bad name", func(c *Config) { c.Sources[0].Name = "v c" }, `inventory.sources[0].name: "v c": expected letters, digits, '-', '_' or '.'`},
		{"duplicate name", func(c *Config) { c.Sources[2].Name = "vc" }, `inventory.sources[2].name: "vc" is already used by inventory.sources[0]`},
		{"vcenter without url", func(c *Config) { c.Sources[0].URL = "" }, `inventory.sources[0].url: required for a vcenter source (https://HOST/sdk)`},
		{"vcenter bad url", func(c *Config) { c.Sources[0].URL = "vc.example.net" }, `inventory.sources[0].url: "vc.example.net": expected https://HOST[:PORT]/sdk`},
		{"credentials in url", func(c *Config) { c.Sources[0].URL = "https://u:p@vc/sdk" }, `inventory.sources[0].url: must not contain credentials: use user and password_file`},
		{"password and file", func(c *Config) {
			c.Sources[0].Password = secret.New("x")
			c.Sources[0].PasswordFile = "/f"
		}, `inventory.sources[0].password_file: set either password (environment) or password_file, not both`},
		{"file without path", func(c *Config) { c.Sources[2].Path = "" }, `inventory.sources[2].path: required for a file source`},
		{"key of another type", func(c *Config) { c.Sources[3].URL = "https://x" }, `inventory.sources[3].url: not used by a nftables source`},
		{"libvirt ssh", func(c *Config) { c.Sources[1].URI = "qemu+ssh://h/system" },
			`inventory.sources[1].uri: "qemu+ssh://h/system": transport "ssh" is not supported (use unix or tcp)`},
		{"negative timeout", func(c *Config) { c.Sources[1].Timeout = -time.Second }, `inventory.sources[1].timeout: -1s: expected a positive duration`},
		{"capability", func(c *Config) { c.RequireFirewallCapabilities = []string{"ips", "url-filtering"} },
			`inventory.require_firewall_capabilities[1]: unknown capability "url-filtering" (did you mean "url_filtering"?) (valid: stateful, nat, routing, vpn, ips, app_control, url_filtering, user_control, ssl_inspection, ssh_inspection, malware_protection, reputation_filtering, ad_integration, qos)`},
		{"report format", func(c *Config) { c.Report.Format = "xlsx" }, `inventory.report.format: "xlsx": expected table, json, csv or html`},
		{"history keep", func(c *Config) { c.History.Keep = -1 }, `inventory.history.keep: -1: expected a number of snapshots (0 = 90)`},
		{"snapshot max age", func(c *Config) { c.Findings.SnapshotMaxAge = -time.Hour },
			`inventory.findings.snapshot_max_age: -1h0m0s: expected a positive duration (0 = no snapshot_age finding)`},
	}
	c := valid()
	if err := c.Validate("inventory"); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if d := DefaultConfig(); d.History.Keep != DefaultHistoryKeep || d.Findings.SnapshotMaxAge != 72*time.Hour || d.History.Dir != "" {
		t.Errorf("defaults: %+v", d)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.Validate("inventory")
			if err == nil || err.Error() != tc.want {
				t.Errorf("Validate:\n got: %v\nwant: %s", err, tc.want)
			}
			var fe *fielderr.Error
			if !errors.As(err, &fe) {
				t.Errorf("not a *fielderr.Error: %T", err)
			}
		})
	}
	// several problems are all reported
	c = valid()
	c.Sources[0].URL, c.Sources[1].Type = "", "xen"
	if err := c.Validate("inventory"); err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("want two errors, got %v", err)
	}
}

func TestNewSources(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "vc.pass")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Sources: []SourceConfig{
		{Name: "vc", Type: TypeVCenter, URL: "https://vc/sdk", User: "ro", PasswordFile: pw, Timeout: 5 * time.Second},
		{Name: "kvm", Type: TypeLibvirt, URI: "test:///default"},
		{Name: "declared", Type: TypeFile, Path: "testdata/declared.yaml"},
		{Name: "edge", Type: TypeNftables},
	}, RequireFirewallCapabilities: []string{"ips"}}
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Sources) != 4 || o.RequireFirewallCapabilities[0] != "ips" {
		t.Fatalf("options = %+v", o)
	}
	vc := o.Sources[0].(*VCenterSource)
	if vc.Password.Reveal() != "s3cret" || vc.Timeout() != 5*time.Second || vc.Endpoint() != "https://vc/sdk" {
		t.Errorf("vc source = %+v", vc)
	}
	if s := fmt.Sprintf("%+v", vc); strings.Contains(s, "s3cret") {
		t.Errorf("password printed: %s", s)
	}
	only, err := NewSources(c, "kvm", "edge")
	if err != nil || len(only) != 2 || only[0].Name() != "kvm" || only[1].Name() != "edge" {
		t.Errorf("NewSources(kvm, edge) = %v, %v", only, err)
	}
	if _, err := NewSources(c, "nope"); err == nil || err.Error() != `no inventory source named "nope" (configured: vc, kvm, declared, edge)` {
		t.Errorf("unknown source: %v", err)
	}
	c.Sources[0].PasswordFile = "/nonexistent/vc.pass"
	if _, err := NewSources(c); err == nil || !strings.Contains(err.Error(), "inventory source vc: password_file: open /nonexistent/vc.pass") {
		t.Errorf("missing password file: %v", err)
	}
}

func TestLibvirtTransport(t *testing.T) {
	tests := []struct{ in, remote, network, addr string }{
		{"qemu:///system", "qemu:///system", "unix", ""},
		{"test:///default", "test:///default", "unix", ""},
		{"test+unix:///default?socket=/tmp/s", "test:///default", "unix", "/tmp/s"},
		{"test:///srv/fixture.xml", "test:///srv/fixture.xml", "unix", ""},
		{"qemu+tcp://kvm1/system", "qemu:///system", "tcp", "kvm1:16509"},
		{"qemu+tcp://kvm1:1234/system", "qemu:///system", "tcp", "kvm1:1234"},
	}
	for _, tc := range tests {
		r, d, err := libvirtTransport(tc.in)
		if err != nil || r != tc.remote || d.network != tc.network || d.addr != tc.addr {
			t.Errorf("%s: %q %+v %v", tc.in, r, d, err)
		}
	}
	for _, bad := range []string{"qemu+tls://h/system", "qemu://h/system", "/system"} {
		if _, _, err := libvirtTransport(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// Every type-specific key set on a source of another type is named, and
// only those: each type keeps the keys SourceConfig's comment gives it.
func TestConfigKeysOfAnotherType(t *testing.T) {
	all := SourceConfig{Name: "s", URL: "https://vc/sdk", User: "ro", Password: secret.New("x"), PasswordFile: "/f", Insecure: true,
		URI: "qemu:///system", Socket: "/run/libvirt/libvirt-sock", Path: "/etc/ops/inventory.yaml", Netns: "fw"}
	others := map[string]string{
		TypeVCenter:  "uri socket path netns",
		TypeLibvirt:  "url user password password_file insecure path netns",
		TypeFile:     "url user password password_file insecure uri socket netns",
		TypeNftables: "url user password password_file insecure uri socket path",
	}
	for _, typ := range SourceTypes {
		s := all
		s.Type = typ
		c := Config{Sources: []SourceConfig{s}}
		var got []string
		for _, e := range strings.Split(fmt.Sprint(c.Validate("inventory")), "\n") {
			if key, ok := strings.CutSuffix(e, ": not used by a "+typ+" source"); ok {
				got = append(got, strings.TrimPrefix(key, "inventory.sources[0]."))
			}
		}
		if strings.Join(got, " ") != others[typ] {
			t.Errorf("%s: keys not used: %q, want %q", typ, got, others[typ])
		}
	}
}
