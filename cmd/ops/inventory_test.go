package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const declaredInventory = `hosts:
  - {name: hv1, hypervisor: hyper-v, version: "2012 R2", vendor: Dell, model: R720, cpu_cores: 16,
     memory_bytes: 137438953472, connection: connected, power: "on"}
vms:
  - {name: app1, host: hv1, power: "on", cpus: 4, memory_bytes: 8589934592, guest_os: "Windows Server 2012 R2"}
firewalls:
  - {name: edge1, vendor: Palo Alto Networks, model: PA-3220, version: "10.2", rules: 120,
     capabilities: [stateful, ips, app_control]}
`

func TestInventoryCLIFromDeclaredFile(t *testing.T) {
	dir := t.TempDir()
	decl := filepath.Join(dir, "inventory.yaml")
	os.WriteFile(decl, []byte(declaredInventory), 0o644)
	cfg := writeConfig(t, "inventory:\n  sources:\n    - {name: declared, type: file, path: "+decl+"}\n  require_firewall_capabilities: [stateful, ips, app_control, url_filtering]\n")

	code, out, stderr := runOps(t, "--config", cfg, "inventory", "--output", "json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	var rep struct {
		Hosts     []map[string]any `json:"hosts"`
		VMs       []map[string]any `json:"vms"`
		Firewalls []map[string]any `json:"firewalls"`
		Sources   []map[string]any `json:"sources"`
		Findings  []map[string]any `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != 1 || len(rep.VMs) != 1 || len(rep.Firewalls) != 1 || len(rep.Sources) != 1 {
		t.Fatalf("report: %s", out)
	}
	if len(rep.Findings) != 1 || rep.Findings[0]["check"] != "firewall_capability" || !strings.Contains(rep.Findings[0]["message"].(string), "url_filtering") {
		t.Fatalf("findings = %v", rep.Findings)
	}
	old := filepath.Join(dir, "old.json")
	os.WriteFile(old, []byte(out), 0o644)

	code, out, _ = runOps(t, "--config", cfg, "inventory", "--output", "csv", "--kind", "vm")
	if code != 0 || !strings.HasPrefix(out, "source,name,") || !strings.Contains(out, "app1") {
		t.Fatalf("csv: %d %s", code, out)
	}
	htmlOut := filepath.Join(dir, "report.html")
	if code, _, stderr := runOps(t, "--config", cfg, "inventory", "--output", "html", "--report-file", htmlOut); code != 0 {
		t.Fatalf("html: %s", stderr)
	}
	if b, _ := os.ReadFile(htmlOut); !strings.Contains(string(b), "<html") || strings.Contains(string(b), "src=\"http") {
		t.Fatalf("html report: %.200s", b)
	}

	// Same declaration twice: no difference; a changed VM: exit 1, field by field.
	if code, _, _ := runOps(t, "inventory", "diff", old, old); code != 0 {
		t.Fatalf("diff of identical reports: %d", code)
	}
	os.WriteFile(decl, []byte(strings.Replace(declaredInventory, "cpus: 4", "cpus: 8", 1)), 0o644)
	_, newer, _ := runOps(t, "--config", cfg, "inventory", "--output", "json")
	nj := filepath.Join(dir, "new.json")
	os.WriteFile(nj, []byte(newer), 0o644)
	code, out, _ = runOps(t, "inventory", "diff", old, nj)
	if code != 1 || !strings.Contains(out, "cpus") || !strings.Contains(out, "app1") {
		t.Fatalf("diff: %d %s", code, out)
	}
	if code, _, stderr := runOps(t, "inventory", "diff", old, filepath.Join(dir, "missing.json")); code != 2 || !strings.Contains(stderr, "missing.json") {
		t.Fatalf("diff with a missing file: %d %s", code, stderr)
	}
	// A malformed declared file: the source fails with file:line, exit 2
	// (TestInventoryDeclaredFileErrors).
	os.WriteFile(decl, []byte("hosts:\n  - {name: hv1, cpu_cores: many}\n"), 0o644)
	code, _, stderr = runOps(t, "--config", cfg, "inventory")
	if code != 2 || !strings.Contains(stderr, decl+":2: hosts[0].cpu_cores: expected an integer") {
		t.Fatalf("malformed declaration: %d %s", code, stderr)
	}
	if code, _, stderr := runOps(t, "--config", cfg, "inventory", "--output", "pdf"); code != 2 {
		t.Fatalf("bad --output: %d %s", code, stderr)
	}
}

// A declared inventory file that cannot be used is a configuration error:
// exit 2 and FILE:LINE: message, for `ops inventory` (the file source) and
// `ops inventory check --declared`.
func TestInventoryDeclaredFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body string
		line       int
		msg        string
	}{
		{"unknown field", "vms:\n  - name: a\n    cpu: 2\n", 3, "vms[0].cpu: unknown field"},
		{"wrong type", "hosts:\n  - {name: hv1, cpu_cores: many}\n", 2, "hosts[0].cpu_cores: expected an integer"},
		{"syntax", "hosts:\n  - name: a\n  bad\n", 3, "invalid YAML: could not find expected ':'"},
		{"control character", "vms:\n  - {name: a}\n  - {name: \"\x1b]0;x\x07\"}\n", 3, "invalid YAML: control characters are not allowed"},
		{"second document", "vms: [{name: a}]\n---\nvms: [{name: b}]\n", 2, "a second YAML document"},
		{"duplicate", "vms:\n  - {name: a}\n  - {name: a}\n", 3, `vms[1].name: "a" is already declared on line 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decl := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(decl, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, "inventory:\n  sources:\n    - {name: declared, type: file, path: "+decl+"}\n")
			want := fmt.Sprintf("%s:%d: %s", decl, tc.line, tc.msg)
			for _, args := range [][]string{{"inventory"}, {"inventory", "check", "--declared", decl}} {
				code, _, stderr := runOps(t, append([]string{"--config", cfg}, args...)...)
				if code != 2 || !strings.Contains(stderr, want) {
					t.Errorf("%v: exit %d, stderr %q; want 2 and %q", args, code, stderr, want)
				}
			}
		})
	}
	// A missing file: exit 2, naming it.
	missing := filepath.Join(dir, "missing.yaml")
	cfg := writeConfig(t, "inventory:\n  sources:\n    - {name: declared, type: file, path: "+missing+"}\n")
	if code, _, stderr := runOps(t, "--config", cfg, "inventory"); code != 2 || !strings.Contains(stderr, missing) {
		t.Errorf("missing declared file: exit %d, %s", code, stderr)
	}
}

// --report-file is the file, -o/--output the format; --out (the old name of
// --report-file) still works but is not listed.
func TestInventoryReportFileFlag(t *testing.T) {
	_, out, _ := runOps(t, "inventory", "--help")
	if !strings.Contains(out, "--report-file FILE") || strings.Contains(out, "--out ") {
		t.Fatalf("help:\n%s", out)
	}
}

// --fail-on: exit 1 when a finding at or above the severity exists, each
// such finding named once; without it, findings do not change the status.
func TestInventoryFailOn(t *testing.T) {
	decl := filepath.Join(t.TempDir(), "declared.yaml")
	if err := os.WriteFile(decl, []byte(`hosts:
  - {name: hv1, connection: connected, maintenance: true}
  - {name: hv2, connection: not_responding}
  - {name: hv3, connection: disconnected}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "inventory:\n  sources:\n    - {name: declared, type: file, path: "+decl+"}\n")
	if code, _, stderr := runOps(t, "--config", cfg, "-q", "inventory"); code != 0 || stderr != "" {
		t.Fatalf("no --fail-on: %d %s", code, stderr)
	}
	code, out, stderr := runOps(t, "--config", cfg, "-q", "inventory", "--fail-on", "error")
	if code != 1 || out != "" || stderr != "ops: --fail-on error: 2 finding(s): ERROR host hv2: host is not responding\nops: ERROR host hv3: host is disconnected\n" {
		t.Fatalf("--fail-on error: %d %q", code, stderr)
	}
	code, _, stderr = runOps(t, "--config", cfg, "inventory", "--fail-on", "warning", "--output", "json")
	if code != 1 || !strings.Contains(stderr, "3 finding(s)") || !strings.Contains(stderr, "WARNING host hv1: host is in maintenance mode") {
		t.Fatalf("--fail-on warning: %d %q", code, stderr)
	}
	if code, _, _ := runOps(t, "--config", cfg, "inventory", "--fail-on", "info"); code != 2 {
		t.Fatalf("--fail-on info: %d", code)
	}
}
