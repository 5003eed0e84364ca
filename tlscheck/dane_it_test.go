package tlscheck

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/opsteam/ops/internal/testenv"
)

// itDANE returns the validating resolver and the knot configuration of the
// DANE test bed (scripts/services.sh start dane; services.md §7). With
// OPS_IT=1 a missing test bed is a failure.
func itDANE(t *testing.T) (resolver, knotConf string) {
	t.Helper()
	testenv.RequireIT(t)
	resolver = testenv.Getenv("OPS_IT_DANE_RESOLVER", "127.0.0.1:5300")
	knotConf = testenv.Getenv("OPS_IT_DANE_KNOT_CONF", "/var/lib/ops-test/dane/knot/knot.conf")
	m := new(dns.Msg)
	m.SetQuestion("dane.test.", dns.TypeSOA)
	m.SetEdns0(4096, true)
	in, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, resolver)
	if err != nil || in.Rcode != dns.RcodeSuccess || !in.AuthenticatedData {
		t.Fatalf("the validating resolver %s does not answer dane.test with AD (err %v, answer %v): run scripts/services.sh start dane", resolver, err, in)
	}
	if _, err := exec.LookPath("knotc"); err != nil {
		t.Fatalf("knotc: %v (run scripts/services.sh start dane)", err)
	}
	return resolver, knotConf
}

// knotSet adds records (owner relative to zone, "TYPE DATA") to a zone of
// the running knot and removes them at cleanup.
func knotSet(t *testing.T, conf, zone string, recs map[string]string) {
	t.Helper()
	knotc := func(args ...string) error {
		out, err := exec.Command("knotc", append([]string{"-c", conf}, args...)...).CombinedOutput()
		if err != nil || strings.Contains(string(out), "error") {
			return fmt.Errorf("knotc %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	change := func(op string) error {
		_ = exec.Command("knotc", "-c", conf, "zone-abort", zone).Run()
		if err := knotc("zone-begin", zone); err != nil {
			return err
		}
		for owner, rr := range recs {
			args := []string{op, zone, owner}
			if op == "zone-set" {
				args = append(args, "60")
				args = append(args, strings.Fields(rr)...)
			}
			if err := knotc(args...); err != nil {
				_ = knotc("zone-abort", zone)
				return err
			}
		}
		return knotc("zone-commit", zone)
	}
	if err := change("zone-set"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := change("zone-unset"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// TestITDANEMatrix checks DANE against the real thing: TLSA records in
// zones served by knot (signed on the fly, unsigned, signed under a wrong
// trust anchor, signed with a spoiled signature), validated by unbound,
// for Postfix listeners serving chains made here.
func TestITDANEMatrix(t *testing.T) {
	resolver, knotConf := itDANE(t)
	_, mainPool := itSMTP(t)
	now := time.Now()
	pki := newPKIAt(t, "DaneIT", now)
	valid := func(s certSpec) certSpec {
		s.notBefore, s.notAfter, s.rsaBits = now.Add(-time.Hour), now.Add(100*24*time.Hour), 2048
		return s
	}
	good := pki.leaf(t, valid(certSpec{cn: "mx.dane.test", dns: []string{"*.dane.test", "*.plain.test"}}))
	elsewhere := issue(t, certSpec{cn: "elsewhere.example", dns: []string{"elsewhere.example"}, notBefore: now.Add(-time.Hour), notAfter: now.Add(100 * 24 * time.Hour)}, pki.inter)
	dir := t.TempDir()
	ports := addPostfixListeners(t, dir, []servedChain{
		{name: "dane-good", leaf: good, send: []*x509.Certificate{pki.inter.cert}},
		{name: "dane-elsewhere", leaf: elsewhere, send: []*x509.Certificate{pki.inter.cert}},
	})
	pGood, pElse := ports[0], ports[1]
	nb := make([]byte, 4)
	_, _ = rand.Read(nb)
	n := hex.EncodeToString(nb) // fresh names: no cached answers from earlier runs
	rec := func(usage, sel, mt uint8, c *x509.Certificate) string {
		tl := tlsaFor(usage, sel, mt, c)
		return fmt.Sprintf("TLSA %d %d %d %s", tl.Usage, tl.Selector, tl.MatchingType, hex.EncodeToString(tl.Data))
	}
	owner := func(label string, port int) string { return fmt.Sprintf("_%d._tcp.%s-%s", port, label, n) }
	knotSet(t, knotConf, "dane.test", map[string]string{
		owner("ee", pGood):       rec(3, 1, 1, good.cert),
		owner("eecert", pGood):   rec(3, 0, 2, good.cert),
		owner("eewrong", pGood):  rec(3, 1, 1, elsewhere.cert),
		owner("ta", pGood):       rec(2, 0, 1, pki.inter.cert),
		owner("tawrong", pElse):  rec(2, 0, 1, pki.inter.cert),
		owner("unusable", pGood): rec(1, 1, 1, good.cert),
	})
	knotSet(t, knotConf, "plain.test", map[string]string{owner("ee", pGood): rec(3, 1, 1, good.cert)})
	// A recipient domain whose MX is mx1.dane.test (TLSA by services.sh).
	knotSet(t, knotConf, "dane.test", map[string]string{"dom-" + n: "MX 10 mx1.dane.test."})

	mainAddr := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	mainPort := mainAddr[strings.LastIndex(mainAddr, ":")+1:]
	host := func(label, zone string) string { return label + "-" + n + "." + zone }
	tests := []struct {
		name, target string
		roots        *x509.CertPool
		want         string // DANE outcome
		verdict      string // with --require DANE
	}{
		{"DANE-EE 3 1 1 matches", fmt.Sprintf("%s:%d", host("ee", "dane.test"), pGood), pki.pool, DANEPass, Pass},
		{"DANE-EE 3 0 2 matches", fmt.Sprintf("%s:%d", host("eecert", "dane.test"), pGood), pki.pool, DANEPass, Pass},
		{"DANE-EE does not match", fmt.Sprintf("%s:%d", host("eewrong", "dane.test"), pGood), pki.pool, DANEFail, Fail},
		{"DANE-TA 2 0 1 matches, name ok", fmt.Sprintf("%s:%d", host("ta", "dane.test"), pGood), pki.pool, DANEPass, Pass},
		{"DANE-TA 2 0 1, name mismatch", fmt.Sprintf("%s:%d", host("tawrong", "dane.test"), pElse), pki.pool, DANEFail, Fail},
		{"only unusable records", fmt.Sprintf("%s:%d", host("unusable", "dane.test"), pGood), pki.pool, DANENone, Fail},
		{"no TLSA records (signed zone)", fmt.Sprintf("%s:%d", host("nothing", "dane.test"), pGood), pki.pool, DANENone, Fail},
		{"unsigned zone: insecure", fmt.Sprintf("%s:%d", host("ee", "plain.test"), pGood), pki.pool, DANEInsecure, Fail},
		{"bogus: wrong trust anchor", "mx1.bogus.test:" + mainPort, mainPool, DANEFail, Fail},
		{"bogus: bad signature", "mx1.badsig.test:" + mainPort, mainPool, DANEFail, Fail},
		{"signed, matching (services.sh record)", "mx1.dane.test:" + mainPort, mainPool, DANEPass, Pass},
	}
	t.Logf("%-40s %-34s %-9s %s", "case", "target", "dane", "verdict (--require DANE)")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := ParseTarget(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			results, err := Check(t.Context(), Options{
				Targets: []string{tc.target}, Require: "DANE", DANEResolver: &Resolver{Addr: resolver},
				Probe: ProbeOptions{Roots: tc.roots, Timeout: 10 * time.Second, Pins: map[string]netip.Addr{tg.Host: netip.MustParseAddr("127.0.0.1")}},
			})
			if err != nil || len(results) != 1 {
				t.Fatalf("%v %v", results, err)
			}
			r := results[0]
			if r.Error != "" {
				t.Fatalf("not checked: %s", r.Error)
			}
			t.Logf("%-40s %-34s %-9s %s %s", tc.name, tc.target, r.DANE, r.Verdict, r.Reply)
			if r.DANE != tc.want || r.Verdict != tc.verdict {
				t.Errorf("dane %s verdict %s (%q; reasons %q), want dane %s verdict %s", r.DANE, r.Verdict, r.Reply, r.Reasons, tc.want, tc.verdict)
			}
		})
	}
	// --rcpt: the MX host found through the validating resolver gets the
	// TLSA lookup (at the MX port), like a target.
	t.Run("MX of a recipient domain", func(t *testing.T) {
		res := &Resolver{Addr: resolver}
		results, err := Check(t.Context(), Options{
			Rcpts: []string{"postmaster@dom-" + n + ".dane.test"}, MXPort: mustAtoi(mainPort, 0), Require: "DANE", DANEResolver: res,
			Probe: ProbeOptions{Roots: mainPool, Timeout: 10 * time.Second, Resolver: res},
		})
		if err != nil || len(results) != 1 {
			t.Fatalf("%+v %v", results, err)
		}
		r := results[0]
		t.Logf("%-40s %-34s %-9s %s %s", "MX of a recipient domain", r.Target+" (MX)", r.DANE, r.Verdict, r.Reply)
		if r.Target != "mx1.dane.test:"+mainPort || r.DANE != DANEPass || r.Verdict != Pass {
			t.Errorf("%s dane %s verdict %s %q %q", r.Target, r.DANE, r.Verdict, r.Reply, r.Reasons)
		}
	})
}
