package tlscheck

import (
	"strings"
	"testing"
)

// DANE rollover (RFC 7671 §8.1): only records for the current leaf are
// at-risk; a second key, a next certificate or a TA record is safe; no
// judgement without a DANE pass.
func TestDANERollover(t *testing.T) {
	pki := newPKI(t, "Roll")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}})
	next := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}}) // a renewal with a new key
	chain := pki.chain(leaf)
	names := []string{"mx.example.com"}
	for _, tc := range []struct {
		name string
		l    DANELookup
		want string
		why  string
	}{
		{"3 1 1 only, one key", secure(tlsaFor(3, 1, 1, leaf.cert)), RolloverAtRisk, "matches only the current key"},
		{"3 0 1 only", secure(tlsaFor(3, 0, 1, leaf.cert)), RolloverAtRisk, "any renewal breaks it"},
		{"3 1 1 and 3 0 1 of the same leaf", secure(tlsaFor(3, 1, 1, leaf.cert), tlsaFor(3, 0, 1, leaf.cert)), RolloverAtRisk, "current certificate"},
		{"3 1 1 current and next key", secure(tlsaFor(3, 1, 1, leaf.cert), tlsaFor(3, 1, 1, next.cert)), RolloverSafe, "another key or certificate"},
		{"next key listed first", secure(tlsaFor(3, 1, 1, next.cert), tlsaFor(3, 1, 1, leaf.cert)), RolloverSafe, ""},
		{"3 1 1 and a 2 0 1 TA", secure(tlsaFor(3, 1, 1, leaf.cert), tlsaFor(2, 0, 1, pki.inter.cert)), RolloverSafe, "DANE-TA record"},
		{"2 1 1 only", secure(tlsaFor(2, 1, 1, pki.inter.cert)), RolloverSafe, ""},
		{"an unusable record does not help", secure(tlsaFor(3, 1, 1, leaf.cert), tlsaFor(1, 1, 1, next.cert)), RolloverAtRisk, ""},
		{"DANE fails: no judgement", secure(tlsaFor(3, 1, 1, next.cert)), "", ""},
		{"not validated: no judgement", DANELookup{Name: "x", Records: []TLSA{tlsaFor(3, 1, 1, leaf.cert)}}, "", ""},
	} {
		d := EvaluateDANE(tc.l, chain, names, testNow)
		if d.Rollover != tc.want || !strings.Contains(d.RolloverWhy, tc.why) {
			t.Errorf("%s: rollover %q (%s), want %q containing %q", tc.name, d.Rollover, d.RolloverWhy, tc.want, tc.why)
		}
		l := tc.l
		r := Evaluate(facts("mx.example.com", chain, pki.pool, 256), nil, EvalOptions{Now: testNow, DANE: &l})
		atRisk := strings.Contains(strings.Join(r.Warnings, "\n"), "DANE rollover at risk")
		if r.DANERollover != tc.want || atRisk != (tc.want == RolloverAtRisk) {
			t.Errorf("%s: Result dane_rollover %q, warnings %q", tc.name, r.DANERollover, r.Warnings)
		}
	}
}

// MTA-STS with DANE (RFC 8461 §2): where TLSA records validate, DANE
// decides and MTA-STS is reported beside it; otherwise MTA-STS applies.
func TestSTSWithDANE(t *testing.T) {
	pki := newPKI(t, "StsDane")
	other := newPKI(t, "Elsewhere")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.org", dns: []string{"mx.example.org"}})
	chain := pki.chain(leaf)
	enforce := func(mxAllowed bool) *STSResult {
		return &STSResult{Domain: "example.org", Mode: "enforce", MXAllowed: mxAllowed}
	}
	ee := secure(tlsaFor(3, 1, 1, leaf.cert))
	wrong := secure(tlsaFor(3, 1, 1, other.inter.cert))
	for _, tc := range []struct {
		name    string
		roots   bool // the CA roots trust the chain
		sts     *STSResult
		dane    *DANELookup
		verdict string
		reply   string
		warn    string
		reason  string
	}{
		{"DANE pass, MTA-STS pass", true, enforce(true), &ee, Pass, "", "", "MTA-STS (enforce) beside it: MX allowed"},
		{"DANE pass, MX not in the STS policy", true, enforce(false), &ee, Pass, "", "a sender without DANE would refuse", "DANE decides"},
		{"DANE pass, chain not CA-trusted", false, enforce(true), &ee, Pass, "", "MTA-STS requires a trusted certificate (verify=TRUSTED)", "DANE decides"},
		{"DANE fails, MTA-STS passes", true, enforce(true), &wrong, Fail, "450 4.7.5 DANE: no TLSA record", "", "DANE decides"},
		{"DANE fails, STS testing", true, &STSResult{Domain: "example.org", Mode: "testing", MXAllowed: true}, &wrong, Fail, "450 4.7.5 DANE", "", ""},
		{"no TLSA: MTA-STS applies", true, enforce(false), &DANELookup{Name: "x", Secure: true}, Fail, "450 4.7.0 MX mx.example.org is not listed", "", ""},
		{"insecure TLSA: MTA-STS applies", true, enforce(false), &DANELookup{Name: "x", Records: ee.Records}, Fail, "450 4.7.0 MX", "", ""},
		{"bogus TLSA: MTA-STS applies", true, enforce(true), &DANELookup{Name: "x", Err: ErrTLSALookup}, Pass, "", "DANE fails", "MTA-STS (enforce): MX allowed"},
		{"no DANE lookup: MTA-STS applies", true, enforce(false), nil, Fail, "450 4.7.0 MX", "", ""},
	} {
		roots := pki.pool
		if !tc.roots {
			roots = other.pool
		}
		r := Evaluate(facts("mx.example.org", chain, roots, 256), nil, EvalOptions{Now: testNow, Rcpt: "a@example.org", STS: tc.sts, DANE: tc.dane})
		warn := strings.Join(r.Warnings, "\n")
		reasons := strings.Join(r.Reasons, "\n")
		if r.Verdict != tc.verdict || !strings.HasPrefix(r.Reply, tc.reply) || (tc.reply == "" && r.Reply != "") ||
			!strings.Contains(warn, tc.warn) || !strings.Contains(reasons, tc.reason) {
			t.Errorf("%s: verdict %s reply %q\nwarnings %q\nreasons %q", tc.name, r.Verdict, r.Reply, r.Warnings, r.Reasons)
		}
	}
}
