package tlscheck

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
)

// Integration tests against the real Postfix that `scripts/services.sh start
// postfix` runs on 127.0.0.1:2525 (OPS_IT_SMTP_ADDR, CA in OPS_IT_SMTP_CA).
// With OPS_IT=1 a missing service is a failure.

func itSMTP(t *testing.T) (netip.AddrPort, *x509.CertPool) {
	t.Helper()
	testenv.RequireIT(t)
	addr := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	caFile := testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt")
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatalf("OPS_IT_SMTP_ADDR=%q: %v", addr, err)
	}
	pool, err := LoadCAFile(caFile)
	if err != nil {
		t.Fatalf("OPS_IT_SMTP_CA: %v (run scripts/services.sh start postfix)", err)
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("Postfix not reachable at %s: %v (run scripts/services.sh start postfix)", addr, err)
	}
	c.Close()
	return ap, pool
}

func TestITPostfixProbe(t *testing.T) {
	ap, pool := itSMTP(t)
	tg := Target{Host: "localhost", Port: int(ap.Port())}
	f := ProbeAddr(t.Context(), ProbeOptions{Roots: pool, Timeout: 10 * time.Second, Helo: "it.ops.test"}, tg, ap.Addr())
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	if f.Verify != VerifyOK || f.TLSVersion != "TLSv1.3" || f.CipherBits < 128 {
		t.Errorf("verify=%s (%s) %s %s %d", f.Verify, f.VerifyError, f.TLSVersion, f.Cipher, f.CipherBits)
	}
	if f.CertSubject != "/CN=localhost" || f.CertIssuer != "/CN=Test+20Root+20CA" || f.CNSubject != "localhost" {
		t.Errorf("subject %q issuer %q cn %q", f.CertSubject, f.CertIssuer, f.CNSubject)
	}
	if strings.Join(f.AltSubject, " ") != "DNS:localhost IP:127.0.0.1 IP:::1" {
		t.Errorf("altnames %q", f.AltSubject)
	}
	if !hasExtension(f.Extensions, "STARTTLS") || hasExtension(f.TLSExtensions, "STARTTLS") {
		t.Errorf("EHLO before %v after %v (Postfix stops offering STARTTLS after TLS)", f.Extensions, f.TLSExtensions)
	}
	policy := mustPolicy(t, `TLS_Srv:localhost VERIFY:128+CN++CI:/CN=Test+20Root+20CA
TLS_Srv:127.0.0.1 VERIFY:512
`)
	if r := Evaluate(f, policy, EvalOptions{}); r.Verdict != Pass || r.PolicyKey != "TLS_Srv:localhost" {
		t.Errorf("localhost: %s %q %q", r.Verdict, r.Reply, r.Reasons)
	}
	f2 := ProbeAddr(t.Context(), ProbeOptions{Roots: pool, Timeout: 10 * time.Second}, Target{Host: "127.0.0.1", Port: int(ap.Port())}, ap.Addr())
	r := Evaluate(f2, policy, EvalOptions{})
	if r.Verdict != Fail || r.Reply != fmt.Sprintf("454 4.7.0 encryption too weak %d less than 512", f2.CipherBits) {
		t.Errorf("127.0.0.1: %s %q", r.Verdict, r.Reply)
	}
	// Without the test CA (system roots) the chain does not verify.
	f3 := ProbeAddr(t.Context(), ProbeOptions{Timeout: 10 * time.Second}, tg, ap.Addr())
	if f3.Verify != VerifyFail {
		t.Errorf("system roots: verify %s", f3.Verify)
	}
}

func TestITPostfixCheckConcurrent(t *testing.T) {
	ap, pool := itSMTP(t)
	var targets []string
	for i := 0; i < 64; i++ {
		targets = append(targets, fmt.Sprintf("localhost:%d", ap.Port()))
	}
	start := time.Now()
	results, err := Check(t.Context(), Options{
		Targets: targets, Concurrency: 32,
		Probe: ProbeOptions{Roots: pool, Timeout: 10 * time.Second, Pins: map[string]netip.Addr{"localhost": ap.Addr()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Verdict != Pass {
			t.Fatalf("%s: %s %s %q", r.Target, r.Verdict, r.Error, r.Reasons)
		}
	}
	t.Logf("64 checks at concurrency 32 in %s", time.Since(start))
}

// TestITPostfixChains adds smtpd listeners to the running Postfix, each
// serving a chain this test generates, and checks the verdicts.
func TestITPostfixChains(t *testing.T) {
	_, _ = itSMTP(t)
	if _, err := exec.LookPath("postconf"); err != nil {
		t.Fatalf("postconf not found: %v", err)
	}
	now := time.Now()
	pki := newPKIAt(t, "ITCA", now)
	dir := t.TempDir()
	type listener struct {
		name   string
		leaf   *testCert
		send   []*x509.Certificate // after the leaf
		target string
		policy string
		want   string // verdict
		reply  string
		verify string
	}
	valid := func(s certSpec) certSpec {
		s.notBefore, s.notAfter = now.Add(-time.Hour), now.Add(200*24*time.Hour)
		s.rsaBits = 2048
		return s
	}
	wild := pki.leaf(t, valid(certSpec{cn: "*.it.example", dns: []string{"*.it.example"}}))
	expired := pki.leaf(t, certSpec{cn: "mx.it.example", dns: []string{"mx.it.example"}, rsaBits: 2048, notBefore: now.Add(-100 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour)})
	noInter := pki.leaf(t, valid(certSpec{cn: "mx.it.example", dns: []string{"mx.it.example"}}))
	selfSigned := issue(t, valid(certSpec{cn: "mx.it.example", dns: []string{"mx.it.example"}}), nil)
	ls := []listener{
		{name: "wildcard", leaf: wild, send: []*x509.Certificate{pki.inter.cert}, target: "mx.it.example", want: Pass, verify: VerifyOK},
		{name: "wildcard-two-labels", leaf: wild, send: []*x509.Certificate{pki.inter.cert}, target: "a.mx.it.example", want: Fail, verify: VerifyOK,
			reply: "454 4.7.0 CA a.mx.it.example does not match subjectAltName DNS:*.it.example"},
		{name: "wildcard-cn", leaf: wild, send: []*x509.Certificate{pki.inter.cert}, target: "mx.it.example", policy: "TLS_Srv:mx.it.example VERIFY+CN\n",
			want: Fail, verify: VerifyOK, reply: "454 4.7.0 CN *.it.example does not match mx.it.example"},
		{name: "expired", leaf: expired, send: []*x509.Certificate{pki.inter.cert}, target: "mx.it.example", want: Fail, verify: VerifyFail, reply: "454 4.7.0 authentication failed"},
		{name: "missing-intermediate", leaf: noInter, target: "mx.it.example", want: Fail, verify: VerifyFail, reply: "454 4.7.0 authentication failed"},
		{name: "self-signed", leaf: selfSigned, target: "mx.it.example", want: Fail, verify: VerifyFail},
		{name: "self-signed-encr", leaf: selfSigned, target: "mx.it.example", policy: "TLS_Srv:it.example ENCR:128\n", want: Pass, verify: VerifyFail},
	}
	chains := make([]servedChain, len(ls))
	for i, l := range ls {
		chains[i] = servedChain{name: l.name, leaf: l.leaf, send: l.send}
	}
	ports := addPostfixListeners(t, dir, chains)
	for i, l := range ls {
		t.Run(l.name, func(t *testing.T) {
			f := probeIT(t, ProbeOptions{Roots: pki.pool, Timeout: 10 * time.Second}, Target{Host: l.target, Port: ports[i]})
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			if f.Verify != l.verify {
				t.Errorf("verify %s (%s), want %s", f.Verify, f.VerifyError, l.verify)
			}
			var pol *Policy
			if l.policy != "" {
				pol = mustPolicy(t, l.policy)
			}
			r := Evaluate(f, pol, EvalOptions{})
			if r.Verdict != l.want || (l.reply != "" && r.Reply != l.reply) {
				t.Errorf("verdict %s reply %q, want %s %q; reasons %q", r.Verdict, r.Reply, l.want, l.reply, r.Reasons)
			}
		})
	}
}

// newPKIAt is newPKI with validity around a given time (the real clock for
// servers whose certificates OpenSSL checks).
func newPKIAt(t testing.TB, name string, now time.Time) *testPKI {
	t.Helper()
	root := issue(t, certSpec{subject: rawName(t, atv{oidC, "DE"}, atv{oidO, name}, atv{oidCN, name + " Root"}), isCA: true, rsaBits: 2048,
		notBefore: now.Add(-24 * time.Hour), notAfter: now.Add(3650 * 24 * time.Hour)}, nil)
	inter := issue(t, certSpec{subject: rawName(t, atv{oidC, "DE"}, atv{oidO, name}, atv{oidCN, name + " Sub CA"}), isCA: true, rsaBits: 2048,
		notBefore: now.Add(-24 * time.Hour), notAfter: now.Add(3000 * 24 * time.Hour)}, root)
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	return &testPKI{root: root, inter: inter, pool: pool}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitPort(t testing.TB, port int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Postfix does not listen on 127.0.0.1:%d after the reload", port)
}

// servedChain is what one extra Postfix listener presents.
type servedChain struct {
	name string
	leaf *testCert
	send []*x509.Certificate // after the leaf
	opts []string            // more smtpd settings, name=value (no blanks)
}

// addPostfixListeners adds one smtpd listener per chain to the running
// Postfix (postconf -M, postfix reload) and removes them at cleanup.
func addPostfixListeners(t *testing.T, dir string, chains []servedChain) []int {
	t.Helper()
	var services []string
	t.Cleanup(func() {
		for _, s := range services {
			_ = exec.Command("postconf", "-MX", s).Run()
		}
		if len(services) > 0 {
			if out, err := exec.Command("postfix", "reload").CombinedOutput(); err != nil {
				t.Errorf("postfix reload (cleanup): %v: %s", err, out)
			}
		}
	})
	ports := make([]int, len(chains))
	for i, l := range chains {
		keyPath := filepath.Join(dir, l.name+".key")
		certPath := writePEM(t, dir, l.name+".crt", append([]*x509.Certificate{l.leaf.cert}, l.send...)...)
		der, err := x509.MarshalPKCS8PrivateKey(l.leaf.key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		ports[i] = freePort(t)
		svc := fmt.Sprintf("%d/inet", ports[i])
		// syslog_name postfix-PORT: the Postfix log says which listener
		// negotiated what (postfixTLSSession).
		entry := fmt.Sprintf("%s=%d inet n - n - - smtpd -o syslog_name=postfix-%d -o smtpd_tls_cert_file=%s -o smtpd_tls_key_file=%s -o smtpd_tls_security_level=may",
			svc, ports[i], ports[i], certPath, keyPath)
		for _, o := range l.opts {
			entry += " -o " + o
		}
		if out, err := exec.Command("postconf", "-M", entry).CombinedOutput(); err != nil {
			t.Fatalf("postconf -M: %v: %s", err, out)
		}
		services = append(services, svc)
	}
	if out, err := exec.Command("postfix", "reload").CombinedOutput(); err != nil {
		t.Fatalf("postfix reload: %v: %s", err, out)
	}
	for _, p := range ports {
		waitPort(t, p, 15*time.Second)
	}
	return ports
}

// probeIT probes a Postfix listener, retrying while smtpd starts up.
func probeIT(t *testing.T, o ProbeOptions, tg Target) *Facts {
	t.Helper()
	var f *Facts
	for try := 0; try < 20; try++ {
		f = ProbeAddr(t.Context(), o, tg, netip.MustParseAddr("127.0.0.1"))
		if f.Err == nil && f.Verify != VerifyNone {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return f
}

// tlsSession is what Postfix logged about one TLS session it accepted.
type tlsSession struct {
	version, cipher, bits, kex string
}

var postfixTLSRE = regexp.MustCompile(`postfix-(\d+)/smtpd\[\d+\]: \w+ TLS connection established from [^:]*: (TLSv[\d.]+) with cipher (\S+) \((\d+)/\d+ bits\)(?: key-exchange (\S+))?`)

// postfixLogSize is where the Postfix log (maillog_file of services.sh)
// ends now.
func postfixLogSize(t *testing.T) int64 {
	t.Helper()
	st, err := os.Stat(postfixLog())
	if err != nil {
		t.Fatalf("Postfix log: %v (run scripts/services.sh start postfix)", err)
	}
	return st.Size()
}

func postfixLog() string {
	return filepath.Join(testenv.Getenv("OPS_SVC_DIR", "/var/lib/ops-test"), "log", "postfix.log")
}

// postfixTLSSession waits for the first TLS session that the listener on
// port logged after offset (postlogd writes asynchronously).
func postfixTLSSession(t *testing.T, port int, offset int64) tlsSession {
	t.Helper()
	for try := 0; try < 100; try++ {
		b, err := os.ReadFile(postfixLog())
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) > offset {
			for _, m := range postfixTLSRE.FindAllStringSubmatch(string(b[offset:]), -1) {
				if m[1] == strconv.Itoa(port) {
					return tlsSession{version: m[2], cipher: m[3], bits: m[4], kex: m[5]}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no TLS session of the listener on %d in %s", port, postfixLog())
	return tlsSession{}
}
