package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
	"github.com/opsteam/ops/tlscheck"
)

// verdicts carries each connection's certificate expiry to the metrics
// (ops_tlscheck_cert_expiry_timestamp_seconds); none without a certificate.
func TestVerdictsCertExpiry(t *testing.T) {
	vs := verdicts([]tlscheck.Result{
		{Target: "mx1.example:25", Addr: "192.0.2.1:25", Verdict: tlscheck.Pass, NotAfter: "2027-01-02T03:04:05Z"},
		{Target: "mx2.example:25", Verdict: tlscheck.Fail},
	})
	if len(vs) != 2 || vs[0].Target != "mx1.example:25 192.0.2.1:25" || !vs[0].Pass || vs[0].CertExpiry.Unix() != 1798859045 ||
		!vs[1].CertExpiry.IsZero() || vs[1].Pass {
		t.Fatalf("%+v", vs)
	}
}

// `ops tlscheck --metrics-file` against the real Postfix: the gauge holds
// the NotAfter of the certificate Postfix serves.
func TestTLSCheckCertExpiryMetric(t *testing.T) {
	testenv.RequireIT(t)
	addr := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	ca := testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt")
	pemBytes, err := os.ReadFile(filepath.Join(testenv.Getenv("OPS_IT_PKI_DIR", "/var/lib/ops-test/pki"), "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		t.Fatal("server.crt: no PEM block")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	mf := filepath.Join(t.TempDir(), "ops.prom")
	code, out, stderr := runOps(t, "tlscheck", "localhost:"+port, "--resolve", "localhost:"+port+":127.0.0.1", "--ca", ca, "--metrics-file", mf)
	if code != 0 {
		t.Fatalf("code %d\n%s%s", code, out, stderr)
	}
	b, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	series := `ops_tlscheck_cert_expiry_timestamp_seconds{check="adhoc",target="localhost:` + port + ` 127.0.0.1:` + port + `"} `
	line := grepLine(string(b), series)
	var got float64
	if _, err := fmt.Sscanf(strings.TrimPrefix(line, series), "%g", &got); err != nil || int64(got) != cert.NotAfter.Unix() {
		t.Fatalf("%q: gauge %v (%v), want %d (server.crt NotAfter %s) in\n%s", series, got, err, cert.NotAfter.Unix(), cert.NotAfter, b)
	}
	t.Logf("%s (server.crt NotAfter %s)", line, cert.NotAfter.UTC().Format(time.RFC3339))
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
