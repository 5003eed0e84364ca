package tlscheck

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startServfail answers every question SERVFAIL on 127.0.0.1:0/udp (a
// validating resolver that meets a bogus zone).
func startServfail(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveDNS(t, &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
	})})
	return pc.LocalAddr().String()
}

// --resolver alone (a DANE resolver, no --dns): the targets' A/AAAA and
// the recipients' MX lookups go to it too, not to the system resolver
// (which knows none of these names).
func TestCheckResolverAloneResolvesEverything(t *testing.T) {
	pki := newPKI(t, "Resolver")
	leaf := pki.leaf(t, certSpec{cn: "mx.dane.test", dns: []string{"mx.dane.test"},
		notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(300 * 24 * time.Hour)})
	srv := &smtpServer{offerTLS: true, tls: &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}}
	port := int(startFake(t, srv.handle).Port())
	addr := startDNS(t, []string{
		"dane.test. 60 IN MX 10 mx.dane.test.",
		"mx.dane.test. 60 IN A 127.0.0.1",
	})
	results, err := Check(t.Context(), Options{
		Targets: []string{"mx.dane.test:" + itoa(port)},
		Rcpts:   []string{"postmaster@dane.test"},
		MXPort:  port,
		Probe:   ProbeOptions{Roots: pki.pool, Timeout: 5 * time.Second, Helo: "checker.test"},
		DANE:    true, DANEResolver: &Resolver{Addr: addr, Timeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results: %+v", len(results), results)
	}
	for _, r := range results {
		if r.Verdict != Pass || r.Error != "" || r.Target != "mx.dane.test:"+itoa(port) || r.DANE != DANENone {
			t.Errorf("%s (rcpt %q): %s, dane %s, error %q, reasons %q", r.Target, r.Rcpt, r.Verdict, r.DANE, r.Error, r.Reasons)
		}
	}
}

// A lookup that fails at the resolver names it, and the A and AAAA
// failures read as one line: the reason cell shows no escaped newline.
func TestFailedLookupOneLineNamingTheResolver(t *testing.T) {
	addr := startServfail(t)
	res := &Resolver{Addr: addr, Timeout: 2 * time.Second}
	_, err := res.LookupHost(t.Context(), "mx.bogus.test")
	want := "dns A mx.bogus.test via " + addr + ": SERVFAIL; dns AAAA mx.bogus.test via " + addr + ": SERVFAIL"
	if err == nil || err.Error() != want {
		t.Fatalf("LookupHost: %v\nwant %s", err, want)
	}
	results, err := Check(t.Context(), Options{Targets: []string{"mx.bogus.test"}, DANEResolver: res,
		Probe: ProbeOptions{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Verdict != Fail || !strings.Contains(results[0].Error, "via "+addr) {
		t.Fatalf("results %+v", results)
	}
	// However the error came joined, the reason and the table are one line.
	joinedErr := errors.Join(errors.New("dns A mx.x.test via "+addr+": SERVFAIL"), errors.New("dns AAAA mx.x.test via "+addr+": SERVFAIL"))
	r := Evaluate(&Facts{Target: "mx.x.test:25", ServerName: "mx.x.test", Port: 25, Err: joinedErr}, nil, EvalOptions{})
	results = append(results, r)
	if want := "could not check: dns A mx.x.test via " + addr + ": SERVFAIL; dns AAAA mx.x.test via " + addr + ": SERVFAIL"; len(r.Reasons) != 1 || r.Reasons[0] != want {
		t.Errorf("reasons %q, want %q", r.Reasons, want)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, results, time.Now()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `\n`) || !strings.Contains(b.String(), "SERVFAIL; dns AAAA") {
		t.Errorf("table:\n%s", b.String())
	}
}
