package inventory

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadDeclared(t *testing.T) {
	d, err := LoadDeclared("testdata/declared.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts) != 2 || len(d.VMs) != 3 || len(d.Firewalls) != 2 {
		t.Fatalf("got %d hosts, %d vms, %d firewalls", len(d.Hosts), len(d.VMs), len(d.Firewalls))
	}
	hv2 := d.Hosts[1]
	if hv2.MemoryBytes != 256<<30 || hv2.Connection != ConnNotResponding || hv2.line != 6 {
		t.Errorf("hv2 = %+v (line %d)", hv2, hv2.line)
	}
	if d.VMs[2].scope != "vc" {
		t.Errorf("web-01 scope = %q, want vc", d.VMs[2].scope)
	}
	e := d.Firewalls[0]
	if len(e.Licenses) != 4 || e.Licenses[3].Expires != "" || e.Licenses[0].Expires != "2027-06-30" {
		t.Errorf("edge1 licenses = %+v", e.Licenses)
	}
}

// A name is declared once per scope (source:); host and firewall names
// ignore case, VM names do not.
func TestDeclaredNamesPerScope(t *testing.T) {
	in := "hosts:\n  - {name: hv1}\n  - {name: HV1, source: vc}\nvms:\n  - {name: web}\n  - {name: Web}\nfirewalls:\n  - {name: fw}\n  - {name: fw, source: vc}\n"
	d, err := ParseDeclared("inv.yaml", []byte(in))
	if err != nil || len(d.Hosts) != 2 || len(d.VMs) != 2 || len(d.Firewalls) != 2 {
		t.Fatalf("%v %+v", err, d)
	}
}

func TestLoadDeclaredEmpty(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "~\n", "hosts:\nvms: []\n"} {
		d, err := ParseDeclared("x.yaml", []byte(in))
		if err != nil || len(d.Hosts)+len(d.VMs)+len(d.Firewalls) != 0 {
			t.Errorf("%q: %v %+v", in, err, d)
		}
	}
}

// Strict decoding: every mistake names file:line and the key path.
func TestDeclaredErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown top-level key", "hosts: []\nvm:\n  - {name: a}\n",
			`inv.yaml:2: vm: unknown key (did you mean "vms"?) (valid: hosts, vms, firewalls)`},
		{"unknown field", "hosts:\n  - name: hv1\n    cpu_core: 16\n",
			`inv.yaml:3: hosts[0].cpu_core: unknown field (did you mean "cpu_cores"?) (valid: source, name, hypervisor, version, build, vendor, model, cpu_model, cpu_sockets, cpu_cores, cpu_threads, cpu_mhz, memory_bytes, cluster, connection, power, maintenance)`},
		{"computed field is not declarable", "hosts:\n  - {name: hv1, vm_count: 3}\n",
			`inv.yaml:2: hosts[0].vm_count: unknown field (valid: source, name, hypervisor, version, build, vendor, model, cpu_model, cpu_sockets, cpu_cores, cpu_threads, cpu_mhz, memory_bytes, cluster, connection, power, maintenance)`},
		{"string for integer", "hosts:\n  - name: hv1\n    cpu_cores: sixteen\n",
			`inv.yaml:3: hosts[0].cpu_cores: expected an integer, got "sixteen"`},
		{"bad size", "vms:\n  - name: a\n    memory_bytes: 8 jiggabytes\n",
			`inv.yaml:3: vms[0].memory_bytes: invalid size "8 jiggabytes": unknown unit " jiggabytes" (expected B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)`},
		{"list for string", "vms:\n  - name: a\n    guest_os: [linux]\n",
			`inv.yaml:3: vms[0].guest_os: expected a string, got a list`},
		{"bool for string", "vms:\n  - name: a\n    power: true\n",
			`inv.yaml:3: vms[0].power: expected a string, got a boolean (true)`},
		{"string for bool", "hosts:\n  - name: a\n    maintenance: yes\n",
			`inv.yaml:3: hosts[0].maintenance: expected true or false, got "yes"`},
		{"scalar for list", "firewalls:\n  - name: fw\n    capabilities: ips\n",
			`inv.yaml:3: firewalls[0].capabilities: expected a list, got "ips"`},
		{"hosts not a list", "hosts: {name: a}\n",
			`inv.yaml:1: hosts: expected a list, got a mapping`},
		{"top level not a mapping", "- a\n- b\n",
			`inv.yaml:1: expected a mapping with hosts, vms and firewalls, got a list`},
		{"negative", "hosts:\n  - {name: a, cpu_cores: -4}\n",
			`inv.yaml:2: hosts[0].cpu_cores: -4: expected 0 or more`},
		{"power vocabulary", "vms:\n  - name: a\n    power: running\n",
			`inv.yaml:2: vms[0].power: "running": expected on, off or suspended`},
		{"connection vocabulary", "hosts:\n  - name: a\n    connection: up\n",
			`inv.yaml:2: hosts[0].connection: "up": expected connected, disconnected or not_responding`},
		{"unknown capability", "firewalls:\n  - name: fw\n    capabilities: [stateful, app-control]\n",
			`inv.yaml:2: firewalls[0].capabilities[1]: unknown capability "app-control" (did you mean "app_control"?) (valid: stateful, nat, routing, vpn, ips, app_control, url_filtering, user_control, ssl_inspection, ssh_inspection, malware_protection, reputation_filtering, ad_integration, qos)`},
		{"bad licence date", "firewalls:\n  - name: fw\n    licenses:\n      - {name: ips, expires: 30/06/2027}\n",
			`inv.yaml:2: firewalls[0].licenses[0].expires: "30/06/2027": expected a date YYYY-MM-DD or "never"`},
		{"licence without name", "firewalls:\n  - name: fw\n    licenses:\n      - {expires: 2027-01-01}\n",
			`inv.yaml:2: firewalls[0].licenses[0].name: required`},
		{"licence unknown field", "firewalls:\n  - name: fw\n    licenses:\n      - {name: x, expiry: 2027-01-01}\n",
			`inv.yaml:4: firewalls[0].licenses[0].expiry: unknown field (did you mean "expires"?) (valid: name, expires)`},
		{"missing name", "vms:\n  - {power: \"on\"}\n",
			`inv.yaml:2: vms[0].name: required`},
		{"duplicate", "hosts:\n  - {name: hv1}\n  - {name: HV1}\n",
			`inv.yaml:3: hosts[1].name: "HV1" is already declared on line 2`},
		{"duplicate vm", "vms:\n  - {name: web}\n  - {name: web}\n",
			`inv.yaml:3: vms[1].name: "web" is already declared on line 2`},
		{"duplicate firewall", "firewalls:\n  - {name: fw1}\n  - {name: FW1}\n",
			`inv.yaml:3: firewalls[1].name: "FW1" is already declared on line 2`},
		{"vm without a name", "vms:\n  - {host: hv1}\n",
			`inv.yaml:2: vms[0].name: required`},
		{"duplicate key", "hosts:\n  - name: a\n    name: b\n",
			`inv.yaml:3: hosts[0].name: duplicate key`},
		{"syntax", "hosts:\n  - name: a\n  bad\n",
			`inv.yaml:3: invalid YAML: could not find expected ':'`},
		{"tab indentation", "hosts:\n\t- name: a\n",
			`inv.yaml:2: invalid YAML: found character that cannot start any token`},
		// yaml.v3 names no line for these: ParseDeclared finds it.
		{"control character", "hosts:\n  - {name: hv1}\n  - {name: \"a\x1b[2Jb\"}\n",
			`inv.yaml:3: invalid YAML: control characters are not allowed`},
		{"invalid UTF-8", "vms:\n  - {name: a}\n  - {name: \xff}\n",
			`inv.yaml:3: invalid YAML: invalid leading UTF-8 octet`},
		{"bad UTF-8 in a tag escape", "hosts: []\nvms:\n  - !%80 {name: a}\n",
			`inv.yaml:3: invalid YAML: found an incorrect leading UTF-8 octet`},
		{"unknown anchor", "hosts: []\nvms:\n  - *vm\n",
			`inv.yaml:3: invalid YAML: unknown anchor 'vm' referenced`},
		{"problem on the first line", "%YAML 2.0\n---\nhosts: []\n",
			`inv.yaml:1: invalid YAML: found incompatible YAML document`},
		// yaml.Unmarshal read the first document and dropped the others.
		{"second document", "hosts: [{name: hv1}]\n---\nvms: [{name: a}]\n",
			`inv.yaml:2: a second YAML document starts here; a declared inventory is one document`},
		{"broken second document", "hosts: []\n---\nvms: [\n",
			`inv.yaml:3: invalid YAML: did not find expected node content`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDeclared("inv.yaml", []byte(tc.in))
			var de *DeclaredError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *DeclaredError", err, err)
			}
			if !errors.Is(err, ErrDeclared) {
				t.Errorf("errors.Is(%v, ErrDeclared) = false", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

func TestFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("hosts:\n  - name: hv1\n    cpus: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := &fakeSource{name: "vc", typ: TypeVCenter, recs: Records{Hosts: []Host{{Name: "esx", Connection: ConnConnected, Power: PowerOn}}}}
	r, err := Collect(t.Context(), Options{Sources: []Source{
		good,
		&FileSource{SourceName: "declared", Path: bad},
		&FileSource{SourceName: "gone", Path: filepath.Join(dir, "missing.yaml")},
	}, Now: clock})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("err = %v", err)
	}
	want := map[string]string{
		"declared": bad + ":3: hosts[0].cpus: unknown field (valid: source, name, hypervisor, version, build, vendor, model, cpu_model, cpu_sockets, cpu_cores, cpu_threads, cpu_mhz, memory_bytes, cluster, connection, power, maintenance)",
		"gone":     "declared inventory: open " + filepath.Join(dir, "missing.yaml") + ": no such file or directory",
	}
	if !errors.Is(err, ErrDeclared) {
		t.Errorf("errors.Is(%v, ErrDeclared) = false", err)
	}
	for _, s := range r.Sources {
		if w, ok := want[s.Name]; ok && (s.OK || s.Error != w) {
			t.Errorf("%s: %+v\nwant error %s", s.Name, s, w)
		}
	}
	if len(r.Hosts) != 1 {
		t.Errorf("hosts = %+v", r.Hosts)
	}
}

// The declared file is user input: no input may panic the parser, and
// every error is a located *DeclaredError.
func FuzzParseDeclared(f *testing.F) {
	seed, _ := os.ReadFile("testdata/declared.yaml")
	f.Add(seed)
	f.Add([]byte("hosts: [{name: a, cpu_cores: 1}]\nvms: &x [{name: b}]\nfirewalls: *x\n"))
	f.Add([]byte("firewalls:\n  - {name: fw, licenses: [{name: x, expires: 2027-01-01}], capabilities: [ips]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseDeclared("f.yaml", data)
		var de *DeclaredError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		// Every error has a line, except a reader error in UTF-16.
		if err != nil && de.Line < 1 && !bytes.HasPrefix(data, []byte{0xfe, 0xff}) && !bytes.HasPrefix(data, []byte{0xff, 0xfe}) {
			t.Fatalf("error without a line: %v", err)
		}
	})
}
