package tlscheck

import (
	"bytes"
	"crypto/tls"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostile retitles the terminal (OSC 0 ... BEL) and clears it (CSI 2J).
const hostile = "\x1b]0;pwned\x07\x1b[2J"

// A peer's reply and certificate reach the table only escaped: a server
// that answers EHLO with terminal escapes and a newline, and one whose
// certificate names itself with them, give a table of one line per
// connection and no raw control byte.
func TestTableEscapesPeerStrings(t *testing.T) {
	rude := startFake(t, func(f *fakeConn) error {
		if err := f.send("220 mx ESMTP " + hostile); err != nil {
			return err
		}
		if _, err := f.expect("EHLO"); err != nil {
			return err
		}
		if err := f.send("554 5.7.1 " + hostile + " go away\u009b2J\xff"); err != nil {
			return err
		}
		if _, err := f.expect("HELO"); err != nil {
			return nil // the client may give up after EHLO
		}
		return f.send("554 5.7.1 " + hostile + " still not")
	})
	pki := newPKI(t, "Escape")
	leaf := pki.leaf(t, certSpec{cn: "mx" + hostile, dns: []string{"evil.example\x1b[2J", "forged\nVERDICT PASS"},
		notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	srv := &smtpServer{offerTLS: true, tls: &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}}
	tlsPeer := startFake(t, srv.handle)

	results, err := Check(t.Context(), Options{
		Targets: []string{"rude.example:" + itoa(int(rude.Port())), "mx.example.net:" + itoa(int(tlsPeer.Port()))},
		Probe: ProbeOptions{Roots: pki.pool, Timeout: 5 * time.Second, Helo: "checker.test",
			Pins: map[string]netip.Addr{"rude.example": rude.Addr(), "mx.example.net": tlsPeer.Addr()}},
		Policy: mustPolicy(t, "TLS_Srv:mx.example.net VERIFY+CA\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var raw strings.Builder
	for _, r := range results {
		raw.WriteString(r.Error + r.Reply + strings.Join(r.Reasons, " ") + strings.Join(r.AltnameSubj, " "))
	}
	if !strings.ContainsAny(raw.String(), "\x1b\n") {
		t.Fatalf("the results carry no control character; the test proves nothing: %q", raw.String())
	}

	var b bytes.Buffer
	if err := WriteTable(&b, results, testNow); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// One line per result (after the header); reason lines are indented.
	rowLines := 0
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(l, "  ") {
			rowLines++
		}
		if utf8.RuneCountInString(l) > TableWidth {
			t.Errorf("line wider than %d columns: %q", TableWidth, l)
		}
	}
	if rowLines != 1+len(results) {
		t.Errorf("%d row lines for %d results:\n%s", rowLines, len(results), out)
	}
	if !utf8.ValidString(out) {
		t.Errorf("invalid UTF-8 in the table: %q", out)
	}
	for _, r := range out {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			t.Fatalf("raw %U in the table:\n%q", r, out)
		}
	}
	if !strings.Contains(out, `\x1b]0;pwned\x07\x1b[2J`) {
		t.Errorf("the escaped reply is not shown:\n%s", out)
	}

	// JSON keeps the exact bytes.
	b.Reset()
	if err := WriteJSON(&b, results); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(b.Bytes(), "\x1b\x07") || !strings.Contains(b.String(), `\u001b]0;pwned\u0007\u001b[2J`) {
		t.Errorf("JSON: %s", b.String())
	}
}

// A warning that decided a verdict is in the table's reason, not only in
// the JSON warnings: a wildcard on a public suffix refused by CA.
func TestTableReasonNamesDecidingWarning(t *testing.T) {
	pki := newPKI(t, "PSL")
	leaf := pki.leaf(t, certSpec{cn: "*.co.uk", dns: []string{"*.co.uk"}})
	f := facts("example.co.uk", pki.chain(leaf), pki.pool, 256)
	r := Evaluate(f, nil, EvalOptions{Now: testNow})
	if r.Verdict != Fail {
		t.Fatalf("verdict %s", r.Verdict)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, []Result{r}, testNow); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `wildcard covers the public suffix "co.uk"`) {
		t.Errorf("the table does not say why:\n%s", b.String())
	}
}

func TestWriteDetail(t *testing.T) {
	pki := newPKI(t, "Detail")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, rsaBits: 2048})
	f := facts("mx.example.com", pki.chain(leaf), pki.pool, 256)
	f.KeyExchange = "x25519"
	r := Evaluate(f, nil, EvalOptions{Now: testNow})
	var b bytes.Buffer
	if err := WriteDetail(&b, []Result{r}, testNow); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"PASS mx.example.com [192.0.2.10:25]",
		"TLSv1.3 TLS_AES_256_GCM_SHA384, 256 bits, key exchange x25519",
		"key:            RSA 2048 bits, certificate signed with ECDSA-SHA256, OCSP staple: no",
		"cert sha256:    " + sha256Hex(leaf.cert.Raw),
		"spki sha256:    " + sha256Hex(leaf.cert.RawSubjectPublicKeyInfo),
		"chain[0]:       /CN=mx.example.com",
		"chain[1]:       /C=DE/O=Detail/CN=Detail+20Sub+20CA",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// A long reason wraps under its row; no line is wider than TableWidth and
// nothing of the reason is lost.
func TestTableWrapsLongReasons(t *testing.T) {
	long := strings.Repeat("because-of-a-long-word and more words ", 12)
	r := Result{Target: "a-very-long-target-name.subdomain.example.com:2525", Addr: "[2001:db8:1234:5678:9abc:def0:1234:5678]:2525",
		Verify: "FAIL", TLSVersion: "TLSv1.2", CipherBits: 128, Verdict: Fail, Reply: "454 4.7.0 authentication failed",
		PolicyKey: "TLS_Srv:subdomain.example.com", PolicyRule: "VERIFY:128+CA:a-very-long-reference-name.example.com", Reasons: []string{strings.TrimSpace(long)}}
	var b bytes.Buffer
	if err := WriteTable(&b, []Result{r}, testNow); err != nil {
		t.Fatal(err)
	}
	var reason []string
	for i, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if utf8.RuneCountInString(l) > TableWidth {
			t.Errorf("line %d is %d columns wide: %q", i, utf8.RuneCountInString(l), l)
		}
		if i >= 2 {
			if !strings.HasPrefix(l, "  └ ") && !strings.HasPrefix(l, "    ") {
				t.Errorf("reason line %d not indented: %q", i, l)
			}
			reason = append(reason, strings.TrimSpace(strings.TrimPrefix(l, "  └ ")))
		}
	}
	if got := strings.Join(reason, " "); got != strings.TrimSpace(long)+" → 454 4.7.0 authentication failed" {
		t.Errorf("reason lost or changed:\n%s", b.String())
	}
}
