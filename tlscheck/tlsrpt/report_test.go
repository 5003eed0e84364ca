package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	googleFile = "testdata/google.com!example.org!1796083200!1796169599!001.json.gz"
	msFile     = "testdata/microsoft.com!example.org!1796083200!1796169599!134090592000000000.json"
	mailFile   = "testdata/microsoft-mail.eml"
	rfcFile    = "testdata/rfc8460-example.json"
	pfFile     = "testdata/tlsrpt-reporter-no-policy.json"
)

func readAll(t *testing.T, files ...string) []*Report {
	t.Helper()
	var all []*Report
	for _, f := range files {
		rs, err := ReadFile(f)
		if err != nil {
			t.Fatalf("ReadFile(%s): %v", f, err)
		}
		all = append(all, rs...)
	}
	return all
}

func TestRFCExample(t *testing.T) {
	rs := readAll(t, rfcFile)
	if len(rs) != 1 {
		t.Fatalf("reports = %d, want 1", len(rs))
	}
	r := rs[0]
	if r.OrganizationName != "Company-X" || r.ReportID != "5065427c-23d3-47ca-b6e0-946ea0e8c4be" || r.Start.IsZero() || r.End.Before(r.Start) {
		t.Errorf("report metadata = %+v", r)
	}
	p := r.Policies[0]
	if p.Type != "sts" || p.Domain != "company-y.example" || !reflect.DeepEqual(p.MXHosts, []string{"*.mail.company-y.example"}) ||
		p.Successful != 5326 || p.Failed != 303 || len(p.Failures) != 3 {
		t.Fatalf("policy = %+v", p)
	}
	f := p.Failures[0]
	if f.ResultType != "certificate-expired" || f.SendingMTAIP != "2001:db8:abcd:12::1" || f.ReceivingMX != "mx1.mail.company-y.example" || f.FailedSessions != 100 {
		t.Errorf("failure[0] = %+v (the IP canonical, the rest as sent)", f)
	}
	if p.Failures[2].ReasonCode != "X509_V_ERR_PROOF_OF_POSSESSION" || p.Failures[1].ReceivingIP != "203.0.113.56" {
		t.Errorf("failures = %+v", p.Failures)
	}
}

// The three shapes of the issue summed together: a Google gzip report, a
// Microsoft JSON and a Microsoft e-mail (multipart/report, base64 gzip).
func TestSumGoogleMicrosoftMail(t *testing.T) {
	s := Sum(readAll(t, googleFile, msFile, mailFile))
	want := Summary{Reports: 3, Policies: []PolicySum{
		{PolicyDomain: "example.org", PolicyType: "sts", Successful: 1412 + 230 + 198, Failed: 9 + 3 + 5, Failures: []FailureSum{
			{ResultType: "certificate-expired", ReceivingMX: "mx2.example.org", SendingIP: "209.85.220.41", Count: 7},
			{ResultType: "sts-policy-fetch-error", Count: 7},
			{ResultType: "validation-failure", ReceivingMX: "mx2.example.org", SendingIP: "2607:f8b0:4864:20::a41", Count: 2},
			{ResultType: "starttls-not-supported", ReceivingMX: "mx2.example.org", Count: 1},
		}},
		{PolicyDomain: "mx.example.net", PolicyType: "tlsa", Successful: 114, Failed: 0, Failures: []FailureSum{}},
	}}
	if !reflect.DeepEqual(s, want) {
		got, _ := json.MarshalIndent(s, "", " ")
		t.Fatalf("Sum =\n%s", got)
	}
}

func TestSumCountsAReportOnce(t *testing.T) {
	rs := readAll(t, googleFile, googleFile, pfFile)
	s := Sum(rs)
	if s.Reports != 2 || s.Policies[0].PolicyDomain != "" || s.Policies[0].PolicyType != "no-policy-found" ||
		s.Policies[0].Successful != 4 || s.Policies[1].Successful != 1412 {
		t.Fatalf("Sum = %+v: the Google report twice must count once; no-policy-found without a domain kept", s)
	}
}

func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, Sum(readAll(t, msFile))); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Reports  *int `json:"reports"`
		Policies []map[string]any
	}
	if err := json.Unmarshal(b.Bytes(), &v); err != nil || v.Reports == nil || *v.Reports != 1 || len(v.Policies) != 2 {
		t.Fatalf("JSON %s: %v", b.String(), err)
	}
	for _, k := range []string{"policy_domain", "policy_type", "successful", "failed", "failures"} {
		if _, ok := v.Policies[0][k]; !ok {
			t.Errorf("policy has no %q: %s", k, b.String())
		}
	}
	f := v.Policies[0]["failures"].([]any)[0].(map[string]any)
	for _, k := range []string{"result_type", "receiving_mx_hostname", "sending_mta_ip", "count"} {
		if _, ok := f[k]; !ok {
			t.Errorf("failure has no %q: %s", k, b.String())
		}
	}
	if v.Policies[1]["failures"] == nil {
		t.Errorf("failures must be [] when none, got null: %s", b.String())
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, Sum(readAll(t, googleFile, msFile, mailFile))); err != nil {
		t.Fatal(err)
	}
	want := `POLICY DOMAIN   TYPE  SUCCESSFUL  FAILED  FAILED %
example.org     sts   1840        17      0.9
  └ 7  certificate-expired     mx mx2.example.org  from 209.85.220.41
  └ 7  sts-policy-fetch-error  mx -                from -
  └ 2  validation-failure      mx mx2.example.org  from 2607:f8b0:4864:20::a41
  └ 1  starttls-not-supported  mx mx2.example.org  from -
mx.example.net  tlsa  114         0       0.0
3 report(s)
`
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestTableEscapes(t *testing.T) {
	s := Summary{Reports: 1, Policies: []PolicySum{{PolicyDomain: "evil\x1b[2J.example", PolicyType: "sts",
		Failures: []FailureSum{{ResultType: "x\nFORGED", Count: 1}}}}}
	var b bytes.Buffer
	if err := WriteTable(&b, s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || strings.Contains(b.String(), "\nFORGED") {
		t.Fatalf("unescaped peer text in %q", b.String())
	}
}

// Variations real reporters send, each accepted.
func TestTolerated(t *testing.T) {
	for name, doc := range map[string]string{
		"contact-info null":          `{"contact-info":null,"policies":[{"policy":{"policy-type":"sts","policy-domain":"a.example"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`,
		"no failure-details":         `{"policies":[{"policy":{"policy-type":"tlsa","policy-domain":"a.example"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`,
		"failure-details null":       `{"policies":[{"policy":{"policy-type":"tlsa","policy-domain":"a.example"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0},"failure-details":null}]}`,
		"no sending-mta-ip (MS)":     `{"policies":[{"policy":{"policy-type":"sts","policy-domain":"a.example"},"summary":{"total-successful-session-count":0,"total-failure-session-count":3},"failure-details":[{"result-type":"sts-policy-fetch-error","failed-session-count":3}]}]}`,
		"mx-host list":               `{"policies":[{"policy":{"policy-type":"sts","policy-domain":"a.example","mx-host":["a","b"]},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`,
		"byte-order mark":            "\ufeff" + `{"policies":[]}`,
		"unknown extension field":    `{"x-vendor":{"a":[1]},"policies":[{"policy":{"policy-type":"STS","policy-domain":"A.Example."},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`,
		"no-policy-found, no domain": `{"policies":[{"policy":{"policy-type":"no-policy-found"},"summary":{"total-successful-session-count":4,"total-failure-session-count":0},"failure-details":[]}]}`,
		"unknown result type kept":   `{"policies":[{"policy":{"policy-type":"sts","policy-domain":"a.example"},"summary":{"total-successful-session-count":0,"total-failure-session-count":1},"failure-details":[{"result-type":"vendor-thing","failed-session-count":1}]}]}`,
		"date-time with an offset":   `{"date-range":{"start-datetime":"2026-12-01T00:00:00+01:00","end-datetime":"2026-12-01T23:59:59.999+01:00"},"policies":[]}`,
	} {
		if _, err := Decode([]byte(doc)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// What cannot be a report: each an ErrMalformed saying what was expected.
func TestMalformed(t *testing.T) {
	pol := func(s string) string { return `{"policies":[` + s + `]}` }
	for name, c := range map[string]struct{ doc, want string }{
		"empty":               {"", "empty file"},
		"not json":            {"{policies: 1}", "JSON: invalid character"},
		"truncated":           {`{"policies":[{"policy":`, "truncated"},
		"array":               {`[{"policies":[]}]`, "got an array, expected a report object"},
		"headers, no mail":    {"a: b\r\n\r\n{}", "neither JSON, gzip nor an e-mail"},
		"no policies":         {`{"organization-name":"x"}`, `"policies" is missing`},
		"policies not array":  {`{"policies":{}}`, "field policies: got object, expected an array"},
		"no policy":           {pol(`{"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}`), `policies[0]: not a readable TLSRPT report: "policy" is missing`},
		"no policy-type":      {pol(`{"policy":{"policy-domain":"a"},"summary":{}}`), "policy-type is missing"},
		"bad policy-type":     {pol(`{"policy":{"policy-type":"dane","policy-domain":"a"},"summary":{}}`), `policy-type "dane": expected sts, tlsa or no-policy-found`},
		"sts without domain":  {pol(`{"policy":{"policy-type":"sts"},"summary":{}}`), "policy-domain is missing for policy-type sts"},
		"no summary":          {pol(`{"policy":{"policy-type":"sts","policy-domain":"a"}}`), `"summary" is missing`},
		"no success count":    {pol(`{"policy":{"policy-type":"sts","policy-domain":"a"},"summary":{"total-failure-session-count":0}}`), "total-successful-session-count is missing"},
		"negative count":      {pol(`{"policy":{"policy-type":"sts","policy-domain":"a"},"summary":{"total-successful-session-count":-1,"total-failure-session-count":0}}`), "is -1: expected a count"},
		"count as string":     {pol(`{"policy":{"policy-type":"sts","policy-domain":"a"},"summary":{"total-successful-session-count":"5","total-failure-session-count":0}}`), "got string, expected a whole number"},
		"fractional count":    {pol(`{"policy":{"policy-type":"sts","policy-domain":"a"},"summary":{"total-successful-session-count":1.5,"total-failure-session-count":0}}`), "expected a whole number"},
		"failure no type":     {pol(`{"policy":{"policy-type":"sts","policy-domain":"a"},"summary":{"total-successful-session-count":0,"total-failure-session-count":1},"failure-details":[{"failed-session-count":1}]}`), "failure-details[0].result-type is missing"},
		"failure no count":    {pol(`{"policy":{"policy-type":"sts","policy-domain":"a"},"summary":{"total-successful-session-count":0,"total-failure-session-count":1},"failure-details":[{"result-type":"x"}]}`), "failure-details[0].failed-session-count is missing"},
		"mx-host number":      {pol(`{"policy":{"policy-type":"sts","policy-domain":"a","mx-host":5},"summary":{}}`), "mx-host: expected a string or a list"},
		"bad date":            {`{"date-range":{"start-datetime":"yesterday"},"policies":[]}`, `start-datetime "yesterday": expected an RFC 3339`},
		"two objects":         {`{"policies":[]}{"policies":[]}`, "text after the report object"},
		"trailing garbage":    {`{"policies":[]} x`, "text after the report object"},
		"corrupt gzip":        {"\x1f\x8b\x08\x00garbage", "gzip:"},
		"mail without report": {"From: a@example\r\nSubject: hi\r\n\r\nhello\r\n", "e-mail without a report"},
		"binary":              {"\x00\x01\x02", "neither JSON, gzip nor an e-mail"},
	} {
		_, err := Decode([]byte(c.doc))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrMalformed containing %q", name, err, c.want)
		}
	}
}

func TestGzipBomb(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"policies":[],"pad":"`))
	zero := make([]byte, 1<<20)
	for range MaxSize>>20 + 1 {
		zw.Write(bytes.Repeat([]byte{'a'}, len(zero)))
	}
	zw.Close()
	_, err := Decode(b.Bytes())
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "once decompressed") {
		t.Fatalf("err = %v", err)
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(p, []byte(`{"policies":5}`), 0o600)
	_, err := ReadFile(p)
	if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), p+": ") {
		t.Fatalf("err = %v, want it to start with the file name", err)
	}
}

func TestMailForms(t *testing.T) {
	js := `{"report-id":"r1","policies":[{"policy":{"policy-type":"sts","policy-domain":"a.example"},"summary":{"total-successful-session-count":2,"total-failure-session-count":0}}]}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(js))
	zw.Close()
	b64 := func(b []byte) string { return wrap76(b) }
	for name, mail := range map[string]string{
		"single-part tlsrpt+json": "From: r@x\r\nContent-Type: application/tlsrpt+json\r\n\r\n" + js + "\r\n",
		"single-part tlsrpt+gzip": "From: r@x\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(gz.Bytes()),
		"octet-stream named .json.gz, nested": "From: r@x\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\nhi\r\n--i--\r\n--o\r\n" +
			"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"x.json.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(gz.Bytes()) + "--o--\r\n",
		"quoted-printable json": "From: r@x\r\nContent-Type: multipart/report; report-type=tlsrpt; boundary=b\r\n\r\n--b\r\nContent-Type: application/tlsrpt+json\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			strings.ReplaceAll(js, "=", "=3D") + "\r\n--b--\r\n",
	} {
		rs, err := Decode([]byte(mail))
		if err != nil || len(rs) != 1 || rs[0].Policies[0].Successful != 2 {
			t.Errorf("%s: %v %v", name, rs, err)
		}
	}
	bad := "From: r@x\r\nContent-Type: multipart/report; boundary=b\r\n\r\n--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\nbm90IGd6aXA=\r\n--b--\r\n"
	if _, err := Decode([]byte(bad)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "message part 1 (application/tlsrpt+gzip): not a readable TLSRPT report: not gzip data") {
		t.Errorf("a tlsrpt+gzip part that is not gzip: %v", err)
	}
}

func wrap76(b []byte) string {
	var s strings.Builder
	enc := make([]byte, base64Len(len(b)))
	base64Std.Encode(enc, b)
	for len(enc) > 76 {
		s.Write(enc[:76])
		s.WriteString("\r\n")
		enc = enc[76:]
	}
	s.Write(enc)
	s.WriteString("\r\n")
	return s.String()
}
