package tlscheck

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
)

func tlsaFor(usage, sel, mt uint8, c *x509.Certificate) TLSA {
	b := c.Raw
	if sel == 1 {
		b = c.RawSubjectPublicKeyInfo
	}
	switch mt {
	case 1:
		h := sha256.Sum256(b)
		b = h[:]
	case 2:
		h := sha512.Sum512(b)
		b = h[:]
	}
	return TLSA{Usage: usage, Selector: sel, MatchingType: mt, Data: append([]byte(nil), b...)}
}

func secure(rs ...TLSA) DANELookup {
	return DANELookup{Name: "_25._tcp.mx.example.com", Records: rs, Secure: true}
}

// RFC 7672/7671 rules, every selector and matching type, DANE-TA name checks.
func TestEvaluateDANE(t *testing.T) {
	pki := newPKI(t, "Dane")
	other := newPKI(t, "Other")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}})
	wrongName := pki.leaf(t, certSpec{cn: "other.example.net", dns: []string{"other.example.net"}})
	expired := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notBefore: testNow.AddDate(-2, 0, 0), notAfter: testNow.AddDate(-1, 0, 0)})
	chain := pki.chain(leaf)
	names := []string{"mx.example.com"}
	tests := []struct {
		name   string
		l      DANELookup
		chain  []*x509.Certificate
		names  []string
		want   string
		reason string
	}{
		{"EE 3 0 0", secure(tlsaFor(3, 0, 0, leaf.cert)), chain, names, DANEPass, "DANE-EE"},
		{"EE 3 0 1", secure(tlsaFor(3, 0, 1, leaf.cert)), chain, names, DANEPass, ""},
		{"EE 3 0 2", secure(tlsaFor(3, 0, 2, leaf.cert)), chain, names, DANEPass, ""},
		{"EE 3 1 0", secure(tlsaFor(3, 1, 0, leaf.cert)), chain, names, DANEPass, ""},
		{"EE 3 1 1", secure(tlsaFor(3, 1, 1, leaf.cert)), chain, names, DANEPass, "public key"},
		{"EE 3 1 2", secure(tlsaFor(3, 1, 2, leaf.cert)), chain, names, DANEPass, ""},
		{"EE ignores names", secure(tlsaFor(3, 1, 1, wrongName.cert)), pki.chain(wrongName), names, DANEPass, ""},
		{"EE ignores expiry", secure(tlsaFor(3, 1, 1, expired.cert)), pki.chain(expired), names, DANEPass, ""},
		{"EE other key", secure(tlsaFor(3, 1, 1, other.inter.cert)), chain, names, DANEFail, "does not match"},
		{"EE matches the intermediate only", secure(tlsaFor(3, 1, 1, pki.inter.cert)), chain, names, DANEFail, ""},
		{"TA 2 0 1 intermediate", secure(tlsaFor(2, 0, 1, pki.inter.cert)), chain, names, DANEPass, "subjectAltName DNS:mx.example.com"},
		{"TA 2 1 1 intermediate", secure(tlsaFor(2, 1, 1, pki.inter.cert)), chain, names, DANEPass, ""},
		{"TA 2 0 2 intermediate", secure(tlsaFor(2, 0, 2, pki.inter.cert)), chain, names, DANEPass, ""},
		{"TA 2 0 0 root sent", secure(tlsaFor(2, 0, 0, pki.root.cert)), append(chain, pki.root.cert), names, DANEPass, ""},
		{"TA 2 1 0 root key not sent", secure(tlsaFor(2, 1, 0, pki.root.cert)), chain, names, DANEPass, "signed certificate 1"},
		{"TA 2 1 1 root key not sent", secure(tlsaFor(2, 1, 1, pki.root.cert)), chain, names, DANEFail, "matches no presented issuer"},
		{"TA name mismatch", secure(tlsaFor(2, 0, 1, pki.inter.cert)), pki.chain(wrongName), names, DANEFail, "names none of mx.example.com"},
		{"TA next-hop name", secure(tlsaFor(2, 0, 1, pki.inter.cert)), pki.chain(wrongName), []string{"mx.example.com", "other.example.net"}, DANEPass, ""},
		{"TA name differs in case", secure(tlsaFor(2, 0, 1, pki.inter.cert)), chain, []string{"MX.Example.COM"}, DANEPass, ""},
		{"TA name is a suffix", secure(tlsaFor(2, 0, 1, pki.inter.cert)), chain, []string{"x.example.com"}, DANEFail, ""},
		{"TA expired leaf", secure(tlsaFor(2, 0, 1, pki.inter.cert)), pki.chain(expired), names, DANEFail, "does not verify"},
		{"TA matching the leaf is not an anchor", secure(tlsaFor(2, 0, 1, leaf.cert)), chain, names, DANEFail, ""},
		{"TA of another CA", secure(tlsaFor(2, 0, 1, other.inter.cert)), chain, names, DANEFail, ""},
		{"second record matches", secure(tlsaFor(3, 1, 1, other.inter.cert), tlsaFor(3, 1, 1, leaf.cert)), chain, names, DANEPass, ""},
		{"unusable usages 0 and 1", secure(tlsaFor(0, 0, 1, pki.inter.cert), tlsaFor(1, 1, 1, leaf.cert)), chain, names, DANENone, "unusable"},
		{"unusable matching type", secure(TLSA{Usage: 3, Selector: 1, MatchingType: 3, Data: []byte{1}}), chain, names, DANENone, "unusable"},
		{"not validated", DANELookup{Name: "x", Records: []TLSA{tlsaFor(3, 1, 1, leaf.cert)}}, chain, names, DANEInsecure, "no AD bit"},
		{"no records", DANELookup{Name: "x", Secure: true}, chain, names, DANENone, "no TLSA records"},
		{"lookup failed (bogus)", DANELookup{Name: "x", Err: errors.New("SERVFAIL")}, chain, names, DANEFail, "SERVFAIL"},
		{"no certificate", secure(tlsaFor(3, 1, 1, leaf.cert)), nil, names, DANEFail, "no certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := EvaluateDANE(tc.l, tc.chain, tc.names, testNow)
			if r.Status != tc.want || !strings.Contains(strings.Join(r.Reasons, "; "), tc.reason) {
				t.Errorf("status %s %q, want %s (reason containing %q)", r.Status, r.Reasons, tc.want, tc.reason)
			}
		})
	}
}

// DANE requirements: --require DANE (sendmail format or none), Postfix'
// dane and dane-only levels.
func TestEvaluateDANERequirements(t *testing.T) {
	pki := newPKI(t, "DaneReq")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}})
	self := issue(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}}, nil)
	match := secure(tlsaFor(3, 1, 1, leaf.cert))
	mismatch := secure(tlsaFor(3, 1, 1, pki.inter.cert))
	unusable := secure(tlsaFor(1, 1, 1, leaf.cert))
	bogus := DANELookup{Name: "_25._tcp.mx.example.com", Err: errors.New("SERVFAIL")}
	none := DANELookup{Name: "_25._tcp.mx.example.com", Secure: true}
	insecure := DANELookup{Name: "_25._tcp.mx.example.com", Records: match.Records}
	pf := func(level string) *Policy {
		p, err := ParsePolicy("tls_policy", strings.NewReader("[mx.example.com] "+level+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := func(c *testCert) *Facts {
		if c == self {
			return facts("mx.example.com", []*x509.Certificate{self.cert}, pki.pool, 256)
		}
		return facts("mx.example.com", pki.chain(c), pki.pool, 256)
	}
	tests := []struct {
		name    string
		f       *Facts
		p       *Policy
		require string
		l       *DANELookup
		want    string
		reply   string
		dane    string
	}{
		{"require DANE: match, chain untrusted", f(self), nil, "DANE", ptr(secure(tlsaFor(3, 1, 1, self.cert))), Pass, "", DANEPass},
		{"require DANE: mismatch", f(leaf), nil, "DANE", &mismatch, Fail, "454 4.7.0 DANE required: no TLSA record matches the server's certificate", DANEFail},
		{"require DANE: bogus", f(leaf), nil, "DANE", &bogus, Fail, "454 4.7.0 DANE required: TLSA lookup failed", DANEFail},
		{"require DANE: none", f(leaf), nil, "DANE", &none, Fail, "454 4.7.0 DANE required: no usable DNSSEC-validated TLSA records (none)", DANENone},
		{"require DANE: insecure", f(leaf), nil, "DANE", &insecure, Fail, "454 4.7.0 DANE required: no usable DNSSEC-validated TLSA records (insecure)", DANEInsecure},
		{"sendmail entry DANE", f(leaf), mustPolicy(t, "TLS_Srv:mx.example.com DANE\n"), "", &match, Pass, "", DANEPass},
		{"not required: mismatch warns", f(leaf), nil, "", &mismatch, Pass, "", DANEFail},
		{"VERIFY: DANE makes an untrusted chain TRUSTED", f(self), mustPolicy(t, "TLS_Srv:mx.example.com VERIFY:128\n"), "", ptr(secure(tlsaFor(3, 1, 1, self.cert))), Pass, "", DANEPass},
		{"VERIFY: no TRUSTED without a match", f(self), mustPolicy(t, "TLS_Srv:mx.example.com VERIFY:128\n"), "", ptr(secure(tlsaFor(3, 1, 1, leaf.cert))), Fail, "454 4.7.0 authentication failed", DANEFail},
		{"VERIFY: no TRUSTED from an insecure answer", f(self), mustPolicy(t, "TLS_Srv:mx.example.com VERIFY:128\n"), "", ptr(DANELookup{Name: "x", Records: []TLSA{tlsaFor(3, 1, 1, self.cert)}}), Fail, "454 4.7.0 authentication failed", DANEInsecure},
		{"Postfix verify ignores DANE", f(self), pf("verify"), "", ptr(secure(tlsaFor(3, 1, 1, self.cert))), Fail, "", DANEPass},
		{"dane: match", f(self), pf("dane"), "", ptr(secure(tlsaFor(3, 1, 1, self.cert))), Pass, "", DANEPass},
		{"dane: mismatch", f(leaf), pf("dane"), "", &mismatch, Fail, "450 4.7.5 Server certificate not trusted (DANE: no TLSA record matches)", DANEFail},
		{"dane: bogus defers", f(leaf), pf("dane"), "", &bogus, Fail, "450 4.7.5 TLSA lookup error for mx.example.com:25", DANEFail},
		{"dane: no records is may", f(self), pf("dane"), "", &none, Pass, "", DANENone},
		{"dane: insecure is may", f(self), pf("dane"), "", &insecure, Pass, "", DANEInsecure},
		{"dane: unusable is encrypt", f(self), pf("dane"), "", &unusable, Pass, "", DANENone},
		{"dane-only: match", f(leaf), pf("dane-only"), "", &match, Pass, "", DANEPass},
		{"dane-only: no records", f(leaf), pf("dane-only"), "", &none, Fail, "450 4.7.5 level dane-only: no usable DNSSEC-validated TLSA records (none)", DANENone},
		{"dane-only: insecure", f(leaf), pf("dane-only"), "", &insecure, Fail, "", DANEInsecure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(tc.f, tc.p, EvalOptions{Now: testNow, Require: tc.require, DANE: tc.l})
			if r.Verdict != tc.want || (tc.reply != "" && r.Reply != tc.reply) || r.DANE != tc.dane {
				t.Errorf("%s %q dane %s, want %s %q %s; reasons %q", r.Verdict, r.Reply, r.DANE, tc.want, tc.reply, tc.dane, r.Reasons)
			}
			if tc.name == "not required: mismatch warns" && !strings.Contains(strings.Join(r.Warnings, " "), "DANE fails") {
				t.Errorf("no DANE warning: %q", r.Warnings)
			}
			if strings.HasPrefix(tc.name, "VERIFY: DANE makes") && r.Verify != VerifyTrusted {
				t.Errorf("verify %s, want TRUSTED", r.Verify)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
