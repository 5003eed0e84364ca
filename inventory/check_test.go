package inventory

import (
	"bytes"
	"testing"
)

func TestCheck(t *testing.T) {
	decl, err := ParseDeclared("inv.yaml", []byte(`hosts:
  - {name: hv1, hypervisor: hyper-v}                 # undiscoverable: fine
  - {name: esx01.example.net, source: vc, cpu_cores: 64, memory_bytes: 512GiB, connection: connected}
  - {name: esx02.example.net, source: vc, connection: connected, maintenance: false}
  - {name: esx03.example.net, source: vc}
  - {name: esx09.example.net, source: vc}            # gone
vms:
  - {name: web-01, source: vc, power: "on", cpus: 2}
  - {name: web-02, source: vc, ips: [10.0.0.2, 10.0.0.12]}
  - {name: db-01, source: vc, cpus: 4}
  - {name: ci-runner, cpus: 4, autostart: true}     # no source: matched by name on kvm
  - {name: lost, source: vc-lab}                    # its source failed: unverified
  - {name: x, source: nope}                         # no such source
firewalls:
  - {name: gw1, capabilities: [nat, stateful], rules: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := sampleReport(t)
	res := Check(decl, r)
	if !res.Failed() {
		t.Fatal("Failed() = false")
	}
	var b bytes.Buffer
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "check.txt", b.Bytes())
	b.Reset()
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "check.json", b.Bytes())
}

func TestCheckClean(t *testing.T) {
	decl, err := ParseDeclared("inv.yaml", []byte(`vms:
  - {name: ci-runner, source: kvm, power: "on", cpus: 4}
  - {name: old-build, source: kvm, power: "off"}
hosts:
  - {name: kvm1, source: kvm, connection: connected}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{
		Sources: []SourceStatus{{Name: "kvm", Type: TypeLibvirt, OK: true}},
		Hosts:   []Host{{Source: "kvm", Name: "kvm1", Connection: ConnConnected, Power: PowerOn}},
		VMs: []VM{
			{Source: "kvm", Name: "ci-runner", Host: "kvm1", Power: PowerOn, CPUs: 4},
			{Source: "kvm", Name: "old-build", Host: "kvm1", Power: PowerOff, CPUs: 2},
		},
	}
	r.Normalize()
	res := Check(decl, r)
	if res.Failed() || len(res.Drift) != 0 {
		t.Errorf("clean check failed: %+v", res)
	}
	// an undeclared VM on a fully declared source is drift
	r.VMs = append(r.VMs, VM{Source: "kvm", Name: "rogue", Power: PowerOn})
	res = Check(decl, r)
	if !res.Failed() || len(res.Drift) != 1 || res.Drift[0].Problem != "unexpected" || res.Drift[0].Name != "rogue" {
		t.Errorf("rogue VM: %+v", res.Drift)
	}
}
