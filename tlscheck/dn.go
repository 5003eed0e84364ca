package tlscheck

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"strings"
)

// maxName is sendmail's MAXNAME: the buffer X509_NAME_oneline and
// X509_NAME_get_text_by_NID write into (conf.h).
const maxName = 256

// Literal values sendmail puts into ${cn_subject}/${cn_issuer} when the CN is
// unusable (tls.c).
const (
	cnUnknown     = "BadCertificateUnknown"
	cnTooLong     = "BadCertificateTooLong"
	cnContainsNUL = "BadCertificateContainsNUL"
)

// shortNames maps attribute OIDs to OpenSSL's short names, as printed by
// X509_NAME_oneline. Unknown OIDs print as dotted text.
var shortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.13":                   "description",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.17":                   "postalCode",
	"2.5.4.41":                   "name",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.45":                   "x500UniqueIdentifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"1.2.840.113549.1.9.2":       "unstructuredName",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL",
	"1.3.6.1.4.1.311.60.2.1.2":   "jurisdictionST",
	"1.3.6.1.4.1.311.60.2.1.3":   "jurisdictionC",
}

type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rdnSET is one RelativeDistinguishedName (encoding/asn1 treats slice types
// whose name ends in SET as SET OF).
type rdnSET []rawATV

// nameEntry is one attribute of a DN in certificate (DER) order, with the raw
// bytes of its string value, which is what OpenSSL prints.
type nameEntry struct {
	Short string
	Value []byte
}

func parseRawName(der []byte) ([]nameEntry, error) {
	var seq []rdnSET
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return nil, fmt.Errorf("parse distinguished name: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("parse distinguished name: trailing data")
	}
	var out []nameEntry
	for _, rdn := range seq {
		for _, atv := range rdn {
			if !stringValue(atv.Value) {
				return nil, fmt.Errorf("parse distinguished name: attribute %s: value of ASN.1 class %d, tag %d is not a string", atv.Type, atv.Value.Class, atv.Value.Tag)
			}
			oid := atv.Type.String()
			sn, ok := shortNames[oid]
			if !ok {
				sn = oid
			}
			out = append(out, nameEntry{Short: sn, Value: atv.Value.Bytes})
		}
	}
	return out, nil
}

// stringValue reports whether an attribute value is one of the string types
// crypto/x509 accepts in a Name (UTF8String, NumericString, PrintableString,
// T61String, IA5String, BMPString), primitive. crypto/x509 rejects a
// certificate whose names hold anything else, so such a value never comes
// from a peer; OpenSSL would print some of them (a SEQUENCE as its whole
// encoding), which content bytes alone cannot reproduce.
func stringValue(v asn1.RawValue) bool {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return false
	}
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagNumericString, asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String, asn1.TagBMPString:
		return true
	}
	return false
}

// Oneline renders a DER-encoded X.509 Name the way OpenSSL's
// X509_NAME_oneline does into a buffer of size bytes: "/SN=value" per
// attribute in certificate order, bytes outside 0x20..0x7E as \xHH, "/" not
// escaped, and attributes that no longer fit dropped whole.
func Oneline(der []byte, size int) (string, error) {
	entries, err := parseRawName(der)
	if err != nil {
		return "", err
	}
	return onelineEntries(entries, size), nil
}

func onelineEntries(entries []nameEntry, size int) string {
	limit := size - 1 // room for the NUL
	var b strings.Builder
	for _, e := range entries {
		var item strings.Builder
		item.WriteByte('/')
		item.WriteString(e.Short)
		item.WriteByte('=')
		for _, c := range e.Value {
			if c < ' ' || c > '~' {
				fmt.Fprintf(&item, "\\x%02X", c)
			} else {
				item.WriteByte(c)
			}
		}
		if size > 0 && b.Len()+item.Len() > limit {
			break
		}
		b.WriteString(item.String())
	}
	return b.String()
}

// Xtext applies sendmail's xtextify: every byte below '!' or above '~' and each
// of + \ ( ) < > " becomes +HH (upper-case hex).
func Xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || strings.IndexByte(`+\()<>"`, c) >= 0 {
			fmt.Fprintf(&b, "+%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Unxtext decodes +HH sequences; it is lenient (a malformed escape stays as is).
func Unxtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// SendmailDN is ${cert_subject}/${cert_issuer}: Oneline into a 256-byte
// buffer, then Xtext.
func SendmailDN(der []byte) (string, error) {
	s, err := Oneline(der, maxName)
	if err != nil {
		return "", err
	}
	return Xtext(s), nil
}

// SendmailCN is ${cn_subject}/${cn_issuer}: the first CN only, raw bytes,
// xtextified; sendmail's placeholders when there is none, it is too long or it
// contains a NUL. sendmail (tls.c, CHECK_X509_NAME) copies the CN with
// X509_NAME_get_text_by_NID into a MAXNAME buffer, which returns at most
// MAXNAME-1 bytes, and calls a CN of MAXNAME-1 bytes or more too long. An
// empty CN is not an error there: ${cn_subject} is then empty, and so is
// the result here.
func SendmailCN(der []byte) (string, error) {
	entries, err := parseRawName(der)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Short != "CN" {
			continue
		}
		if len(e.Value) >= maxName-1 {
			return cnTooLong, nil
		}
		for _, c := range e.Value {
			if c == 0 {
				return cnContainsNUL, nil
			}
		}
		return Xtext(string(e.Value)), nil
	}
	return cnUnknown, nil
}

// AltNames lists a certificate's subjectAltName values, type-prefixed (DNS:,
// email:, IP:, URI:) and xtextified, in the order Go parsed them (by type).
func AltNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, d := range c.DNSNames {
		out = append(out, "DNS:"+Xtext(d))
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+Xtext(e))
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+Xtext(ip.String()))
	}
	for _, u := range c.URIs {
		out = append(out, "URI:"+Xtext(u.String()))
	}
	return out
}

// oidIssuerAltName is the IssuerAltName extension (RFC 5280 4.2.1.7).
var oidIssuerAltName = asn1.ObjectIdentifier{2, 5, 29, 18}

// IssuerAltNames parses the IssuerAltName extension, which crypto/x509 does
// not expose, into the same type-prefixed, xtextified form as AltNames.
func IssuerAltNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidIssuerAltName) {
			continue
		}
		var seq asn1.RawValue
		if _, err := asn1.Unmarshal(ext.Value, &seq); err != nil || !seq.IsCompound {
			return nil
		}
		var out []string
		rest := seq.Bytes
		for len(rest) > 0 {
			var v asn1.RawValue
			var err error
			rest, err = asn1.Unmarshal(rest, &v)
			if err != nil {
				return out
			}
			if v.Class != asn1.ClassContextSpecific {
				continue
			}
			switch v.Tag {
			case 1:
				out = append(out, "email:"+Xtext(string(v.Bytes)))
			case 2:
				out = append(out, "DNS:"+Xtext(string(v.Bytes)))
			case 6:
				out = append(out, "URI:"+Xtext(string(v.Bytes)))
			case 7:
				if len(v.Bytes) == 4 || len(v.Bytes) == 16 {
					out = append(out, "IP:"+net.IP(v.Bytes).String())
				}
			}
		}
		return out
	}
	return nil
}

// LooksLikeOneline reports whether a DN as written in a policy key has the
// shape sendmail compares against: "/SN=value" items, xtext-encoded (no
// spaces, no raw specials), no trailing "/". It returns a description of the
// first problem, or "".
func LooksLikeOneline(dn string) string {
	if dn == "" {
		return "empty distinguished name"
	}
	if !strings.HasPrefix(dn, "/") {
		if strings.Contains(dn, "=") && (strings.Contains(dn, ",") || strings.Contains(dn, " ")) {
			return "distinguished name is in RFC 2253 (comma-separated) form; sendmail compares OpenSSL oneline form /C=../O=../CN=.."
		}
		return "distinguished name does not start with '/' (OpenSSL oneline form /C=../O=../CN=..)"
	}
	if strings.HasSuffix(dn, "/") {
		return "distinguished name ends in '/', which X509_NAME_oneline never produces: the key can never match"
	}
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		if c < '!' || c > '~' || strings.IndexByte(`\()<>"`, c) >= 0 {
			return fmt.Sprintf("distinguished name contains %q, which sendmail xtext-encodes (write %s)", string(c), Xtext(string(c)))
		}
		if c == '+' && !(i+2 < len(dn) && isHex(dn[i+1]) && isHex(dn[i+2])) {
			return "distinguished name contains a '+' that is not a +HH xtext escape (a literal '+' is written +2B)"
		}
	}
	return ""
}
