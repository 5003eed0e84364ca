package tlscheck

import (
	"crypto/x509"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestPostfixKeys(t *testing.T) {
	got := PostfixKeys("sub.example.com")
	want := []string{"sub.example.com", ".example.com", ".com"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	if got := PostfixKeys("[relay.example.net]:587"); !reflect.DeepEqual(got, []string{"[relay.example.net]:587"}) {
		t.Errorf("bracketed: %q", got)
	}
}

func TestParsePostfixErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"example.com secure\nexample.net strict\n", `policy:2: unknown security level "strict"`},
		{"example.com secure\nexample.net verify matsch=x\n", `policy:2: unknown attribute "matsch"`},
		{"example.com secure\nexample.net verify protocols=>=TLSv9\n", `policy:2: protocols: unknown protocol "TLSv9"`},
		{"example.com secure\nexample.net fingerprint\n", "policy:2: fingerprint level needs match="},
		{"example.com secure\nexample.net verify { match = a\n", "policy:2: unbalanced '{'"},
	}
	for _, tc := range tests {
		_, err := ParsePolicyFormat("policy", FormatPostfix, strings.NewReader(tc.text))
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestParseProtocols(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{">=TLSv1.2", []string{"TLSv1.2", "TLSv1.3"}},
		{"!SSLv2:!SSLv3:!TLSv1:!TLSv1.1", []string{"TLSv1.2", "TLSv1.3"}},
		{">=TLSv1 <=TLSv1.2", []string{"TLSv1", "TLSv1.1", "TLSv1.2"}},
		{"TLSv1.3", []string{"TLSv1.3"}},
		{">=0x0303", []string{"TLSv1.2", "TLSv1.3"}},
	}
	for _, tc := range tests {
		m, err := parseProtocols(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range protoOrder {
			if m[p] {
				got = append(got, p)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestEvaluatePostfix(t *testing.T) {
	pki := newPKI(t, "PF")
	p, err := LoadPolicy("testdata/postfix-policy.txt")
	if err != nil {
		t.Fatal(err)
	}
	mxCert := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}})
	wild := pki.leaf(t, certSpec{cn: "x", dns: []string{"*.example.com"}})
	apex := pki.leaf(t, certSpec{cn: "x", dns: []string{"example.com"}})
	bad := pki.leaf(t, certSpec{cn: "x", dns: []string{"badexample.com", "mx.badexample.com", "*.badexample.com"}})
	cnOnly := pki.leaf(t, certSpec{cn: "mx.example.com"})
	self := issue(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}}, nil)
	fp := fingerprint(self.cert.Raw)
	fpPolicy := mustPolicy(t, "partner.example fingerprint match=00:11|"+fp+"\n")

	noTLS := func(name string) *Facts {
		f := facts(name, nil, pki.pool, 0)
		f.Verify, f.TLSVersion = VerifyNone, ""
		return f
	}
	tests := []struct {
		name      string
		f         *Facts
		p         *Policy
		rcpt      string
		verdict   string
		key       string
		reply     string
		reasonSub string
	}{
		{name: "secure: dot pattern matches MX", f: facts("mx.example.com", pki.chain(mxCert), pki.pool, 256), rcpt: "a@example.com", verdict: Pass, key: "example.com"},
		{name: "secure: wildcard SAN satisfies .example.com", f: facts("mx.example.com", pki.chain(wild), pki.pool, 256), rcpt: "a@example.com", verdict: Pass},
		{name: "secure: apex name does not match .example.com", f: facts("mx.example.com", pki.chain(apex), pki.pool, 256), rcpt: "a@example.com", verdict: Fail,
			reply: "450 4.7.5 Server certificate not verified"},
		{name: "secure: badexample.com does not match .example.com", f: facts("mx.example.com", pki.chain(bad), pki.pool, 256), rcpt: "a@example.com", verdict: Fail,
			reply: "450 4.7.5 Server certificate not verified", reasonSub: "no certificate name (badexample.com mx.badexample.com *.badexample.com) matches .example.com"},
		{name: "secure: untrusted", f: facts("mx.example.com", []*x509.Certificate{self.cert}, pki.pool, 256), rcpt: "a@example.com", verdict: Fail,
			reply: "450 4.7.5 Server certificate not trusted"},
		{name: "secure: no TLS", f: noTLS("mx.example.com"), rcpt: "a@example.com", verdict: Fail,
			reply: "450 4.7.4 TLS is required, but was not offered by host mx.example.com"},
		{name: "parent key .example.com: verify matches hostname", f: facts("mx.example.com", pki.chain(mxCert), pki.pool, 256), rcpt: "a@sub.example.com", verdict: Pass, key: ".example.com"},
		{name: "verify: CN used when no DNS SAN", f: facts("mx.example.com", pki.chain(cnOnly), pki.pool, 256), rcpt: "a@sub.example.com", verdict: Pass},
		{name: "encrypt: any certificate", f: facts("relay.example.net", []*x509.Certificate{self.cert}, pki.pool, 256), p: mustPolicy(t, "[relay.example.net]:587 encrypt protocols=>=TLSv1.2\n"), verdict: Pass},
		{name: "encrypt: protocol excluded", f: with(facts("relay.example.net", []*x509.Certificate{self.cert}, pki.pool, 256), func(f *Facts) { f.TLSVersion = "TLSv1" }),
			p: mustPolicy(t, "relay.example.net encrypt protocols=>=TLSv1.2\n"), verdict: Fail, reasonSub: "negotiated TLSv1, excluded"},
		{name: "fingerprint matches", f: facts("partner.example", []*x509.Certificate{self.cert}, pki.pool, 256), p: fpPolicy, verdict: Pass},
		{name: "fingerprint mismatch", f: facts("partner.example", pki.chain(mxCert), pki.pool, 256), p: fpPolicy, verdict: Fail, reply: "450 4.7.5 Server certificate not verified"},
		{name: "may without TLS", f: noTLS("legacy.example"), rcpt: "a@legacy.example", verdict: Pass, reasonSub: "clear text"},
		{name: "none", f: noTLS("none.example"), rcpt: "a@none.example", verdict: Pass},
		{name: "dane treated as may", f: noTLS("dane.example"), rcpt: "a@dane.example", verdict: Pass, reasonSub: "TLSA"},
		{name: "dane-only fails", f: facts("daneonly.example", pki.chain(mxCert), pki.pool, 256), rcpt: "a@daneonly.example", verdict: Fail},
		{name: "no entry", f: noTLS("other.test"), rcpt: "a@other.test", verdict: Pass, reasonSub: "smtp_tls_security_level"},
		{name: "example.com does not cover sub-domains without a dot key", f: noTLS("mx.example.org"), p: mustPolicy(t, "example.org secure\n"), rcpt: "a@sub.example.org", verdict: Pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.p
			if pol == nil {
				pol = p
			}
			r := Evaluate(tc.f, pol, EvalOptions{Rcpt: tc.rcpt, Now: testNow})
			if r.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s: reply %q reasons %q", r.Verdict, tc.verdict, r.Reply, r.Reasons)
			}
			if tc.key != "" && r.PolicyKey != tc.key {
				t.Errorf("key %q, want %q", r.PolicyKey, tc.key)
			}
			if tc.reply != "" && r.Reply != tc.reply {
				t.Errorf("reply %q, want %q", r.Reply, tc.reply)
			}
			if tc.reasonSub != "" && !containsSub(r.Reasons, tc.reasonSub) {
				t.Errorf("reasons %q lack %q", r.Reasons, tc.reasonSub)
			}
		})
	}
}

func with(f *Facts, mod func(*Facts)) *Facts { mod(f); return f }
