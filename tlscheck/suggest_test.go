package tlscheck

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func fakeTLS(t *testing.T, leaf *testCert, rest ...any) netip.AddrPort {
	t.Helper()
	srv := &smtpServer{offerTLS: leaf != nil}
	if leaf != nil {
		srv.tls = &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, rest[0].(*testPKI).inter.cert)}}
	}
	return startFake(t, srv.handle)
}

// Suggest, per peer, the strictest line it passes, each evaluated back:
// CN when the CN is the host, CI: (sendmail's encoding of the issuer, with
// +20 for spaces) when it is not, ENCR where the chain does not verify, a
// comment without STARTTLS; Postfix secure / secure match= / encrypt.
func TestSuggest(t *testing.T) {
	now := time.Now()
	pki := newPKIAt(t, "Sug CA", now)
	other := newPKIAt(t, "Elsewhere", now)
	valid := func(s certSpec) certSpec {
		s.notBefore, s.notAfter = now.Add(-time.Hour), now.Add(90*24*time.Hour)
		return s
	}
	a := fakeTLS(t, pki.leaf(t, valid(certSpec{cn: "mx.a.example", dns: []string{"mx.a.example"}})), pki)
	b := fakeTLS(t, pki.leaf(t, valid(certSpec{cn: "relay.b.example", dns: []string{"relay.b.example"}})), pki)
	c := fakeTLS(t, other.leaf(t, valid(certSpec{cn: "mx.c.example", dns: []string{"mx.c.example"}})), other)
	d := fakeTLS(t, nil)
	m := fakeTLS(t, pki.leaf(t, valid(certSpec{cn: "mx1.example.org", dns: []string{"mx1.example.org", "mx2.example.org"}})), pki)
	dnsAddr := startDNS(t, []string{
		"example.org. 60 IN MX 10 mx1.example.org.",
		"example.org. 60 IN MX 20 mx2.example.org.",
		"example.net. 60 IN MX 10 mx1.example.org.", // hosted elsewhere
		"mx1.example.org. 60 IN A 127.0.0.1",
		"mx2.example.org. 60 IN A 127.0.0.1",
		"mx.a.example. 60 IN A 127.0.0.1",
		"relay.b.example. 60 IN A 127.0.0.1", "mx.b.example. 60 IN A 127.0.0.1",
		"mx.c.example. 60 IN A 127.0.0.1", "mx.d.example. 60 IN A 127.0.0.1",
	})
	o := Options{
		Targets: []string{fmt.Sprintf("mx.a.example:%d", a.Port()), fmt.Sprintf("mx.b.example:%d", b.Port()),
			fmt.Sprintf("mx.c.example:%d", c.Port()), fmt.Sprintf("mx.d.example:%d", d.Port())},
		Rcpts: []string{"postmaster@example.org", "postmaster@example.net"}, MXPort: int(m.Port()),
		Probe: ProbeOptions{Roots: pki.pool, Resolver: &Resolver{Addr: dnsAddr, Timeout: 2 * time.Second}, Timeout: 5 * time.Second},
	}
	ss, err := Suggest(t.Context(), o, FormatSendmail)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteSuggestions(&out, ss, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("sendmail:\n%s", out.String())
	issuer := "/C=DE/O=Sug+20CA/CN=Sug+20CA+20Sub+20CA"
	bits := ss[0].Results[0].CipherBits
	want := []string{
		fmt.Sprintf("TLS_Srv:mx.a.example\tVERIFY:%d+CN", bits),
		fmt.Sprintf("TLS_Srv:mx.b.example\tVERIFY:%d+CI:%s", bits, issuer),
		fmt.Sprintf("TLS_Srv:mx.c.example\tENCR:%d", bits),
		"# mx.d.example: mx.d.example:" + fmt.Sprint(d.Port()) + " 127.0.0.1: no TLS (NONE): no rule would pass",
		fmt.Sprintf("TLS_Srv:mx1.example.org\tVERIFY:%d+CN", bits),
		fmt.Sprintf("TLS_Srv:mx2.example.org\tVERIFY:%d+CI:%s", bits, issuer),
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if bits < 128 {
		t.Errorf("bits %d", bits)
	}
	// Every line was evaluated back: a pass per connection under that line.
	for _, s := range ss {
		for _, r := range s.Results {
			if r.Verdict != Pass || r.PolicyRule != s.Rule || r.PolicyKey == "" {
				t.Errorf("%s: result %s %q %q", s.Key, r.Verdict, r.PolicyKey, r.PolicyRule)
			}
		}
	}

	ss, err = Suggest(t.Context(), o, FormatPostfix)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := WriteSuggestions(&out, ss, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("postfix:\n%s", out.String())
	want = []string{
		fmt.Sprintf("[mx.a.example]:%d\tsecure protocols=>=TLSv1.2", a.Port()),
		fmt.Sprintf("[mx.b.example]:%d\tencrypt protocols=>=TLSv1.2", b.Port()),
		fmt.Sprintf("[mx.c.example]:%d\tencrypt protocols=>=TLSv1.2", c.Port()),
		"# mx.d.example:" + fmt.Sprint(d.Port()) + ": mx.d.example:" + fmt.Sprint(d.Port()) + " 127.0.0.1: no TLS (NONE): no rule would pass",
		"example.org\tsecure protocols=>=TLSv1.2", // .example.org matches
		"example.net\tsecure match=mx1.example.org protocols=>=TLSv1.2",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := SuggestError(ss); err != nil {
		t.Error(err)
	}
}

// The candidates are only suggestions: the evaluation decides. A CN that
// matches on one address but not on the other gives no CN.
func TestSuggestEvaluatesBack(t *testing.T) {
	pki := newPKI(t, "Back")
	good := pki.leaf(t, certSpec{cn: "mx.x.example", dns: []string{"mx.x.example"}})
	bad := pki.leaf(t, certSpec{cn: "other.x.example", dns: []string{"mx.x.example"}})
	conn := func(l *testCert, a string) probed {
		f := facts("mx.x.example", pki.chain(l), pki.pool, 256)
		f.Addr = netip.MustParseAddr(a)
		return probed{j: job{target: Target{Host: "mx.x.example", Port: 25}, addr: f.Addr}, f: f}
	}
	g := groupPeers([]probed{conn(good, "192.0.2.1"), conn(bad, "192.0.2.2")}, FormatSendmail)
	if len(g) != 1 {
		t.Fatalf("%d groups", len(g))
	}
	s := suggestFor(g[0], FormatSendmail, testNow)
	if s.Rule != "VERIFY:256+CI:/C=DE/O=Back/CN=Back+20Sub+20CA" || len(s.Results) != 2 {
		t.Errorf("rule %q (%s)", s.Rule, s.Why)
	}
	weak := conn(good, "192.0.2.3")
	weak.f.CipherBits = 128
	s = suggestFor(groupPeers([]probed{conn(good, "192.0.2.1"), weak}, FormatSendmail)[0], FormatSendmail, testNow)
	if s.Rule != "VERIFY:128+CN" {
		t.Errorf("the fewest bits decide: %q", s.Rule)
	}
	if _, why := evalBack(g[0], FormatSendmail, "VERIFY:256+CN", testNow); !strings.Contains(why, "192.0.2.2: 454 4.7.0 CN other.x.example does not match mx.x.example") {
		t.Errorf("why %q", why)
	}
	if s := suggestFor(&peerGroup{peer: "p", key: "TLS_Srv:p", conns: []probed{{j: job{target: Target{Host: "p", Port: 25}}, f: &Facts{Target: "p", Err: ErrTLSALookup}}}}, FormatSendmail, testNow); s.Rule != "" || !strings.HasPrefix(s.Why, "could not check p") || SuggestError([]Suggestion{s}) == nil {
		t.Errorf("unreachable: %q %q", s.Rule, s.Why)
	}
}
