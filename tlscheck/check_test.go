package tlscheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startDNS serves the given records (zone-file lines) on 127.0.0.1:0/udp.
// Names without records answer NXDOMAIN unless listed in exists.
func startDNS(t testing.TB, records []string, exists ...string) string {
	t.Helper()
	byName := map[string][]dns.RR{}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("record %q: %v", r, err)
		}
		n := strings.ToLower(rr.Header().Name)
		byName[n] = append(byName[n], rr)
	}
	known := map[string]bool{}
	for _, e := range exists {
		known[dns.Fqdn(e)] = true
	}
	var queries atomic.Int32
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		rrs, ok := byName[name]
		if !ok && !known[name] {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveDNS(t, &dns.Server{PacketConn: pc, Handler: h})
	return pc.LocalAddr().String()
}

// serveDNS starts srv, waits until it listens and stops it when the test
// ends.
func serveDNS(t testing.TB, srv *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
}

func TestResolverMX(t *testing.T) {
	addr := startDNS(t, []string{
		"example.org. 60 IN MX 20 mx2.example.org.",
		"example.org. 60 IN MX 10 MX1.example.org.",
		"example.org. 60 IN MX 20 mx3.example.org.",
		"mx1.example.org. 60 IN A 127.0.0.1",
		"mx1.example.org. 60 IN AAAA ::1",
		"nullmx.org. 60 IN MX 0 .",
		"nomx.org. 60 IN A 127.0.0.3",
	}, "mx2.example.org")
	r := &Resolver{Addr: addr, Timeout: 2 * time.Second}
	ctx := t.Context()
	mxs, err := r.LookupMX(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mxs {
		names = append(names, m.Host)
	}
	if got := strings.Join(names, " "); got != "mx1.example.org mx2.example.org mx3.example.org" {
		t.Errorf("MX order %q", got)
	}
	if _, err := r.LookupMX(ctx, "nullmx.org"); !errors.Is(err, ErrNullMX) {
		t.Errorf("null MX: %v", err)
	}
	mxs, err = r.LookupMX(ctx, "nomx.org")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "nomx.org" || !mxs[0].Implicit {
		t.Errorf("implicit MX: %+v %v", mxs, err)
	}
	if _, err := r.LookupMX(ctx, "nxdomain.org"); !errors.Is(err, ErrNXDomain) {
		t.Errorf("nxdomain: %v", err)
	}
	addrs, err := r.LookupHost(ctx, "mx1.example.org")
	if err != nil || len(addrs) != 2 || addrs[0] != netip.MustParseAddr("127.0.0.1") || addrs[1] != netip.MustParseAddr("::1") {
		t.Errorf("A/AAAA: %v %v", addrs, err)
	}
	if _, err := r.LookupHost(ctx, "mx2.example.org"); !errors.Is(err, ErrNoAddr) {
		t.Errorf("no address: %v", err)
	}
	// A dead resolver fails within its timeout.
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer pc.Close()
	dead := &Resolver{Addr: pc.LocalAddr().String(), Timeout: 300 * time.Millisecond}
	start := time.Now()
	if _, err := dead.LookupMX(ctx, "example.org"); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("dead resolver: %v after %s", err, time.Since(start))
	}
}

// Check end to end: recipients through MX lookup, targets through pins,
// policy lookups, bounded concurrency, results in input order.
func TestCheck(t *testing.T) {
	pki := newPKI(t, "Check")
	leaf := pki.leaf(t, certSpec{cn: "mx1.example.org", dns: []string{"mx1.example.org", "mx2.example.org", "mx.example.net"},
		notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(300 * 24 * time.Hour)})
	srv := &smtpServer{offerTLS: true, bannerGap: 0, tls: &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}}
	ap := startFake(t, srv.handle)
	plain := &smtpServer{}
	apPlain := startFake(t, plain.handle)
	dnsAddr := startDNS(t, []string{
		"example.org. 60 IN MX 10 mx1.example.org.",
		"example.org. 60 IN MX 20 mx2.example.org.",
		"mx1.example.org. 60 IN A 127.0.0.1",
		"mx2.example.org. 60 IN A 127.0.0.1",
		"nullmx.org. 60 IN MX 0 .",
	})
	policy := mustPolicy(t, `TLS_Srv:mx.example.net   VERIFY+CA
TLS_Rcpt:example.org      VERIFY:128+CA
TLS_Rcpt:strict@example.org VERIFY+CA:other.example.org
Try_TLS:plain.example.net NO
TLS_Srv:plain.example.net ENCR:128
`)
	port := int(ap.Port())
	cd := &countingDialer{}
	o := Options{
		Targets: []string{"mx.example.net:" + itoa(port), "plain.example.net:" + itoa(int(apPlain.Port())), "bad target:x", "unresolvable.test"},
		Rcpts:   []string{"user@example.org", "strict@example.org", "x@nullmx.org"},
		Policy:  policy,
		Probe: ProbeOptions{
			Roots: pki.pool, Timeout: 5 * time.Second, Helo: "checker.test",
			Pins:        map[string]netip.Addr{"mx.example.net": netip.MustParseAddr("127.0.0.1"), "plain.example.net": netip.MustParseAddr("127.0.0.1")},
			Resolver:    &Resolver{Addr: dnsAddr, Timeout: 2 * time.Second},
			DialContext: cd.DialContext,
		},
		MXPort:      port,
		Concurrency: 2,
	}
	results, err := Check(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	// replyPrefix "" means no reply at all: a pass, or a failure before
	// any policy was applied (bad target, DNS).
	type want struct{ target, rcpt, verdict, key, replyPrefix string }
	wants := []want{
		{"mx.example.net:" + itoa(port), "", Pass, "TLS_Srv:mx.example.net", ""},
		{"plain.example.net:" + itoa(int(apPlain.Port())), "", Fail, "TLS_Srv:plain.example.net", "454 4.7.0 encryption too weak 0 less than 128"},
		{"bad target:x", "", Fail, "", ""},
		{"unresolvable.test", "", Fail, "", ""},
		{"mx1.example.org:" + itoa(port), "user@example.org", Pass, "TLS_Rcpt:example.org", ""},
		{"mx2.example.org:" + itoa(port), "user@example.org", Pass, "TLS_Rcpt:example.org", ""},
		{"mx1.example.org:" + itoa(port), "strict@example.org", Fail, "TLS_Rcpt:strict@example.org", "454 4.7.0 CA other.example.org does not match"},
		{"mx2.example.org:" + itoa(port), "strict@example.org", Fail, "TLS_Rcpt:strict@example.org", "454 4.7.0 CA other.example.org"},
		{"nullmx.org", "x@nullmx.org", Fail, "", ""},
	}
	if len(results) != len(wants) {
		for _, r := range results {
			t.Logf("%s %s %s %s", r.Target, r.Rcpt, r.Verdict, r.Error)
		}
		t.Fatalf("%d results, want %d", len(results), len(wants))
	}
	for i, w := range wants {
		r := results[i]
		replyOK := strings.HasPrefix(r.Reply, w.replyPrefix) && (w.replyPrefix != "" || r.Reply == "")
		if r.Target != w.target || r.Rcpt != w.rcpt || r.Verdict != w.verdict || r.PolicyKey != w.key || !replyOK {
			t.Errorf("result %d: %s %s %s key=%q reply=%q err=%q\n want %+v", i, r.Target, r.Rcpt, r.Verdict, r.PolicyKey, r.Reply, r.Error, w)
		}
	}
	if !containsSub(results[1].Reasons, "Try_TLS:plain.example.net NO") {
		t.Errorf("Try_TLS not reported: %q", results[1].Reasons)
	}
	if !strings.Contains(results[8].Error, "null MX") || !strings.Contains(results[3].Error, "unresolvable.test") {
		t.Errorf("errors: %q / %q", results[8].Error, results[3].Error)
	}
	if cd.max.Load() > 2 {
		t.Errorf("%d connections at once with concurrency 2", cd.max.Load())
	}
	if err := RunError(results); !errors.Is(err, ErrPolicyViolation) {
		t.Errorf("RunError = %v, want ErrPolicyViolation (exit 1)", err)
	}
}

func TestCheckConcurrencyBound(t *testing.T) {
	pki := newPKI(t, "Conc")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.net", dns: []string{"mx.example.net"}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(300 * 24 * time.Hour)})
	srv := &smtpServer{offerTLS: true, banner: []string{"a", "b"}, bannerGap: 50 * time.Millisecond,
		tls: &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}}
	ap := startFake(t, srv.handle)
	var targets []string
	for i := 0; i < 24; i++ {
		targets = append(targets, "mx.example.net:"+itoa(int(ap.Port())))
	}
	var progress atomic.Int32
	cd := &countingDialer{}
	results, err := Check(t.Context(), Options{
		Targets: targets, Concurrency: 6,
		Probe: ProbeOptions{Roots: pki.pool, Timeout: 5 * time.Second, DialContext: cd.DialContext,
			Pins: map[string]netip.Addr{"mx.example.net": netip.MustParseAddr("127.0.0.1")}},
		Progress: func(done, total int, r Result) { progress.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := cd.max.Load(); m > 6 || m < 2 {
		t.Errorf("max concurrent connections %d, want 2..6", m)
	}
	if progress.Load() != 24 || RunError(results) != nil {
		t.Errorf("progress %d, RunError %v", progress.Load(), RunError(results))
	}
}

// countingDialer counts concurrent client connections (dial to Close).
type countingDialer struct {
	cur, max atomic.Int32
}

type countedConn struct {
	net.Conn
	d    *countingDialer
	once atomic.Bool
}

func (c *countedConn) Close() error {
	if c.once.CompareAndSwap(false, true) {
		c.d.cur.Add(-1)
	}
	return c.Conn.Close()
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	n := d.cur.Add(1)
	for {
		m := d.max.Load()
		if n <= m || d.max.CompareAndSwap(m, n) {
			break
		}
	}
	return &countedConn{Conn: c, d: d}, nil
}

func TestCheckPerAddr(t *testing.T) {
	pki := newPKI(t, "PerAddr")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.net", dns: []string{"mx.example.net"}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(300 * 24 * time.Hour)})
	srv := &smtpServer{offerTLS: true, banner: []string{"a", "b"}, bannerGap: 40 * time.Millisecond,
		tls: &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}}
	ap := startFake(t, srv.handle)
	var targets []string
	for i := 0; i < 8; i++ {
		targets = append(targets, "mx.example.net:"+itoa(int(ap.Port())))
	}
	cd := &countingDialer{}
	var logs bytes.Buffer
	results, err := Check(t.Context(), Options{
		Targets: targets, Concurrency: 8, PerAddr: 2,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Probe: ProbeOptions{Roots: pki.pool, Timeout: 5 * time.Second, DialContext: cd.DialContext,
			Pins: map[string]netip.Addr{"mx.example.net": netip.MustParseAddr("127.0.0.1")}},
	})
	if err != nil || RunError(results) != nil {
		t.Fatalf("%v, RunError %v", err, RunError(results))
	}
	if m := cd.max.Load(); m > 2 {
		t.Errorf("%d connections to one address with PerAddr 2", m)
	}
	if n := strings.Count(logs.String(), "tlscheck connection"); n != 8 {
		t.Errorf("%d debug records, want 8:\n%s", n, logs.String())
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestWriteJSONFields(t *testing.T) {
	var buf bytes.Buffer
	r := Result{Target: "mx.example.com", Verdict: Pass, Reasons: []string{}, Warnings: []string{}, AltnameSubj: []string{"DNS:mx.example.com"}}
	if err := WriteJSON(&buf, []Result{r}); err != nil {
		t.Fatal(err)
	}
	var doc map[string][]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	el := doc["results"][0]
	for _, k := range []string{"target", "addr", "verify", "tls_version", "cipher", "cipher_bits", "cert_subject", "cert_issuer",
		"cn_subject", "cn_issuer", "altname_subject", "not_after", "policy_key", "policy_rule", "verdict", "reply", "reasons"} {
		if _, ok := el[k]; !ok {
			t.Errorf("JSON lacks %q (docs/cli.md contract)", k)
		}
	}
	if _, ok := el["altname_subject"].([]any); !ok {
		t.Errorf("altname_subject is not an array: %T", el["altname_subject"])
	}
	if _, ok := el["reasons"].([]any); !ok {
		t.Errorf("reasons is not an array: %T", el["reasons"])
	}
	buf.Reset()
	_ = WriteJSON(&buf, nil)
	if strings.TrimSpace(buf.String()) != `{
  "results": []
}` {
		t.Errorf("empty: %q", buf.String())
	}
}

// Without a resolver address, names resolve through the system resolver
// (/etc/hosts): "localhost" must work with no DNS server at all.
func TestResolverSystemHosts(t *testing.T) {
	var r *Resolver
	addrs, err := r.LookupHost(t.Context(), "localhost")
	if err != nil || len(addrs) == 0 || !addrs[0].IsLoopback() {
		t.Fatalf("localhost: %v %v", addrs, err)
	}
	addrs, err = (&Resolver{}).LookupHost(t.Context(), "127.0.0.9")
	if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("127.0.0.9") {
		t.Errorf("literal: %v %v", addrs, err)
	}
}

func TestCheckCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	results, err := Check(ctx, Options{Targets: []string{"127.0.0.1:1", "127.0.0.1:2"}})
	if !errors.Is(err, context.Canceled) || len(results) != 2 {
		t.Fatalf("%v %d", err, len(results))
	}
	for _, r := range results {
		if r.Target == "" || r.Verdict != Fail || !strings.Contains(r.Error, "not started") {
			t.Errorf("%+v", r)
		}
	}
}
