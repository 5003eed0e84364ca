package tlscheck

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

// The engine cases follow tlscheck-spec §1.3-1.5, §1.8 and §4, and the
// replies sendmail 8.17.1.9 gave in services.md §3d.
func TestEvaluateSendmail(t *testing.T) {
	pki := newPKI(t, "MyCA")
	other := newPKI(t, "AnotherCA")
	good := pki.leaf(t, certSpec{subject: rawName(t, atv{oidC, "DE"}, atv{oidO, "Example"}, atv{oidCN, "mx.example.com"}), dns: []string{"mx.example.com", "mail.example.com"}})
	wild := pki.leaf(t, certSpec{cn: "*.example.com", dns: []string{"*.example.com"}})
	wildCom := pki.leaf(t, certSpec{cn: "*.com", dns: []string{"*.com"}})
	wildCoUK := pki.leaf(t, certSpec{cn: "*.co.uk", dns: []string{"*.co.uk"}})
	partial := pki.leaf(t, certSpec{cn: "m*.example.com", dns: []string{"m*.example.com"}})
	cnOnly := pki.leaf(t, certSpec{cn: "mx.example.com"})
	expired := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notBefore: testNow.Add(-400 * 24 * time.Hour), notAfter: testNow.Add(-24 * time.Hour)})
	future := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notBefore: testNow.Add(24 * time.Hour), notAfter: testNow.Add(400 * 24 * time.Hour)})
	self := issue(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}}, nil)
	weak := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, rsaBits: 1024})
	soon := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notAfter: testNow.Add(10*24*time.Hour + time.Hour)})
	foreign := other.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}})

	issuerDN, _ := SendmailDN(pki.inter.cert.RawSubject)
	otherIssuerDN, _ := SendmailDN(other.inter.cert.RawSubject)
	if issuerDN != "/C=DE/O=MyCA/CN=MyCA+20Sub+20CA" {
		t.Fatalf("issuer DN %q", issuerDN)
	}

	policy := mustPolicy(t, `
TLS_Srv:secure.example.com   ENCR:112
TLS_Srv:perm.example.com     PERM+VERIFY:256
TLS_Srv:temp.example.com     TEMP+VERIFY
TLS_Srv:cn.example.com       VERIFY+CN
TLS_Srv:cnname.example.com   VERIFY+CN:mx.example.com
TLS_Srv:ci.example.com       VERIFY+CI:/C=DE/O=MyCA/CN=MyCA+20Sub+20CA
TLS_Srv:cs.example.com       VERIFY+CS:/C=DE/O=Example/CN=mx.example.com
TLS_Srv:safe.example.net     VERIFY+CN:mx.example.com++CITag:MyCA
MyCA:/C=DE/O=MyCA/CN=MyCA+20Sub+20CA  OK
TLS_Srv:unknown.example.com  VERIFY+CX++CI:/C=XX/O=Nobody
TLS_Srv:ca.example.com       VERIFY+CA
TLS_Srv:caname.example.com   VERIFY+CA:mail.example.com
TLS_Srv:ok.example.com       OK
TLS_Srv:encr.example.com     ENCR
TLS_Srv:example.org          VERIFY
TLS_Srv:192.0.2              VERIFY:128
TLS_Rcpt:darth@endmail.org   ENCR:112+CN:smtp.endmail.org
`)
	chain := func(c *testCert) []*x509.Certificate { return pki.chain(c) }
	none := func(name string) *Facts {
		f := facts(name, nil, pki.pool, 0)
		f.Verify, f.VerifyError, f.TLSVersion, f.Cipher = VerifyNone, "STARTTLS not offered", "", ""
		return f
	}
	with := func(f *Facts, mod func(*Facts)) *Facts { mod(f); return f }

	tests := []struct {
		name        string
		f           *Facts
		p           *Policy
		eo          EvalOptions
		wantVerdict string
		wantReply   string
		wantKey     string
		wantReason  string // substring of some reason
		wantWarning string // substring of some warning
		wantRT      string
	}{
		// Default requirement VERIFY+CA (no policy, no --require).
		{name: "default: good chain and SAN", f: facts("mx.example.com", chain(good), pki.pool, 256), wantVerdict: Pass, wantReason: "subjectAltName DNS:mx.example.com matches"},
		{name: "default: second SAN", f: facts("mail.example.com", chain(good), pki.pool, 256), wantVerdict: Pass},
		{name: "default: SAN mismatch", f: facts("other.example.com", chain(good), pki.pool, 256), wantVerdict: Fail,
			wantReply: "454 4.7.0 CA other.example.com does not match subjectAltName DNS:mx.example.com DNS:mail.example.com", wantRT: RTHostMismatch},
		{name: "default: trailing dot and case in server name", f: facts("MX.Example.COM.", chain(good), pki.pool, 256), wantVerdict: Pass},
		{name: "wildcard matches one label", f: facts("a.example.com", chain(wild), pki.pool, 256), wantVerdict: Pass},
		{name: "wildcard does not match two labels", f: facts("a.b.example.com", chain(wild), pki.pool, 256), wantVerdict: Fail, wantRT: RTHostMismatch},
		{name: "wildcard does not match the bare domain", f: facts("example.com", chain(wild), pki.pool, 256), wantVerdict: Fail},
		{name: "wildcard *.com is a public suffix", f: facts("example.com", chain(wildCom), pki.pool, 256), wantVerdict: Fail, wantWarning: "public suffix"},
		{name: "wildcard *.co.uk is a public suffix", f: facts("example.co.uk", chain(wildCoUK), pki.pool, 256), wantVerdict: Fail, wantWarning: `public suffix "co.uk"`},
		{name: "partial wildcard is invalid", f: facts("mx.example.com", chain(partial), pki.pool, 256), wantVerdict: Fail, wantWarning: "partial"},
		{name: "CN-only certificate fails CA", f: facts("mx.example.com", chain(cnOnly), pki.pool, 256), wantVerdict: Fail,
			wantReply: "454 4.7.0 CA mx.example.com: certificate has no DNS subjectAltName", wantWarning: "legacy CN"},
		{name: "CN-only certificate with AllowCN", f: facts("mx.example.com", chain(cnOnly), pki.pool, 256), eo: EvalOptions{AllowCN: true}, wantVerdict: Pass, wantReason: "CN fallback"},
		{name: "expired", f: facts("mx.example.com", chain(expired), pki.pool, 256), wantVerdict: Fail,
			wantReply: "454 4.7.0 authentication failed", wantReason: "certificate expired on", wantRT: RTExpired},
		{name: "not yet valid", f: facts("mx.example.com", chain(future), pki.pool, 256), wantVerdict: Fail,
			wantReply: "454 4.7.0 authentication failed", wantReason: "not valid before", wantRT: RTExpired},
		{name: "self-signed", f: facts("mx.example.com", []*x509.Certificate{self.cert}, pki.pool, 256), wantVerdict: Fail,
			wantReply: "454 4.7.0 authentication failed", wantReason: "self-signed", wantRT: RTNotTrusted},
		{name: "missing intermediate", f: facts("mx.example.com", []*x509.Certificate{good.cert}, pki.pool, 256), wantVerdict: Fail,
			wantReason: "missing intermediate"},
		{name: "untrusted CA", f: facts("mx.example.com", other.chain(foreign), pki.pool, 256), wantVerdict: Fail, wantReply: "454 4.7.0 authentication failed"},
		{name: "weak key passes with a warning", f: facts("mx.example.com", chain(weak), pki.pool, 256), wantVerdict: Pass, wantWarning: "weak RSA key: 1024 bits"},
		{name: "expiry warning", f: facts("mx.example.com", chain(soon), pki.pool, 256), wantVerdict: Pass, wantWarning: "certificate expires in 10 days"},
		{name: "expiry warning threshold", f: facts("mx.example.com", chain(soon), pki.pool, 256), eo: EvalOptions{WarnDays: 5}, wantVerdict: Pass},
		{name: "no STARTTLS under the default", f: none("mx.example.com"), wantVerdict: Fail,
			wantReply: "454 4.7.0 other side does not support STARTTLS", wantRT: RTStartTLSNotSupported},

		// sendmail access map semantics.
		{name: "ENCR:112 without STARTTLS", f: none("secure.example.com"), p: policy, wantVerdict: Fail,
			wantReply: "454 4.7.0 encryption too weak 0 less than 112", wantKey: "TLS_Srv:secure.example.com"},
		{name: "ENCR:112 with an unverified chain passes", f: facts("secure.example.com", []*x509.Certificate{self.cert}, pki.pool, 128), p: policy, wantVerdict: Pass},
		{name: "PERM+VERIFY:256 too weak", f: facts("perm.example.com", chain(good), pki.pool, 128), p: policy, wantVerdict: Fail,
			wantReply: "503 5.7.0 encryption too weak 128 less than 256"},
		{name: "TEMP+VERIFY without STARTTLS", f: none("temp.example.com"), p: policy, wantVerdict: Fail,
			wantReply: "403 4.7.0 other side does not support STARTTLS"},
		{name: "VERIFY+CN: CN is compared literally", f: facts("a.example.com", chain(wild), pki.pool, 256), p: mustPolicy(t, "TLS_Srv:a.example.com VERIFY+CN\n"),
			wantVerdict: Fail, wantReply: "454 4.7.0 CN *.example.com does not match a.example.com"},
		{name: "VERIFY+CN uses the server name", f: facts("cn.example.com", chain(good), pki.pool, 256), p: policy, wantVerdict: Fail,
			wantReply: "454 4.7.0 CN mx.example.com does not match cn.example.com"},
		{name: "VERIFY+CN:name", f: facts("cnname.example.com", chain(good), pki.pool, 256), p: policy, wantVerdict: Pass},
		{name: "CI matches", f: facts("ci.example.com", chain(good), pki.pool, 256), p: policy, wantVerdict: Pass},
		{name: "CI mismatch", f: facts("ci.example.com", other.chain(foreign), other.pool, 256), p: policy, wantVerdict: Fail,
			wantReply: "454 4.7.0 Cert Issuer " + otherIssuerDN + " does not match /C=DE/O=MyCA/CN=MyCA+20Sub+20CA"},
		{name: "CS matches case-insensitively", f: facts("cs.example.com", chain(good), pki.pool, 256), p: policy, wantVerdict: Pass},
		{name: "CITag accepted", f: facts("safe.example.net", chain(good), pki.pool, 256), p: policy, wantVerdict: Pass, wantReason: "accepted by MyCA"},
		{name: "CITag not acceptable", f: facts("safe.example.net", other.chain(foreign), other.pool, 256), p: policy, wantVerdict: Fail,
			wantReply: "454 4.7.0 Cert Issuer " + otherIssuerDN + " not acceptable"},
		{name: "unknown extension short-circuits the rest", f: facts("unknown.example.com", chain(good), pki.pool, 256), p: policy, wantVerdict: Pass,
			wantReason: `extension "CX" is unknown to sendmail: accepted without checking it or the 1 after it`},
		{name: "CA extension", f: facts("ca.example.com", chain(good), pki.pool, 256), p: policy, wantVerdict: Fail, wantRT: RTHostMismatch},
		{name: "CA:name extension", f: facts("caname.example.com", chain(good), pki.pool, 256), p: policy, wantVerdict: Pass},
		{name: "OK is not a requirement", f: none("ok.example.com"), p: policy, wantVerdict: Pass, wantReason: "not a TLS requirement"},
		{name: "ENCR without bits is not a requirement", f: none("encr.example.com"), p: policy, wantVerdict: Pass},
		{name: "parent domain walk", f: none("mx.example.org"), p: policy, wantVerdict: Fail, wantKey: "TLS_Srv:example.org",
			wantReply: "454 4.7.0 other side does not support STARTTLS"},
		{name: "address walk", f: with(facts("mx.unlisted.test", chain(good), pki.pool, 64), func(f *Facts) {}), p: policy, wantVerdict: Fail,
			wantKey: "TLS_Srv:192.0.2", wantReply: "454 4.7.0 encryption too weak 64 less than 128"},
		{name: "no entry: sendmail accepts", f: none("unlisted.test"), p: mustPolicy(t, "TLS_Srv:x.test VERIFY\n"), wantVerdict: Pass, wantReason: "no policy entry applies"},
		{name: "no entry with --require", f: none("unlisted.test"), p: mustPolicy(t, "TLS_Srv:x.test VERIFY\n"), eo: EvalOptions{Require: "ENCR:128"},
			wantVerdict: Fail, wantReply: "454 4.7.0 encryption too weak 0 less than 128"},
		{name: "handshake failure without entry", f: with(none("unlisted.test"), func(f *Facts) { f.Verify, f.VerifyError = VerifySoftware, "boom" }),
			p: mustPolicy(t, "TLS_Srv:x.test VERIFY\n"), wantVerdict: Fail, wantReply: "454 4.7.0 TLS handshake failed."},
		{name: "handshake failure with PERM+ entry", f: with(none("perm.example.com"), func(f *Facts) { f.Verify = VerifySoftware }), p: policy,
			wantVerdict: Fail, wantReply: "503 5.7.0 TLS handshake failed."},
		{name: "STARTTLS 454 gives TEMP", f: with(none("temp.example.com"), func(f *Facts) { f.Verify = VerifyTemp }), p: policy,
			wantVerdict: Fail, wantReply: "403 4.7.0 authentication failure TEMP"},
		{name: "legacy default code", f: none("secure.example.com"), p: policy, eo: EvalOptions{LegacyCodes: true}, wantVerdict: Fail,
			wantReply: "403 4.7.0 encryption too weak 0 less than 112"},
		{name: "TLS_PERM_ERR default code", f: none("secure.example.com"), p: policy, eo: EvalOptions{PermErr: true}, wantVerdict: Fail,
			wantReply: "554 5.7.0 encryption too weak 0 less than 112"},
		{name: "TLS_Rcpt checked after TLS_Srv", f: facts("smtp.endmail.org", chain(good), pki.pool, 256), p: policy, eo: EvalOptions{Rcpt: "darth@endmail.org"},
			wantVerdict: Fail, wantKey: "TLS_Rcpt:darth@endmail.org", wantReply: "454 4.7.0 CN mx.example.com does not match smtp.endmail.org"},
		{name: "TLS_Rcpt for another recipient", f: facts("smtp.endmail.org", chain(good), pki.pool, 256), p: policy, eo: EvalOptions{Rcpt: "leia@endmail.org"},
			wantVerdict: Pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eo := tc.eo
			eo.Now = testNow
			r := Evaluate(tc.f, tc.p, eo)
			if r.Verdict != tc.wantVerdict {
				t.Errorf("verdict %s, want %s; reply %q reasons %q", r.Verdict, tc.wantVerdict, r.Reply, r.Reasons)
			}
			if tc.wantReply != "" && r.Reply != tc.wantReply {
				t.Errorf("reply\n got  %q\n want %q", r.Reply, tc.wantReply)
			}
			if tc.wantVerdict == Pass && r.Reply != "" {
				t.Errorf("pass with reply %q", r.Reply)
			}
			if tc.wantKey != "" && r.PolicyKey != tc.wantKey {
				t.Errorf("policy key %q, want %q", r.PolicyKey, tc.wantKey)
			}
			if tc.wantReason != "" && !containsSub(r.Reasons, tc.wantReason) {
				t.Errorf("reasons %q lack %q", r.Reasons, tc.wantReason)
			}
			if tc.wantWarning != "" && !containsSub(r.Warnings, tc.wantWarning) {
				t.Errorf("warnings %q lack %q", r.Warnings, tc.wantWarning)
			}
			if tc.wantWarning == "" && tc.name == "expiry warning threshold" && len(r.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", r.Warnings)
			}
			if tc.wantRT != "" && r.ResultType != tc.wantRT {
				t.Errorf("result type %q, want %q", r.ResultType, tc.wantRT)
			}
		})
	}
}

func TestChainOrderWarning(t *testing.T) {
	pki := newPKI(t, "Order")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}})
	ok := Evaluate(facts("mx.example.com", pki.chain(leaf), pki.pool, 256), nil, EvalOptions{Now: testNow})
	if containsSub(ok.Warnings, "out of order") {
		t.Errorf("ordered chain flagged: %q", ok.Warnings)
	}
	bad := Evaluate(facts("mx.example.com", []*x509.Certificate{leaf.cert, pki.root.cert, pki.inter.cert}, pki.pool, 256), nil, EvalOptions{Now: testNow})
	if !containsSub(bad.Warnings, "presented chain out of order: certificate 1") {
		t.Errorf("warnings %q", bad.Warnings)
	}
}

func containsSub(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Go's VerifyHostname accepts what RFC 9525 + a public-suffix check reject;
// this pins down why ops does its own matching.
func TestGoVerifyHostnameDisagrees(t *testing.T) {
	pki := newPKI(t, "X")
	wildCom := pki.leaf(t, certSpec{cn: "x", dns: []string{"*.com"}})
	if err := wildCom.cert.VerifyHostname("example.com"); err != nil {
		t.Skipf("Go now rejects *.com itself: %v", err)
	}
	ref, _ := NormalizeReference("example.com")
	if MatchDNSID("*.com", ref) {
		t.Error("MatchDNSID accepted *.com")
	}
	wild := pki.leaf(t, certSpec{cn: "x", dns: []string{"*.example.com"}})
	if err := wild.cert.VerifyHostname("*.example.com"); err != nil {
		t.Skipf("Go now rejects wildcard references: %v", err)
	}
	if _, err := NormalizeReference("*.example.com"); err == nil {
		t.Error("wildcard reference name accepted")
	}
}

func TestMatchDNSID(t *testing.T) {
	tests := []struct {
		presented, ref string
		want           bool
	}{
		{"mx.example.com", "mx.example.com", true},
		{"MX.Example.Com", "mx.example.com", true},
		{"mx.example.com.", "mx.example.com", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
		{"*.com", "example.com", false},
		{"*.co.uk", "example.co.uk", false},
		{"*.example.co.uk", "mx.example.co.uk", true},
		{"f*.example.com", "foo.example.com", false},
		{"*o.example.com", "foo.example.com", false},
		{"a.*.example.com", "a.b.example.com", false},
		{"*.*.example.com", "a.b.example.com", false},
		{"*", "localhost", false},
		{"*.xn--mnchen-3ya.de", "mail.xn--mnchen-3ya.de", true},
		{"mail.münchen.de", "mail.xn--mnchen-3ya.de", true},
		{"*.example", "a.example", false}, // unlisted TLD: the default rule makes "example" a suffix
	}
	for _, tc := range tests {
		if got := MatchDNSID(tc.presented, tc.ref); got != tc.want {
			t.Errorf("MatchDNSID(%q, %q) = %v, want %v", tc.presented, tc.ref, got, tc.want)
		}
	}
	for _, bad := range []string{"*.example.com", "", "a..b", "."} {
		if _, err := NormalizeReference(bad); err == nil {
			t.Errorf("NormalizeReference(%q) accepted", bad)
		}
	}
	if r, err := NormalizeReference("Mail.München.DE."); err != nil || r != "mail.xn--mnchen-3ya.de" {
		t.Errorf("NormalizeReference IDN = %q, %v", r, err)
	}
}

func TestMatchDotPattern(t *testing.T) {
	tests := []struct {
		presented, pattern string
		want               bool
	}{
		{"mx.example.com", ".example.com", true},
		{"a.b.example.com", ".example.com", true},
		{"example.com", ".example.com", false},
		{"*.example.com", ".example.com", true},
		{"*.sub.example.com", ".example.com", true},
		{"*.com", ".com", false},
		// The pattern's dot is a label boundary: a name that merely ends in
		// the same characters is another domain.
		{"badexample.com", ".example.com", false},
		{"mx.badexample.com", ".example.com", false},
		{"*.badexample.com", ".example.com", false},
		{"xexample.com", "example.com", false},
		{"MX.Example.COM", ".EXAMPLE.com", true},
	}
	for _, tc := range tests {
		if got := MatchDotPattern(tc.presented, tc.pattern); got != tc.want {
			t.Errorf("MatchDotPattern(%q, %q) = %v, want %v", tc.presented, tc.pattern, got, tc.want)
		}
	}
}

func TestEvaluateNotChecked(t *testing.T) {
	f := &Facts{Target: "mx.example.com", ServerName: "mx.example.com", Err: errTest("connect: connection refused")}
	r := Evaluate(f, nil, EvalOptions{Now: testNow})
	if r.Verdict != Fail || r.Checked() || r.Error == "" || r.Reply != "" {
		t.Errorf("%+v", r)
	}
	if err := RunError([]Result{r}); !errors.Is(err, ErrNothingChecked) {
		t.Errorf("RunError = %v, want ErrNothingChecked (exit 3)", err)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

// RunError's sentinels are what cmd/ops maps to exit statuses: nil 0,
// ErrPolicyViolation 1, ErrNothingChecked 3.
func TestRunError(t *testing.T) {
	pass := Result{Verdict: Pass, checked: true}
	fail := Result{Verdict: Fail, checked: true}
	unchecked := Result{Verdict: Fail}
	tests := []struct {
		rs   []Result
		want error // nil: RunError must be nil
	}{
		{[]Result{pass, pass}, nil},
		{[]Result{pass, fail}, ErrPolicyViolation},
		{[]Result{pass, unchecked}, ErrPolicyViolation},
		{[]Result{unchecked, unchecked}, ErrNothingChecked},
		{nil, ErrNothingChecked},
	}
	for i, tc := range tests {
		got := RunError(tc.rs)
		if (tc.want == nil) != (got == nil) || !errors.Is(got, tc.want) {
			t.Errorf("case %d: RunError = %v, want %v", i, got, tc.want)
		}
	}
}

func TestEvaluateClient(t *testing.T) {
	pki := newPKI(t, "Clt")
	laptop := pki.leaf(t, certSpec{cn: "laptop.example.com", dns: []string{"laptop.example.com"}})
	self := issue(t, certSpec{cn: "laptop.example.com"}, nil)
	p := mustPolicy(t, "TLS_Clt:laptop.example.com PERM+VERIFY:112\nTLS_Srv:laptop.example.com ENCR:999\n")
	f := facts("laptop.example.com", pki.chain(laptop), pki.pool, 128)
	if r := EvaluateClient(f, p, EvalOptions{Now: testNow}); r.Verdict != Pass || r.PolicyKey != "TLS_Clt:laptop.example.com" {
		t.Errorf("verified client: %s %q %q", r.Verdict, r.PolicyKey, r.Reply)
	}
	f = facts("laptop.example.com", []*x509.Certificate{self.cert}, pki.pool, 128)
	if r := EvaluateClient(f, p, EvalOptions{Now: testNow}); r.Reply != "503 5.7.0 authentication failed" {
		t.Errorf("self-signed client: %s %q", r.Verdict, r.Reply)
	}
	f = facts("laptop.example.com", nil, pki.pool, 0)
	f.Verify = VerifyNo
	if r := EvaluateClient(f, p, EvalOptions{Now: testNow}); r.Reply != "503 5.7.0 not authenticated" {
		t.Errorf("no client certificate: %s %q", r.Verdict, r.Reply)
	}
}
