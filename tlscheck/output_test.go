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
	if n := strings.Count(out, "\n"); n != 1+len(results) {
		t.Errorf("%d lines for %d results:\n%s", n, len(results), out)
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
