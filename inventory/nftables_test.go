package inventory

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

// newNetns creates a named network namespace loaded with the fixture
// ruleset and removes it at the end of the test. Needs root, ip and nft;
// under OPS_IT=1 their absence is a failure.
func newNetns(t *testing.T, ruleset string) string {
	t.Helper()
	testenv.RequireIT(t)
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (apt-get install -y --no-install-recommends iproute2 nftables): %v", tool, err)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "ops-inv-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s (needs root)", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if ruleset != "" {
		if out, err := exec.Command("ip", "netns", "exec", name, "nft", "-f", ruleset).CombinedOutput(); err != nil {
			t.Fatalf("nft -f %s: %v: %s", ruleset, err, out)
		}
	}
	return name
}

func TestNftablesNetns(t *testing.T) {
	ns := newNetns(t, "testdata/nftables.nft")
	r, err := Collect(t.Context(), Options{
		Sources:                     []Source{&NftablesSource{SourceName: "edge", Netns: ns}},
		RequireFirewallCapabilities: []string{"stateful", "ips"},
		Now:                         clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Firewalls) != 1 {
		t.Fatalf("firewalls = %+v", r.Firewalls)
	}
	fw := r.Firewalls[0]
	if fw.Name != "edge" || fw.Vendor != "netfilter" || fw.Model != "nftables" || fw.Version == "" || fw.Rules != 7 ||
		strings.Join(fw.Capabilities, ",") != "nat,stateful" {
		t.Errorf("firewall = %+v", fw)
	}
	// normalise the random namespace name and the kernel for the golden file
	for i := range r.Firewalls {
		r.Firewalls[i].Name, r.Firewalls[i].Version = "NETNS", "KERNEL"
	}
	for i := range r.Findings {
		r.Findings[i].Object = "NETNS"
	}
	for i := range r.Sources {
		r.Sources[i].DurationMS, r.Sources[i].Endpoint = 0, "netns:NETNS"
	}
	r.Normalize()
	golden(t, "nftables.json", render(t, r, FormatJSON, KindAll))

	var checks []string
	for _, f := range r.Findings {
		checks = append(checks, f.Check+": "+f.Message)
	}
	want := []string{
		"firewall_capability: missing required capabilities: ips",
		"chain_accept_empty: chain inet filter forward (hook forward): policy accept and no rules, so everything passes",
	}
	if strings.Join(checks, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(checks, "\n"), strings.Join(want, "\n"))
	}
}

func TestNftablesEmptyAndMissingNetns(t *testing.T) {
	ns := newNetns(t, "")
	r, err := (&NftablesSource{SourceName: "e", Netns: ns}).Collect(t.Context())
	if err != nil || len(r.Firewalls) != 1 || r.Firewalls[0].Rules != 0 || len(r.Firewalls[0].Tables) != 0 {
		t.Errorf("empty netns: %+v, %v", r, err)
	}
	_, err = (&NftablesSource{SourceName: "e", Netns: "ops-inv-does-not-exist"}).Collect(t.Context())
	if err == nil || err.Error() != `network namespace "ops-inv-does-not-exist": open /run/netns/ops-inv-does-not-exist: no such file or directory` {
		t.Errorf("missing netns: %v", err)
	}
}
