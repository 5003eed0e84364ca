package tlscheck

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestServerKeysWalk(t *testing.T) {
	got := ServerKeys("TLS_Srv:", "host.sub.example.com.", netip.MustParseAddr("10.1.2.3"))
	want := []string{
		"TLS_Srv:host.sub.example.com", "TLS_Srv:sub.example.com", "TLS_Srv:example.com", "TLS_Srv:com",
		"TLS_Srv:10.1.2.3", "TLS_Srv:10.1.2", "TLS_Srv:10.1", "TLS_Srv:10",
		"TLS_Srv:",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestServerKeysForAddressLiteral(t *testing.T) {
	got := ServerKeys("TLS_Srv:", "192.0.2.1", netip.MustParseAddr("192.0.2.1"))
	want := []string{"TLS_Srv:192.0.2.1", "TLS_Srv:192.0.2", "TLS_Srv:192.0", "TLS_Srv:192", "TLS_Srv:"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestAddrKeysIPv6(t *testing.T) {
	got := AddrKeys("TLS_Srv:", netip.MustParseAddr("2001:db8::25"))
	want := []string{
		"TLS_Srv:IPv6:2001:db8:0:0:0:0:0:25", "TLS_Srv:IPv6:2001:db8:0:0:0:0:0", "TLS_Srv:IPv6:2001:db8:0:0:0:0",
		"TLS_Srv:IPv6:2001:db8:0:0:0", "TLS_Srv:IPv6:2001:db8:0:0", "TLS_Srv:IPv6:2001:db8:0", "TLS_Srv:IPv6:2001:db8",
		"TLS_Srv:IPv6:2001",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if s := SendmailAddr(netip.MustParseAddr("::ffff:192.0.2.1")); s != "192.0.2.1" {
		t.Errorf("mapped v4: %q", s)
	}
}

func TestRcptKeysWalk(t *testing.T) {
	tests := []struct {
		rcpt string
		want []string
	}{
		{"darth@endmail.org", []string{"TLS_Rcpt:darth@endmail.org", "TLS_Rcpt:darth@", "TLS_Rcpt:endmail.org", "TLS_Rcpt:org", "TLS_Rcpt:"}},
		{"<darth+sith@mail.endmail.org.>", []string{
			"TLS_Rcpt:darth+sith@mail.endmail.org", "TLS_Rcpt:darth+*@mail.endmail.org", "TLS_Rcpt:darth@mail.endmail.org",
			"TLS_Rcpt:darth+sith@", "TLS_Rcpt:darth+*@", "TLS_Rcpt:darth@",
			"TLS_Rcpt:mail.endmail.org", "TLS_Rcpt:endmail.org", "TLS_Rcpt:org", "TLS_Rcpt:"}},
		{"localonly", []string{"TLS_Rcpt:localonly@", "TLS_Rcpt:"}},
	}
	for _, tc := range tests {
		if got := RcptKeys(tc.rcpt); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RcptKeys(%q)\n got  %q\n want %q", tc.rcpt, got, tc.want)
		}
	}
}

func TestLookupMostSpecificWinsAndCaseFolds(t *testing.T) {
	p := mustPolicy(t, `# comment
TLS_Srv:example.com      VERIFY
tls_srv:MX.Example.COM   ENCR:128
TLS_Srv:                 VERIFY:256
TLS_Srv:192.0.2          PERM+VERIFY
`)
	key, e, ok := p.Lookup(ServerKeys("TLS_Srv:", "mx.example.com", netip.MustParseAddr("192.0.2.10")))
	if !ok || key != "TLS_Srv:mx.example.com" || e.Value != "ENCR:128" || e.Line != 3 {
		t.Errorf("mx.example.com: %q %+v", key, e)
	}
	key, e, _ = p.Lookup(ServerKeys("TLS_Srv:", "other.example.com", netip.MustParseAddr("192.0.2.10")))
	if key != "TLS_Srv:example.com" || e.Value != "VERIFY" {
		t.Errorf("parent walk: %q %+v", key, e)
	}
	key, e, _ = p.Lookup(ServerKeys("TLS_Srv:", "mx.example.net", netip.MustParseAddr("192.0.2.10")))
	if key != "TLS_Srv:192.0.2" || e.Value != "PERM+VERIFY" {
		t.Errorf("address walk: %q %+v", key, e)
	}
	key, e, _ = p.Lookup(ServerKeys("TLS_Srv:", "mx.example.net", netip.MustParseAddr("198.51.100.1")))
	if key != "TLS_Srv:" || e.Value != "VERIFY:256" {
		t.Errorf("bare tag: %q %+v", key, e)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	_, err := ParsePolicy("/etc/mail/access", strings.NewReader("TLS_Srv:a.example VERIFY\nTLS_Srv:b.example\n  indented VERIFY\n"))
	if !errors.Is(err, ErrPolicy) {
		t.Fatalf("err = %v", err)
	}
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 2 {
		t.Fatalf("want SyntaxError at line 2, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{`/etc/mail/access:2: key "TLS_Srv:b.example" has no right-hand side`, "/etc/mail/access:3: line starts with a blank"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		text string
		want Format
	}{
		{"TLS_Srv:example.com VERIFY\n", FormatSendmail},
		{"example.com secure match=.example.com\n.example.net encrypt\n", FormatPostfix},
		{"example.com RELAY\nConnect:10 REJECT\n", FormatSendmail},
		{"[mx.example.com]:587 verify\n", FormatPostfix},
	}
	for _, tc := range tests {
		p := mustPolicy(t, tc.text)
		if p.Format != tc.want {
			t.Errorf("%q: format %v, want %v", tc.text, p.Format, tc.want)
		}
	}
}

func TestParseRule(t *testing.T) {
	tests := []struct {
		in   string
		want Rule
	}{
		{"VERIFY", Rule{Req: "VERIFY"}},
		{"VERIFY:128", Rule{Req: "VERIFY", Bits: 128, HasBits: true}},
		{"PERM+VERIFY:112", Rule{Mode: "PERM", Req: "VERIFY", Bits: 112, HasBits: true}},
		{"TEMP+ENCR:56", Rule{Mode: "TEMP", Req: "ENCR", Bits: 56, HasBits: true}},
		{"ENCR:112+CN:smtp.endmail.org", Rule{Req: "ENCR", Bits: 112, HasBits: true, Exts: []Ext{{Kind: "CN", Arg: "smtp.endmail.org", Raw: "CN:smtp.endmail.org"}}}},
		{"VERIFY+CN++CITag:MyCA", Rule{Req: "VERIFY", Exts: []Ext{{Kind: "CN", Raw: "CN"}, {Kind: "CITag", Arg: "MyCA", Raw: "CITag:MyCA"}}}},
		{"VERIFY:128+CA++CI:/C=US", Rule{Req: "VERIFY", Bits: 128, HasBits: true, Exts: []Ext{{Kind: "CA", Raw: "CA"}, {Kind: "CI", Arg: "/C=US", Raw: "CI:/C=US"}}}},
		{"VERIFY+XX:y", Rule{Req: "VERIFY", Exts: []Ext{{Raw: "XX:y"}}}},
		{"ENCR", Rule{}},
		{"ENCR:", Rule{}},
		{"ENCR:abc", Rule{}},
		{"OK", Rule{}},
		{"PERM+OK", Rule{}},
		{"VERIFIED", Rule{}},
	}
	for _, tc := range tests {
		got := ParseRule(tc.in)
		tc.want.Raw = tc.in
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseRule(%q)\n got  %+v\n want %+v", tc.in, got, tc.want)
		}
	}
}

// A line longer than the reader's limit was "bufio.Scanner: token too
// long", a runtime failure (exit 3) without a line. It is now a syntax
// error at its line (ErrPolicy, exit 2), and the lines after it are read.
// In sendmail format makemap's own limit applies: a line of 1023 bytes or
// more before its newline is "line too long (1024 bytes max)" for makemap.
func TestPolicyLongLines(t *testing.T) {
	fill := func(prefix string, n int) string { return prefix + strings.Repeat("a", n-len(prefix)) }
	tests := []struct {
		name, in string
		want     []string // errors, in order; none: parsed
	}{
		{"sendmail line of 1022 bytes", "TLS_Srv:x VERIFY\n" + fill("TLS_Srv:y VERIFY:", 1022) + "\n", nil},
		{"sendmail line of 1023 bytes", "TLS_Srv:x VERIFY\n" + fill("TLS_Srv:y VERIFY:", 1023) + "\nTLS_Srv:z\n", []string{
			`p:2: line of 1023 bytes: makemap reads at most 1022 ("line too long (1024 bytes max)"), leaves it out and reads the rest as further lines`,
			`p:3: key "TLS_Srv:z" has no right-hand side`}},
		{"CRLF counts", "TLS_Srv:x VERIFY\r\n" + fill("TLS_Srv:y VERIFY:", 1022) + "\r\n", []string{
			`p:2: line of 1023 bytes`}},
		{"sendmail comment of 2000 bytes", "TLS_Srv:x VERIFY\n" + fill("# ", 2000) + "\n", []string{`p:2: line of 2000 bytes`}},
		{"last line without newline", "TLS_Srv:x VERIFY\n" + fill("TLS_Srv:y VERIFY:", 1100), []string{`p:2: line of 1100 bytes`}},
		{"postfix line of 5000 bytes", "example.com secure match=" + strings.Repeat("x", 4975) + "\n", nil},
		{"over MaxLineBytes", "TLS_Srv:x VERIFY\n" + fill("TLS_Srv:y ", MaxLineBytes+1) + "\nTLS_Srv:z\n", []string{
			fmt.Sprintf("p:2: line longer than %d bytes", MaxLineBytes),
			`p:3: key "TLS_Srv:z" has no right-hand side`}},
		{"postfix over MaxLineBytes", "example.com secure\n" + fill("b.example ", 3*MaxLineBytes) + "\nc.example may\n", []string{
			fmt.Sprintf("p:2: line longer than %d bytes", MaxLineBytes)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy("p", strings.NewReader(tc.in))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("err = %v, want ErrPolicy", err)
			}
			got := strings.Split(strings.TrimPrefix(err.Error(), "invalid policy: "), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("errors:\n%s\nwant %d", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("error %d: %s\nwant %s...", i, got[i], w)
				}
			}
		})
	}
}

// LoadPolicy: a file that cannot be read (here, a directory) is ErrConfig
// (exit 2), not a runtime failure.
func TestLoadPolicyUnreadable(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadPolicy(dir); !errors.Is(err, ErrConfig) {
		t.Errorf("directory: err = %v, want ErrConfig", err)
	}
	p := filepath.Join(dir, "access")
	if err := os.WriteFile(p, []byte("TLS_Srv:x VERIFY\n"+strings.Repeat("#", MaxLineBytes+10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPolicy(p); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), p+":2: line longer than") {
		t.Errorf("long line: err = %v", err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"TLS_Srv:example.com VERIFY:128+CN++CI:/C=US/O=x\n",
		"TLS_Rcpt:a+b@c.d ENCR:112\n# c\n\nTry_TLS:x NO\n",
		"CertIssuer:/C=US/O=x ALTNAMES:k\nSubjAltName:k:a.b RELAY\n",
		"example.com secure match=.example.com:nexthop protocols=>=TLSv1.2\n",
		"x { policy_string = a b }\n",
		" indented\n", "k\n", "[a]:25 fingerprint match=AA:BB|CC\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy("fuzz", strings.NewReader(s))
		if err != nil {
			if !errors.Is(err, ErrPolicy) && !strings.Contains(err.Error(), "read policy") {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		for _, fd := range Lint(p) {
			if fd.Line < 1 {
				t.Fatalf("finding without a line: %+v", fd)
			}
		}
		for _, e := range p.Entries {
			_ = ParseRule(e.Value)
		}
		ff := facts("mx.example.com", nil, nil, 128)
		ff.Verify = VerifyNone
		r := Evaluate(ff, p, EvalOptions{Rcpt: "a@example.com", Now: testNow})
		if r.Verdict != Pass && r.Verdict != Fail {
			t.Fatalf("verdict %q", r.Verdict)
		}
	})
}
