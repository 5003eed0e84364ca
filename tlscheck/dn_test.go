package tlscheck

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
)

func TestXtext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain.example.com", "plain.example.com"},
		{"Darth Mail (Cert)", "Darth+20Mail+20+28Cert+29"},
		{"darth+cert@endmail.org", "darth+2Bcert@endmail.org"},
		{`a<b>c"d\e`, "a+3Cb+3Ec+22d+5Ce"},
		{"tab\there", "tab+09here"},
		{"\x7f\xff", "+7F+FF"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := Xtext(tc.in); got != tc.want {
			t.Errorf("Xtext(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if back := Unxtext(Xtext(tc.in)); back != tc.in {
			t.Errorf("Unxtext(Xtext(%q)) = %q", tc.in, back)
		}
	}
}

// Golden tests of ${cert_subject}: OpenSSL X509_NAME_oneline + sendmail xtext.
func TestSendmailDN(t *testing.T) {
	longOU := strings.Repeat("x", 100)
	multi, _ := asn1.Marshal(pkix.RDNSequence{
		{{Type: oidO, Value: "Multi"}},
		{{Type: oidOU, Value: "a"}, {Type: oidCN, Value: "b"}},
	})
	tests := []struct {
		name string
		der  []byte
		want string
	}{
		{
			name: "cf/README example",
			der: rawName(t, atv{oidC, "US"}, atv{oidST, "California"}, atv{oidO, "endmail.org"}, atv{oidOU, "private"},
				atv{oidCN, "Darth Mail (Cert)"}, atv{oidEmail, "darth+cert@endmail.org"}),
			want: "/C=US/ST=California/O=endmail.org/OU=private/CN=Darth+20Mail+20+28Cert+29/emailAddress=darth+2Bcert@endmail.org",
		},
		{
			name: "utf-8 bytes become \\xHH, then xtext encodes the backslash",
			der:  rawName(t, atv{oidO, "Müller"}),
			want: "/O=M+5CxC3+5CxBCller",
		},
		{
			name: "slash in a value is not escaped",
			der:  rawName(t, atv{oidO, "A/B"}, atv{oidCN, "x"}),
			want: "/O=A/B/CN=x",
		},
		{
			name: "unknown OID prints dotted",
			der:  rawName(t, atv{asn1.ObjectIdentifier{1, 2, 3, 4}, "v"}),
			want: "/1.2.3.4=v",
		},
		{
			// DER sorts a SET OF by encoding (CN 2.5.4.3 before OU 2.5.4.11);
			// OpenSSL prints in that stored order.
			name: "multi-valued RDN prints as separate items",
			der:  multi,
			want: "/O=Multi/CN=b/OU=a",
		},
		{
			name: "cut at an RDN boundary at 255 bytes: trailing emailAddress disappears",
			der:  rawName(t, atv{oidOU, longOU}, atv{oidOU, longOU}, atv{oidCN, "mail.example.com"}, atv{oidEmail, "postmaster@example.com"}),
			want: "/OU=" + longOU + "/OU=" + longOU + "/CN=mail.example.com",
		},
		{
			name: "first RDN alone too long: empty",
			der:  rawName(t, atv{oidOU, strings.Repeat("y", 300)}),
			want: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SendmailDN(tc.der)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestOnelineBoundary(t *testing.T) {
	// "/CN=" + 251 bytes = 255 bytes: fits exactly; one more byte does not.
	fit := rawName(t, atv{oidCN, strings.Repeat("a", 251)})
	if s, _ := Oneline(fit, maxName); len(s) != 255 {
		t.Errorf("255-byte name cut to %d bytes", len(s))
	}
	over := rawName(t, atv{oidCN, strings.Repeat("a", 252)})
	if s, _ := Oneline(over, maxName); s != "" {
		t.Errorf("256-byte name should not fit, got %d bytes", len(s))
	}
}

func TestSendmailCN(t *testing.T) {
	tests := []struct {
		name string
		der  []byte
		want string
	}{
		{"first CN only", rawName(t, atv{oidCN, "first.example.com"}, atv{oidCN, "second.example.com"}), "first.example.com"},
		{"no CN", rawName(t, atv{oidO, "NoCN"}), cnUnknown},
		{"CN with NUL", rawName(t, atv{oidCN, "evil.com\x00.good.com"}), cnContainsNUL},
		{"CN too long", rawName(t, atv{oidCN, strings.Repeat("c", 256)}), cnTooLong},
		// X509_NAME_get_text_by_NID into sendmail's 256-byte buffer returns
		// at most 255 bytes, and CHECK_X509_NAME calls 255 too long.
		{"CN of 254 bytes", rawName(t, atv{oidCN, strings.Repeat("c", 254)}), strings.Repeat("c", 254)},
		{"CN of 255 bytes", rawName(t, atv{oidCN, strings.Repeat("c", 255)}), cnTooLong},
		{"CN xtextified", rawName(t, atv{oidCN, "Darth Mail"}), "Darth+20Mail"},
		// An empty CN is found (r = 0, not -1), is not too long and has no
		// NUL: sendmail's ${cn_subject} is the empty string.
		{"empty CN", rawName(t, atv{oidC, "US"}, atv{oidCN, ""}, atv{oidCN, "second"}), ""},
	}
	for _, tc := range tests {
		got, err := SendmailCN(tc.der)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// An empty attribute value prints as nothing after "SN=" (X509_NAME_oneline
// writes the short name, '=' and the value's zero bytes).
func TestSendmailDNEmptyValue(t *testing.T) {
	got, err := SendmailDN(rawName(t, atv{oidC, "US"}, atv{oidO, ""}, atv{oidCN, ""}))
	if err != nil || got != "/C=US/O=/CN=" {
		t.Errorf("SendmailDN = %q, %v; want /C=US/O=/CN=", got, err)
	}
}

// A Name whose attribute value is not a string (FuzzSendmailDN found an
// empty SEQUENCE as the CN) is not a DN crypto/x509 would let through; it
// was rendered as an empty CN. Both functions now reject it.
func TestSendmailDNNonStringValue(t *testing.T) {
	cnWith := func(value []byte) []byte {
		atv := append([]byte{0x06, 0x03, 0x55, 0x04, 0x03}, value...)
		set := append([]byte{0x31, byte(2 + len(atv)), 0x30, byte(len(atv))}, atv...)
		return append([]byte{0x30, byte(len(set))}, set...)
	}
	for name, v := range map[string][]byte{
		"empty SEQUENCE":         {0x30, 0x00},
		"SEQUENCE of a string":   {0x30, 0x03, 0x13, 0x01, 'x'},
		"INTEGER":                {0x02, 0x01, 0x05},
		"OCTET STRING":           {0x04, 0x01, 'x'},
		"context-specific":       {0x80, 0x01, 'x'},
		"constructed UTF8String": {0x2c, 0x03, 0x04, 0x01, 'x'},
	} {
		der := cnWith(v)
		if _, err := SendmailDN(der); err == nil {
			t.Errorf("%s: SendmailDN accepted % x", name, der)
		}
		if _, err := SendmailCN(der); err == nil {
			t.Errorf("%s: SendmailCN accepted % x", name, der)
		}
	}
	if got, err := SendmailCN(cnWith([]byte{0x0c, 0x01, 'x'})); err != nil || got != "x" {
		t.Errorf("UTF8String CN: %q, %v", got, err)
	}
}

func TestSendmailDNGarbage(t *testing.T) {
	if _, err := SendmailDN([]byte{0x30, 0x05, 0x01}); err == nil {
		t.Error("truncated DER accepted")
	}
	if _, err := SendmailDN(append(rawName(t, atv{oidCN, "x"}), 0)); err == nil {
		t.Error("trailing data accepted")
	}
}

func TestAltNamesAndIssuerAltNames(t *testing.T) {
	// IssuerAltName: SEQUENCE { [2] "ca.example.net", [1] "ca@example.net", [7] 192.0.2.1 }
	ian, _ := asn1.Marshal([]asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("ca.example.net")},
		{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte("ca@example.net")},
		{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: []byte{192, 0, 2, 1}},
	})
	c := issue(t, certSpec{cn: "x", dns: []string{"mail.example.com", "*.example.org"}, emails: []string{"Post.Master@Example.COM"},
		ips: []string{"192.0.2.25", "2001:db8::25"}, uris: []string{"https://example.com/a b"},
		extra: []pkix.Extension{{Id: oidIssuerAltName, Value: ian}}}, nil)
	got := strings.Join(AltNames(c.cert), " ")
	want := "DNS:mail.example.com DNS:*.example.org email:Post.Master@Example.COM IP:192.0.2.25 IP:2001:db8::25 URI:https://example.com/a%20b"
	if got != want {
		t.Errorf("AltNames:\n got  %s\n want %s", got, want)
	}
	gotI := strings.Join(IssuerAltNames(c.cert), " ")
	if wantI := "DNS:ca.example.net email:ca@example.net IP:192.0.2.1"; gotI != wantI {
		t.Errorf("IssuerAltNames: got %q, want %q", gotI, wantI)
	}
	vals := strings.Join(SANLookupValues(c.cert), " ")
	if wantV := "mail.example.com *.example.org Post.Master@example.com 192.0.2.25 2001:db8::25 https://example.com/a%20b"; vals != wantV {
		t.Errorf("SANLookupValues: got %q, want %q", vals, wantV)
	}
}

func TestLooksLikeOneline(t *testing.T) {
	tests := []struct {
		dn   string
		want string // substring of the problem; "" = fine
	}{
		{"/C=US/O=MyCA/CN=Sub+20CA", ""},
		{"/C=US/ST=CA/O=safe/CN=example.net/", "ends in '/'"},
		{"CN=Sub CA,O=MyCA,C=US", "RFC 2253"},
		{"/C=US/O=My CA", "xtext"},
		{"/C=US/O=A+B", "not a +HH"},
		{"/O=(x)", "xtext"},
		{"", "empty"},
	}
	for _, tc := range tests {
		got := LooksLikeOneline(tc.dn)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("LooksLikeOneline(%q) = %q, want containing %q", tc.dn, got, tc.want)
		}
	}
}

func FuzzSendmailDN(f *testing.F) {
	f.Add(rawName(f, atv{oidC, "US"}, atv{oidCN, "Darth Mail (Cert)"}))
	f.Add(rawName(f, atv{oidO, "Müller"}))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x03, 0x31, 0x01, 0x00})
	f.Add(rawName(f, atv{oidC, "US"}, atv{oidCN, ""}))
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := SendmailDN(der)
		if err != nil {
			return
		}
		if len(s) > 3*(maxName-1) {
			t.Fatalf("xtext of a %d-byte buffer is %d bytes", maxName, len(s))
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < '!' || c > '~' || strings.IndexByte(`\()<>"`, c) >= 0 {
				t.Fatalf("unencoded byte %q in %q", c, s)
			}
		}
		cn, err := SendmailCN(der)
		if err != nil {
			t.Fatalf("SendmailCN: %v, though SendmailDN read the name", err)
		}
		// sendmail's ${cn_subject} is empty exactly when the first CN is an
		// empty string (tls.c: X509_NAME_get_text_by_NID returns 0, which
		// is no error); otherwise it is the CN or a BadCertificate* word.
		if cn == "" {
			entries, _ := parseRawName(der)
			for _, e := range entries {
				if e.Short == "CN" {
					if len(e.Value) != 0 {
						t.Fatalf("SendmailCN = \"\" for the CN %q", e.Value)
					}
					break
				}
			}
		}
	})
}
