package metrics

import (
	"strings"
	"testing"
)

func gatherTLSRPT(t *testing.T, s *Set) map[string]float64 {
	t.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "ops_tlsrpt_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			got[f.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return got
}

func TestTLSRPTCollector(t *testing.T) {
	t.Parallel()
	s := New()
	var sum TLSRPT
	ok := false
	s.Registry().MustRegister(NewTLSRPTCollector(func() (TLSRPT, bool) { return sum, ok }))
	if got := gatherTLSRPT(t, s); len(got) != 0 {
		t.Fatalf("series without a source's sums: %v", got)
	}
	sum, ok = TLSRPT{Reports: 3, BadFiles: 1, Policies: []TLSRPTPolicy{
		{Domain: "example.org", Type: "sts", Successful: 1840, Failed: 17, Failures: map[string]int64{"certificate-expired": 7, "sts-policy-fetch-error": 7, "validation-failure": 2, "starttls-not-supported": 1}},
		{Domain: "mx.example.net", Type: "tlsa", Successful: 114},
		{Domain: "bad\xff", Type: "sts", Successful: 1}, // not UTF-8: made valid, not a failed scrape
	}}, true
	got := gatherTLSRPT(t, s)
	want := map[string]float64{
		"ops_tlsrpt_reports{}":   3,
		"ops_tlsrpt_bad_files{}": 1,
		"ops_tlsrpt_sessions{policy_domain=example.org,policy_type=sts,result=successful}":                  1840,
		"ops_tlsrpt_sessions{policy_domain=example.org,policy_type=sts,result=failed}":                      17,
		"ops_tlsrpt_failures{policy_domain=example.org,policy_type=sts,result_type=certificate-expired}":    7,
		"ops_tlsrpt_failures{policy_domain=example.org,policy_type=sts,result_type=sts-policy-fetch-error}": 7,
		"ops_tlsrpt_failures{policy_domain=example.org,policy_type=sts,result_type=validation-failure}":     2,
		"ops_tlsrpt_failures{policy_domain=example.org,policy_type=sts,result_type=starttls-not-supported}": 1,
		"ops_tlsrpt_sessions{policy_domain=mx.example.net,policy_type=tlsa,result=successful}":              114,
		"ops_tlsrpt_sessions{policy_domain=mx.example.net,policy_type=tlsa,result=failed}":                  0,
		"ops_tlsrpt_sessions{policy_domain=bad\uFFFD,policy_type=sts,result=successful}":                    1,
		"ops_tlsrpt_sessions{policy_domain=bad\uFFFD,policy_type=sts,result=failed}":                        0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d series, want %d: %v", len(got), len(want), got)
	}
}
