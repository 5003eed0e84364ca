package tlscheck

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseSTSPolicy(t *testing.T) {
	good := "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.org\r\nmx: *.example.net\r\nmax_age: 86400\r\nmode: none\r\nextension: x\r\n"
	p, err := ParseSTSPolicy(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != "enforce" || p.MaxAge != 86400 || len(p.MX) != 2 {
		t.Errorf("%+v (first mode must win)", p)
	}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"mx1.example.org", true}, {"MX1.example.org.", true}, {"a.example.net", true},
		{"a.b.example.net", false}, {"example.net", false}, {"mx2.example.org", false},
	} {
		if got := p.MatchMX(tc.host); got != tc.want {
			t.Errorf("MatchMX(%q) = %v", tc.host, got)
		}
	}
	bad := []string{
		"mode: enforce\nmx: a.b\nmax_age: 1\n",                           // no version
		"version: STSv1\nmode: strict\nmx: a.b\nmax_age: 1\n",            // bad mode
		"version: STSv1\nmode: enforce\nmax_age: 1\n",                    // no mx
		"version: STSv1\nmode: enforce\nmx: a.b\n",                       // no max_age
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 99999999999\n", // too large
		"version: STSv1\nmode: enforce\nmx: *.*.b\nmax_age: 1\n",         // bad pattern
		"version: STSv1\nmode: enforce\nmx: mü.de\nmax_age: 1\n",         // U-label
		"garbage",
	}
	for _, b := range bad {
		if _, err := ParseSTSPolicy(b); err == nil {
			t.Errorf("accepted %q", b)
		}
	}
	if p, err := ParseSTSPolicy("version: STSv1\nmode: none\nmax_age: 0\n"); err != nil || p.Mode != "none" {
		t.Errorf("mode none without mx: %v", err)
	}
}

func TestParseSTSRecord(t *testing.T) {
	if id, err := ParseSTSRecord([]string{"v=spf1 -all", "v=STSv1; id=20260101T000000"}); err != nil || id != "20260101T000000" {
		t.Errorf("%q %v", id, err)
	}
	if id, err := ParseSTSRecord([]string{"v=STSv1; id=abc123;"}); err != nil || id != "abc123" {
		t.Errorf("%q %v", id, err)
	}
	for _, bad := range [][]string{nil, {"v=STSv1; id=a", "v=STSv1; id=b"}, {"v=STSv1; id="}, {"v=STSv1; id=a-b"}, {"id=a; v=STSv1"}} {
		if _, err := ParseSTSRecord(bad); !errors.Is(err, ErrNoSTS) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// stsServer runs an HTTPS server with its own CA; handler decides the answer.
func stsServer(t *testing.T, pki *testPKI, name string, handler http.HandlerFunc) (dial func(ctx context.Context, network, addr string) (net.Conn, error), requests *[]string) {
	t.Helper()
	leaf := pki.leaf(t, certSpec{cn: name, dns: []string{name}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	var reqs []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs = append(reqs, r.Host+r.URL.Path)
		handler(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}, &reqs
}

func TestFetchSTS(t *testing.T) {
	pki := newPKI(t, "STS")
	policy := "version: STSv1\nmode: enforce\nmx: mx1.example.org\nmax_age: 604800\n"
	dnsAddr := startDNS(t, []string{
		`_mta-sts.example.org. 60 IN TXT "v=STSv1; id=2026"`,
		`_mta-sts.two.org. 60 IN TXT "v=STSv1; id=1"`,
		`_mta-sts.two.org. 60 IN TXT "v=STSv1; id=2"`,
	})
	res := &Resolver{Addr: dnsAddr, Timeout: 2 * time.Second}
	tests := []struct {
		name    string
		domain  string
		cert    string
		handler http.HandlerFunc
		wantErr string
		wantNo  bool
	}{
		{name: "valid", domain: "example.org", cert: "mta-sts.example.org", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(policy))
		}},
		{name: "redirect refused", domain: "example.org", cert: "mta-sts.example.org", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example.org/x", http.StatusFound)
		}, wantErr: "redirects are not allowed"},
		{name: "404", domain: "example.org", cert: "mta-sts.example.org", handler: func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, wantErr: "HTTP status 404"},
		{name: "wrong media type", domain: "example.org", cert: "mta-sts.example.org", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(policy))
		}, wantErr: "media type"},
		{name: "certificate for another name", domain: "example.org", cert: "www.example.org", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(policy))
		}, wantErr: "certificate"},
		{name: "too large", domain: "example.org", cert: "mta-sts.example.org", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(policy + strings.Repeat("x: y\n", 20000)))
		}, wantErr: "larger than"},
		{name: "no TXT record", domain: "none.org", cert: "mta-sts.none.org", handler: func(w http.ResponseWriter, r *http.Request) {}, wantNo: true},
		{name: "two TXT records", domain: "two.org", cert: "mta-sts.two.org", handler: func(w http.ResponseWriter, r *http.Request) {}, wantNo: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dial, reqs := stsServer(t, pki, tc.cert, tc.handler)
			p, err := FetchSTS(t.Context(), tc.domain, STSOptions{Resolver: res, RootCAs: pki.pool, DialContext: dial, Timeout: 5 * time.Second})
			switch {
			case tc.wantNo:
				if !errors.Is(err, ErrNoSTS) {
					t.Fatalf("err = %v, want ErrNoSTS", err)
				}
				if len(*reqs) != 0 {
					t.Errorf("fetched without a TXT record: %v", *reqs)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if p.ID != "2026" || p.Mode != "enforce" || !p.MatchMX("mx1.example.org") {
					t.Errorf("%+v", p)
				}
				if len(*reqs) != 1 || (*reqs)[0] != "mta-sts.example.org/.well-known/mta-sts.txt" {
					t.Errorf("requests %v", *reqs)
				}
			}
		})
	}
}

// Check with MTA-STS: an MX outside the policy fails under enforce and
// only warns under testing.
func TestCheckSTS(t *testing.T) {
	pki := newPKI(t, "STSCheck")
	leaf := pki.leaf(t, certSpec{cn: "mx1.example.org", dns: []string{"mx1.example.org", "mx2.example.org"}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(300 * 24 * time.Hour)})
	srv := &smtpServer{offerTLS: true, tls: &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}}
	ap := startFake(t, srv.handle)
	for _, mode := range []string{"enforce", "testing"} {
		t.Run(mode, func(t *testing.T) {
			dnsAddr := startDNS(t, []string{
				"example.org. 60 IN MX 10 mx1.example.org.",
				"example.org. 60 IN MX 20 mx2.example.org.",
				"mx1.example.org. 60 IN A 127.0.0.1",
				"mx2.example.org. 60 IN A 127.0.0.1",
				`_mta-sts.example.org. 60 IN TXT "v=STSv1; id=1"`,
			})
			dial, _ := stsServer(t, pki, "mta-sts.example.org", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				_, _ = w.Write([]byte("version: STSv1\nmode: " + mode + "\nmx: mx1.example.org\nmax_age: 86400\n"))
			})
			res := &Resolver{Addr: dnsAddr, Timeout: 2 * time.Second}
			results, err := Check(t.Context(), Options{
				Rcpts: []string{"a@example.org"}, MXPort: int(ap.Port()), STS: true,
				STSOptions: STSOptions{DialContext: dial},
				Probe:      ProbeOptions{Roots: pki.pool, Resolver: res, Timeout: 5 * time.Second, Pins: map[string]netip.Addr{}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 2 {
				t.Fatalf("%d results", len(results))
			}
			if results[0].MTASTSMode != mode || results[1].MTASTSMode != mode {
				t.Errorf("mta_sts_mode %q %q, want %s", results[0].MTASTSMode, results[1].MTASTSMode, mode)
			}
			if results[0].Verdict != Pass || results[0].STS == nil || !results[0].STS.MXAllowed {
				t.Errorf("mx1: %s %+v %q", results[0].Verdict, results[0].STS, results[0].Reasons)
			}
			r := results[1]
			if mode == "enforce" {
				if r.Verdict != Fail || !strings.Contains(r.Reply, "mx2.example.org is not listed in the MTA-STS policy") {
					t.Errorf("mx2 enforce: %s %q", r.Verdict, r.Reply)
				}
			} else if r.Verdict != Pass || !containsSub(r.Warnings, "testing") {
				t.Errorf("mx2 testing: %s %q", r.Verdict, r.Warnings)
			}
		})
	}
}
