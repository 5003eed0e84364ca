package tlscheck

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
)

// knotRRs adds records (owner relative to zone, "TYPE DATA"; an owner may
// come more than once) to a zone of the running knot and removes the owners
// at cleanup.
func knotRRs(t *testing.T, conf, zone string, rrs [][2]string) {
	t.Helper()
	knotc := func(args ...string) error {
		out, err := exec.Command("knotc", append([]string{"-c", conf}, args...)...).CombinedOutput()
		if err != nil || strings.Contains(string(out), "error") {
			return fmt.Errorf("knotc %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	txn := func(ops [][]string) error {
		_ = exec.Command("knotc", "-c", conf, "zone-abort", zone).Run()
		if err := knotc("zone-begin", zone); err != nil {
			return err
		}
		for _, op := range ops {
			if err := knotc(op...); err != nil {
				_ = knotc("zone-abort", zone)
				return err
			}
		}
		return knotc("zone-commit", zone)
	}
	var set, unset [][]string
	seen := map[string]bool{}
	for _, rr := range rrs {
		set = append(set, append([]string{"zone-set", zone, rr[0], "60"}, strings.Fields(rr[1])...))
		if !seen[rr[0]] {
			seen[rr[0]] = true
			unset = append(unset, []string{"zone-unset", zone, rr[0]})
		}
	}
	if err := txn(set); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := txn(unset); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func loadPEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestITDANERolloverAndSTS runs the rollover cases and DANE with MTA-STS
// against the DANE test bed (knot signs, unbound validates) and the real
// Postfix on 2525 (the PKI's server certificate): names and records are
// added to dane.test for the test and removed after.
func TestITDANERolloverAndSTS(t *testing.T) {
	resolver, knotConf := itDANE(t)
	mainAddr, mainPool := itSMTP(t)
	pkiDir := testenv.Getenv("OPS_IT_PKI_DIR", "/var/lib/ops-test/pki")
	server := loadPEMCert(t, filepath.Join(pkiDir, "server.crt"))
	ca := loadPEMCert(t, filepath.Join(pkiDir, "ca.crt"))
	nextKey := newPKI(t, "NextKey").leaf(t, certSpec{cn: "localhost", dns: []string{"localhost"}}) // the renewal's new key
	port := int(mainAddr.Port())
	nb := make([]byte, 4)
	_, _ = rand.Read(nb)
	n := hex.EncodeToString(nb)
	rec := func(usage, sel, mt uint8, c *x509.Certificate) string {
		tl := tlsaFor(usage, sel, mt, c)
		return fmt.Sprintf("TLSA %d %d %d %s", tl.Usage, tl.Selector, tl.MatchingType, hex.EncodeToString(tl.Data))
	}
	tlsa := func(label string) string { return fmt.Sprintf("_%d._tcp.%s-%s", port, label, n) }
	host := func(label string) string { return label + "-" + n + ".dane.test" }
	stsPKI := newPKI(t, "StsDaneIT")
	policies := map[string]string{ // MTA-STS policy per domain
		"mta-sts." + host("stsok"):  "version: STSv1\nmode: enforce\nmx: elsewhere.example\nmax_age: 86400\n",
		"mta-sts." + host("stsbad"): "version: STSv1\nmode: enforce\nmx: " + host("stsbadmx") + "\nmax_age: 86400\n",
	}
	knotRRs(t, knotConf, "dane.test", [][2]string{
		{tlsa("rollrisk"), rec(3, 1, 1, server)},
		{tlsa("rollkey"), rec(3, 1, 1, server)}, {tlsa("rollkey"), rec(3, 1, 1, nextKey.cert)},
		{tlsa("rollta"), rec(3, 1, 1, server)}, {tlsa("rollta"), rec(2, 1, 1, ca)},
		{"stsok-" + n, "MX 10 " + host("stsokmx") + "."}, {"_mta-sts.stsok-" + n, `TXT "v=STSv1; id=1"`},
		{"stsokmx-" + n, "A 127.0.0.1"}, {tlsa("stsokmx"), rec(3, 1, 1, server)},
		{"stsbad-" + n, "MX 10 " + host("stsbadmx") + "."}, {"_mta-sts.stsbad-" + n, `TXT "v=STSv1; id=1"`},
		{"stsbadmx-" + n, "A 127.0.0.1"}, {tlsa("stsbadmx"), rec(3, 1, 1, nextKey.cert)},
	})
	res := &Resolver{Addr: resolver}
	t.Run("rollover", func(t *testing.T) {
		for _, c := range []struct{ label, want, why string }{
			{"rollrisk", RolloverAtRisk, "matches only the current key"},
			{"rollkey", RolloverSafe, "another key or certificate"},
			{"rollta", RolloverSafe, "DANE-TA record"},
		} {
			target := fmt.Sprintf("%s:%d", host(c.label), port)
			results, err := Check(t.Context(), Options{Targets: []string{target}, DANE: true, DANEResolver: res, Require: "VERIFY",
				Probe: ProbeOptions{Roots: mainPool, Timeout: 10 * time.Second, Pins: map[string]netip.Addr{host(c.label): netip.MustParseAddr("127.0.0.1")}}})
			if err != nil || len(results) != 1 || results[0].Error != "" {
				t.Fatalf("%s: %+v %v", target, results, err)
			}
			r := results[0]
			t.Logf("%-40s dane %s, dane_rollover %s, records %q", target, r.DANE, r.DANERollover, r.DANERecords)
			all := strings.Join(append(r.Reasons, r.Warnings...), "\n")
			if r.DANE != DANEPass || r.DANERollover != c.want || !strings.Contains(all, c.why) {
				t.Errorf("%s: dane %s rollover %s, want pass %s (%q)\nreasons %q\nwarnings %q", target, r.DANE, r.DANERollover, c.want, c.why, r.Reasons, r.Warnings)
			}
		}
	})
	t.Run("MTA-STS with DANE", func(t *testing.T) {
		stsDial := stsServerNames(t, stsPKI, policies)
		results, err := Check(t.Context(), Options{
			Rcpts: []string{"a@" + host("stsok"), "b@" + host("stsbad")}, MXPort: port, STS: true, DANE: true, DANEResolver: res, Require: "VERIFY",
			STSOptions: STSOptions{DialContext: stsDial, RootCAs: stsPKI.pool, Timeout: 10 * time.Second},
			Probe:      ProbeOptions{Roots: mainPool, Timeout: 10 * time.Second, Resolver: res},
		})
		if err != nil || len(results) != 2 {
			t.Fatalf("%+v %v", results, err)
		}
		ok, bad := results[0], results[1]
		t.Logf("%s via %s: %s dane %s mta_sts_mode %s, warnings %q", ok.Rcpt, ok.Target, ok.Verdict, ok.DANE, ok.MTASTSMode, ok.Warnings)
		t.Logf("%s via %s: %s dane %s mta_sts_mode %s, reply %q", bad.Rcpt, bad.Target, bad.Verdict, bad.DANE, bad.MTASTSMode, bad.Reply)
		if ok.Verdict != Pass || ok.DANE != DANEPass || ok.MTASTSMode != "enforce" || !containsSub(ok.Warnings, "is not listed in the MTA-STS policy") ||
			!containsSub(ok.Reasons, "DANE decides") {
			t.Errorf("DANE passes, MX not in the STS policy: %s %q\nreasons %q\nwarnings %q", ok.Verdict, ok.Reply, ok.Reasons, ok.Warnings)
		}
		if bad.Verdict != Fail || bad.DANE != DANEFail || !strings.HasPrefix(bad.Reply, "450 4.7.5 DANE: ") || bad.ResultType != RTTLSAInvalid ||
			!containsSub(bad.Reasons, "DANE decides, not MTA-STS (RFC 8461 §2); MTA-STS (enforce) beside it: ") {
			t.Errorf("DANE fails, MX in the STS policy: %s %q\nreasons %q", bad.Verdict, bad.Reply, bad.Reasons)
		}
	})
}

// stsServerNames serves each policy (by Host) from one HTTPS server whose
// certificate names every host.
func stsServerNames(t *testing.T, pki *testPKI, policies map[string]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	t.Helper()
	var names []string
	for h := range policies {
		names = append(names, h)
	}
	leaf := pki.leaf(t, certSpec{cn: names[0], dns: names, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := policies[strings.Split(r.Host, ":")[0]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(p))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
