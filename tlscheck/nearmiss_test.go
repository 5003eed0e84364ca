package tlscheck

import "testing"

// Near misses pin the name comparisons: a CN or SAN that differs from the
// reference only in case matches; one that is a prefix or a suffix of the
// reference (or has the reference as prefix or suffix) does not. A CN check
// made case-sensitive, or one accepting a prefix or a suffix, fails here.
func TestNameNearMisses(t *testing.T) {
	pki := newPKI(t, "Near")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}})
	upper := pki.leaf(t, certSpec{cn: "MX.Example.COM", dns: []string{"MX.Example.COM"}})
	tests := []struct {
		name string
		cert *testCert
		rule string // for the server name mx.example.com
		want string
	}{
		{"CN: same", leaf, "VERIFY+CN:mx.example.com", Pass},
		{"CN: reference in other case", leaf, "VERIFY+CN:MX.EXAMPLE.com", Pass},
		{"CN: certificate in other case", upper, "VERIFY+CN:mx.example.com", Pass},
		{"CN: server name in other case", upper, "VERIFY+CN", Pass},
		{"CN: reference is a prefix of the CN", leaf, "VERIFY+CN:mx.example.co", Fail},
		{"CN: reference is a suffix of the CN", leaf, "VERIFY+CN:x.example.com", Fail},
		{"CN: CN is a prefix of the reference", leaf, "VERIFY+CN:mx.example.com.au", Fail},
		{"CN: CN is a suffix of the reference", leaf, "VERIFY+CN:smx.example.com", Fail},
		{"CN: CN is a label suffix of the reference", leaf, "VERIFY+CN:a.mx.example.com", Fail},
		{"CN: empty-label variant", leaf, "VERIFY+CN:mx.example.com.", Fail},
		{"CA: same", leaf, "VERIFY+CA:mx.example.com", Pass},
		{"CA: reference in other case", leaf, "VERIFY+CA:Mx.Example.Com", Pass},
		{"CA: SAN in other case", upper, "VERIFY+CA:mx.example.com", Pass},
		{"CA: reference is a prefix of the SAN", leaf, "VERIFY+CA:mx.example.co", Fail},
		{"CA: reference is a suffix of the SAN", leaf, "VERIFY+CA:x.example.com", Fail},
		{"CA: SAN is a prefix of the reference", leaf, "VERIFY+CA:mx.example.com.au", Fail},
		{"CA: SAN is a suffix of the reference", leaf, "VERIFY+CA:smx.example.com", Fail},
		{"CA: SAN is a label suffix of the reference", leaf, "VERIFY+CA:a.mx.example.com", Fail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := facts("mx.example.com", pki.chain(tc.cert), pki.pool, 256)
			r := Evaluate(f, mustPolicy(t, "TLS_Srv:mx.example.com "+tc.rule+"\n"), EvalOptions{Now: testNow})
			if r.Verdict != tc.want {
				t.Errorf("%s: %s (%q %q), want %s", tc.rule, r.Verdict, r.Reply, r.Reasons, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		presented, ref string
		want           bool
	}{
		{"mx.example.com", "mx.example.com", true},
		{"MX.EXAMPLE.COM", "mx.example.com", true},
		{"mx.example.co", "mx.example.com", false},
		{"mx.example.com", "mx.example.co", false},
		{"x.example.com", "mx.example.com", false},
		{"mx.example.com", "x.example.com", false},
		{"example.com", "mx.example.com", false},
		{"*.example.com", "mx.example.co", false},
		{"*.example.co", "mx.example.com", false},
		{"*.xample.com", "mx.example.com", false},
		{"*.mx.example.com", "mx.example.com", false},
	} {
		if got := MatchDNSID(tc.presented, tc.ref); got != tc.want {
			t.Errorf("MatchDNSID(%q, %q) = %v, want %v", tc.presented, tc.ref, got, tc.want)
		}
	}
}
