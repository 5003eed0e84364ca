package tlscheck

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRelay(t *testing.T) {
	pki := newPKI(t, "Clients")
	other := newPKI(t, "Strangers")
	issuer, _ := SendmailDN(pki.inter.cert.RawSubject)
	subjDN := rawName(t, atv{oidC, "DE"}, atv{oidO, "Partner"}, atv{oidCN, "relay.partner.example"})
	client := pki.leaf(t, certSpec{subject: subjDN, dns: []string{"Relay.Partner.Example"}, emails: []string{"Ops@Partner.EXAMPLE"}, ips: []string{"192.0.2.7"}, uris: []string{"spiffe://partner/relay"}})
	subject, _ := SendmailDN(client.cert.RawSubject)
	stranger := other.leaf(t, certSpec{cn: "x", dns: []string{"relay.partner.example"}})
	expired := pki.leaf(t, certSpec{cn: "old", notBefore: testNow.Add(-100 * 24 * time.Hour), notAfter: testNow.Add(-time.Hour)})

	tests := []struct {
		name    string
		chain   []*x509.Certificate
		policy  string
		relay   bool
		matched []string
		reason  string
	}{
		{name: "issuer RELAY", chain: pki.chain(client), policy: "CertIssuer:" + issuer + " RELAY\n", relay: true, matched: []string{"CertIssuer:" + issuer}},
		{name: "issuer key is case-insensitive", chain: pki.chain(client), policy: "CERTISSUER:" + strings.ToLower(issuer) + " RELAY\n", relay: true},
		{name: "issuer SUBJECT then subject RELAY", chain: pki.chain(client),
			policy: "CertIssuer:" + issuer + " SUBJECT\nCertSubject:" + subject + " RELAY\n", relay: true, matched: []string{"CertSubject:" + subject}},
		{name: "issuer SUBJECT without subject entry", chain: pki.chain(client), policy: "CertIssuer:" + issuer + " SUBJECT\n", relay: false, reason: "but no entry CertSubject:"},
		{name: "ALTNAMES: DNS SAN lower-cased", chain: pki.chain(client),
			policy: "CertIssuer:" + issuer + " ALTNAMES:partners\nSubjAltName:partners:relay.partner.example RELAY\n", relay: true,
			matched: []string{"SubjAltName:partners:relay.partner.example"}},
		{name: "ALTNAMES: email with domain lower-cased, local part as is", chain: pki.chain(client),
			policy: "CertIssuer:" + issuer + " ALTNAMES:p\nSubjAltName:p:Ops@partner.example RELAY\n", relay: true},
		{name: "ALTNAMES: IP and URI", chain: pki.chain(client),
			policy: "CertIssuer:" + issuer + " ALTNAMES:p\nSubjAltName:p:192.0.2.7 RELAY\nSubjAltName:p:spiffe://partner/relay RELAY\n", relay: true,
			matched: []string{"SubjAltName:p:192.0.2.7", "SubjAltName:p:spiffe://partner/relay"}},
		{name: "ALTNAMES: no matching SAN", chain: pki.chain(client),
			policy: "CertIssuer:" + issuer + " ALTNAMES:p\nSubjAltName:p:other.example RELAY\n", relay: false, reason: "no SubjAltName:p:"},
		{name: "ALTNAMES: other key does not count", chain: pki.chain(client),
			policy: "CertIssuer:" + issuer + " ALTNAMES:p\nSubjAltName:q:relay.partner.example RELAY\n", relay: false},
		{name: "untrusted issuer never relays", chain: other.chain(stranger), policy: "CertIssuer:" + issuer + " RELAY\n", relay: false, reason: "not verified"},
		{name: "expired never relays", chain: pki.chain(expired), policy: "CertIssuer:" + issuer + " RELAY\n", relay: false, reason: "expired"},
		{name: "no entry", chain: pki.chain(client), policy: "TLS_Srv:x VERIFY\n", relay: false, reason: "no entry CertIssuer:"},
		{name: "other value", chain: pki.chain(client), policy: "CertIssuer:" + issuer + " OK\n", relay: false, reason: "only RELAY, SUBJECT or ALTNAMES"},
		{name: "no certificate", chain: nil, policy: "CertIssuer:" + issuer + " RELAY\n", relay: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Relay(tc.chain, mustPolicy(t, tc.policy), RelayOptions{Roots: pki.pool, Now: testNow})
			if r.Relay != tc.relay || (r.Verdict == "RELAY") != tc.relay {
				t.Errorf("relay %v (%s), want %v: %q", r.Relay, r.Verdict, tc.relay, r.Reasons)
			}
			if tc.matched != nil && strings.Join(r.Matched, " ") != strings.Join(tc.matched, " ") {
				t.Errorf("matched %q, want %q", r.Matched, tc.matched)
			}
			if tc.reason != "" && !containsSub(r.Reasons, tc.reason) {
				t.Errorf("reasons %q lack %q", r.Reasons, tc.reason)
			}
		})
	}
}

func TestRelayOutputAndLoad(t *testing.T) {
	pki := newPKI(t, "Clients")
	client := pki.leaf(t, certSpec{cn: "c", dns: []string{"c.example"}})
	path := writePEM(t, t.TempDir(), "client.pem", client.cert, pki.inter.cert)
	chain, err := LoadCertificates(path)
	if err != nil || len(chain) != 2 {
		t.Fatalf("%d %v", len(chain), err)
	}
	issuer, _ := SendmailDN(pki.inter.cert.RawSubject)
	r := Relay(chain, mustPolicy(t, "CertIssuer:"+issuer+" RELAY\n"), RelayOptions{Roots: pki.pool, Now: testNow})
	var buf bytes.Buffer
	if err := WriteRelayJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || doc["verdict"] != "RELAY" || doc["matched"] == nil {
		t.Errorf("json %s %v", buf.String(), err)
	}
	buf.Reset()
	_ = WriteRelayTable(&buf, r)
	if !strings.HasPrefix(buf.String(), "VERDICT   RELAY\n") || !strings.Contains(buf.String(), "MATCHED   CertIssuer:"+issuer) {
		t.Errorf("table:\n%s", buf.String())
	}

	bad := t.TempDir() + "/bad.pem"
	writeFile(t, bad, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	if _, err := LoadCertificates(bad); err == nil || !strings.Contains(err.Error(), "bad.pem: certificate 1") {
		t.Errorf("garbage certificate: %v", err)
	}
	empty := t.TempDir() + "/empty.pem"
	writeFile(t, empty, "nothing here\n")
	if _, err := LoadCertificates(empty); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("empty: %v", err)
	}
	if _, err := LoadCertificates(t.TempDir() + "/missing.pem"); err == nil {
		t.Error("missing file accepted")
	}
	if _, err := LoadCAFile(empty); err == nil {
		t.Error("CA file without certificates accepted")
	}
	var pe *SyntaxError
	if _, err := LoadPolicy(t.TempDir() + "/none"); err == nil || errors.As(err, &pe) {
		t.Errorf("missing policy: %v", err)
	}
}
