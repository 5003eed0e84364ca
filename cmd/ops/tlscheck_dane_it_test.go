package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

// `ops tlscheck --resolver` against the DANE test bed (scripts/services.sh
// start dane): --require DANE and Postfix' dane / dane-only levels, with
// the real Postfix on 2525 named as a host of each test zone.
func TestTLSCheckCLIDANE(t *testing.T) {
	testenv.RequireIT(t)
	resolver := testenv.Getenv("OPS_IT_DANE_RESOLVER", "127.0.0.1:5300")
	addr := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	port := addr[strings.LastIndex(addr, ":")+1:]
	dir := t.TempDir()
	policy := filepath.Join(dir, "tls_policy")
	if err := os.WriteFile(policy, []byte(
		"[mx1.dane.test]:"+port+" dane-only\n"+
			"[mx1.plain.test]:"+port+" dane\n"+
			"[mx1.bogus.test]:"+port+" dane\n"+
			"[mx1.badsig.test]:"+port+" dane-only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(zone string, args ...string) (int, string, string) {
		target := "mx1." + zone + ":" + port
		return runOps(t, append([]string{"tlscheck", target, "--resolve", "mx1." + zone + ":" + port + ":127.0.0.1", "--resolver", resolver}, args...)...)
	}
	for _, c := range []struct {
		zone string
		args []string
		code int
		want string
	}{
		{"dane.test", []string{"--require", "DANE", "--output", "json"}, 0, `"dane": "pass"`},
		{"dane.test", []string{"--require", "DANE", "--output", "json"}, 0, `"dane_rollover": "at-risk"`}, // 3 1 1 of one key only
		{"dane.test", []string{"--require", "DANE"}, 0, "DANE rollover at risk"},
		{"badsig.test", []string{"--require", "DANE"}, 1, "DANE required: TLSA lookup failed"},
		{"plain.test", []string{"--require", "DANE"}, 1, "no usable DNSSEC-validated TLSA records (insecure)"},
		{"dane.test", []string{"--policy", policy}, 0, "PASS"},
		{"plain.test", []string{"--policy", policy, "--output", "json"}, 0, `"dane": "insecure"`},
		{"bogus.test", []string{"--policy", policy}, 1, "450 4.7.5 TLSA lookup error for mx1.bogus.test:" + port},
		{"badsig.test", []string{"--policy", policy}, 1, "450 4.7.5 TLSA lookup error"},
	} {
		code, out, stderr := run(c.zone, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s %v: code %d (want %d), want %q in\n%s%s", c.zone, c.args, code, c.code, c.want, out, stderr)
		}
	}
}

// --resolver alone (no --resolve pin, no --dns): the validating resolver
// answers the A/AAAA lookups too. A zone it finds bogus fails the lookup
// with one line naming the resolver (no escaped newline between the A and
// AAAA failures).
func TestTLSCheckResolverAloneIT(t *testing.T) {
	testenv.RequireIT(t)
	resolver := testenv.Getenv("OPS_IT_DANE_RESOLVER", "127.0.0.1:5300")
	addr := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	port := addr[strings.LastIndex(addr, ":")+1:]
	code, out, stderr := runOps(t, "tlscheck", "mx1.dane.test:"+port, "--resolver", resolver, "--require", "DANE", "--output", "json")
	if code != 0 || !strings.Contains(out, `"dane": "pass"`) || !strings.Contains(out, `"addr": "127.0.0.1:`+port+`"`) {
		t.Fatalf("dane.test: code %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runOps(t, "tlscheck", "mx1.bogus.test:"+port, "--resolver", resolver)
	want := "dns A mx1.bogus.test via " + resolver + ": SERVFAIL; dns AAAA mx1.bogus.test"
	if code != 3 || !strings.Contains(strings.ReplaceAll(out, "\n    ", " "), want) || strings.Contains(out, `\n`) {
		t.Fatalf("bogus.test: code %d, want %q in\n%s%s", code, want, out, stderr)
	}
	t.Logf("tlscheck mx1.bogus.test:%s --resolver %s (exit 3):\n%s", port, resolver, out)
}
