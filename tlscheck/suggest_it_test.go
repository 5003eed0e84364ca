package tlscheck

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
)

// sendmailBed prepares what runSendmail needs (the unpacked sendmail 8.17 of
// scripts/services.sh start sendmail, a directory below the service
// directory, the CA of pki as sendmail's trust anchors, a hosts file naming
// mx.it.example 127.0.0.1).
func sendmailBed(t *testing.T, pki *testPKI) (sm, makemap, cfDir, dir, hosts string) {
	t.Helper()
	sm = testenv.Getenv("OPS_IT_SENDMAIL_BIN", "/var/lib/ops-test/sendmail/root/usr/libexec/sendmail/sendmail")
	cfDir = testenv.Getenv("OPS_IT_SENDMAIL_CF_DIR", "/var/lib/ops-test/sendmail/root/usr/share/sendmail/cf")
	makemap = filepath.Join(filepath.Dir(sm), "makemap")
	for _, f := range []string{sm, makemap, filepath.Join(cfDir, "m4", "cf.m4")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("sendmail not unpacked (run scripts/services.sh start sendmail): %v", err)
		}
	}
	for _, tool := range []string{"m4", "unshare", "openssl", "postconf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
	}
	dir, err := os.MkdirTemp(testenv.Getenv("OPS_SVC_DIR", "/var/lib/ops-test"), "tlscheck-suggest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writePEM(t, dir, "ca.crt", pki.root.cert)
	capath := filepath.Join(dir, "capath")
	if err := os.Mkdir(capath, 0o755); err != nil {
		t.Fatal(err)
	}
	writePEM(t, capath, "ca.pem", pki.root.cert)
	if out, err := exec.Command("openssl", "rehash", capath).CombinedOutput(); err != nil {
		t.Fatalf("openssl rehash: %v: %s", err, out)
	}
	hosts = filepath.Join(dir, "hosts")
	writeFile(t, hosts, "127.0.0.1 localhost\n127.0.0.1 mx.it.example\n")
	writeFile(t, filepath.Join(dir, "service.switch"), "hosts files\naliases files\n")
	writeFile(t, filepath.Join(dir, "msg"), "Subject: tlscheck suggest\n\nhello\n")
	return sm, makemap, cfDir, dir, hosts
}

// TestITSuggestSendmailDelivers: for Postfix listeners with a CN that is the
// host, a wildcard CN (issuer with spaces, and one with UTF-8: CI: in
// sendmail's encoding), an expired certificate and a TLS 1.2-only server,
// `suggest` gives a line; the real sendmail 8.17 delivers under that very
// line, and refuses under the next stricter one that ops refused too.
func TestITSuggestSendmailDelivers(t *testing.T) {
	_, _ = itSMTP(t)
	now := time.Now()
	pki := newPKIAt(t, "Suggest CA", now)
	sm, makemap, cfDir, dir, hosts := sendmailBed(t, pki)
	valid := func(s certSpec) certSpec {
		s.notBefore, s.notAfter, s.rsaBits = now.Add(-time.Hour), now.Add(200*24*time.Hour), 2048
		return s
	}
	good := pki.leaf(t, valid(certSpec{cn: "mx.it.example", dns: []string{"mx.it.example"}}))
	wild := pki.leaf(t, valid(certSpec{cn: "*.it.example", dns: []string{"*.it.example"}}))
	expired := pki.leaf(t, certSpec{cn: "mx.it.example", dns: []string{"mx.it.example"}, rsaBits: 2048,
		notBefore: now.Add(-100 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour)})
	// An intermediate with a UTF-8 organization: sendmail's ${cert_issuer}
	// is /C=DE/O=M\xC3\xBCller.../ in xtext, M+5CxC3+5CxBCller.
	utf8CA := issue(t, certSpec{subject: rawName(t, atv{oidC, "DE"}, atv{oidO, "Müller Mail"}, atv{oidCN, "Müller Sub CA"}), isCA: true,
		notBefore: now.Add(-24 * time.Hour), notAfter: now.Add(365 * 24 * time.Hour)}, pki.root)
	utf8Leaf := issue(t, valid(certSpec{cn: "*.it.example", dns: []string{"*.it.example"}}), utf8CA)
	ports := addPostfixListeners(t, dir, []servedChain{
		{name: "utf8", leaf: utf8Leaf, send: []*x509.Certificate{utf8CA.cert}},
		{name: "good", leaf: good, send: []*x509.Certificate{pki.inter.cert}},
		{name: "wild", leaf: wild, send: []*x509.Certificate{pki.inter.cert}},
		{name: "expired", leaf: expired, send: []*x509.Certificate{pki.inter.cert}},
		{name: "tls12", leaf: good, send: []*x509.Certificate{pki.inter.cert}, opts: []string{"smtpd_tls_protocols=<=TLSv1.2", "smtpd_tls_mandatory_ciphers=medium", "tls_medium_cipherlist=AES128+EECDH"}},
	})
	issuer, _ := SendmailDN(pki.inter.cert.RawSubject)
	utf8Issuer, _ := SendmailDN(utf8CA.cert.RawSubject)
	if utf8Issuer != "/C=DE/O=M+5CxC3+5CxBCller+20Mail/CN=M+5CxC3+5CxBCller+20Sub+20CA" {
		t.Fatalf("issuer %q", utf8Issuer)
	}
	for i, c := range []struct {
		name, want, stricter string
	}{
		{"utf8", "VERIFY:256+CI:" + utf8Issuer, "VERIFY:256+CI:" + issuer},
		{"good", "VERIFY:256+CN", "VERIFY:257+CN"},
		{"wild", "VERIFY:256+CI:" + issuer, "VERIFY:256+CN"},
		{"expired", "ENCR:256", "VERIFY:256"},
		{"tls12", "VERIFY:128+CN", "VERIFY:129+CN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := fmt.Sprintf("mx.it.example:%d", ports[i])
			ss, err := Suggest(t.Context(), Options{Targets: []string{target},
				Probe: ProbeOptions{Roots: pki.pool, Timeout: 10 * time.Second, Pins: map[string]netip.Addr{"mx.it.example": netip.MustParseAddr("127.0.0.1")}}}, FormatSendmail)
			if err != nil || len(ss) != 1 {
				t.Fatalf("%+v %v", ss, err)
			}
			s := ss[0]
			if s.Rule != c.want {
				t.Fatalf("suggested %q (%s), want %q", s.Rule, s.Why, c.want)
			}
			ok, reply, out := runSendmail(t, sm, makemap, cfDir, dir, c.name, s.Line()+"\n", hosts, ports[i])
			t.Logf("%-8s %-55s sendmail delivers: %v %s", c.name, s.Line(), ok, reply)
			if !ok {
				t.Fatalf("sendmail refused the suggested line %q: %s\n%s", s.Line(), reply, out)
			}
			strict := "TLS_Srv:mx.it.example\t" + c.stricter + "\n"
			ok, reply, _ = runSendmail(t, sm, makemap, cfDir, dir, c.name+"-stricter", strict, hosts, ports[i])
			r := Evaluate(probeIT(t, ProbeOptions{Roots: pki.pool, Timeout: 10 * time.Second}, Target{Host: "mx.it.example", Port: ports[i]}),
				mustPolicy(t, strict), EvalOptions{})
			t.Logf("%-8s %-55s sendmail delivers: %v %s | ops %s %s", c.name, strings.TrimSpace(strict), ok, reply, r.Verdict, r.Reply)
			if ok || r.Verdict != Fail || reply != r.Reply {
				t.Errorf("the stricter line: sendmail %v %q, ops %s %q (both must refuse alike)", ok, reply, r.Verdict, r.Reply)
			}
		})
	}
}
