package tlscheck

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DANE outcomes (Result.DANE).
const (
	DANEPass     = "pass"     // a usable, DNSSEC-validated TLSA record matches the presented chain
	DANEFail     = "fail"     // usable validated records, none matches; or the lookup failed (bogus, SERVFAIL)
	DANENone     = "none"     // no TLSA records (or none usable)
	DANEInsecure = "insecure" // TLSA records without DNSSEC validation (no AD bit): not used
)

// TLSRPT result types of DANE (RFC 8460 §4.3).
const (
	RTTLSAInvalid   = "tlsa-invalid"
	RTDNSSECInvalid = "dnssec-invalid"
	RTDANERequired  = "dane-required"
)

// TLSA is one TLSA record (RFC 6698): usage, selector, matching type, data.
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// String is the presentation form: "3 1 1 <hex>".
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, hex.EncodeToString(t.Data))
}

// Usable reports whether SMTP may use the record (RFC 7672 §3.1.3): DANE-TA(2)
// or DANE-EE(3), selector 0 or 1, matching type 0, 1 or 2.
func (t TLSA) Usable() bool {
	return (t.Usage == 2 || t.Usage == 3) && t.Selector <= 1 && t.MatchingType <= 2
}

// DANELookup is the answer of a validating resolver to one TLSA question.
type DANELookup struct {
	Name    string // _PORT._tcp.HOST
	Records []TLSA
	Secure  bool  // the resolver set AD: the answer (or the denial) is DNSSEC-validated
	Err     error // the lookup failed: SERVFAIL (bogus), timeout, refused
}

// ErrTLSALookup is the error of a failed TLSA lookup (DNSSEC bogus,
// SERVFAIL, no answer).
var ErrTLSALookup = errors.New("TLSA lookup failed")

// LookupTLSA asks the resolver for the TLSA records of _PORT._tcp.HOST with
// the DO and AD bits, trusting the answer's AD bit the way Postfix does: the
// resolver (r.Addr, else the first nameserver of /etc/resolv.conf) must be a
// validating one on a trusted path (loopback).
func (r *Resolver) LookupTLSA(ctx context.Context, host string, port int) DANELookup {
	name := fmt.Sprintf("_%d._tcp.%s", port, strings.TrimSuffix(host, "."))
	l := DANELookup{Name: name}
	srv := ""
	if r != nil {
		srv = r.Addr
	}
	if srv == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(cc.Servers) == 0 {
			l.Err = fmt.Errorf("%w: %s: no resolver (give one for DANE): %v", ErrTLSALookup, name, err)
			return l
		}
		srv = joinHostPort(cc.Servers[0], mustAtoi(cc.Port, 53))
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTLSA)
	m.SetEdns0(4096, true) // DO
	m.AuthenticatedData = true
	in, err := r.ask(ctx, srv, m)
	if err != nil {
		l.Err = fmt.Errorf("%w: %s via %s: %w", ErrTLSALookup, name, srv, err)
		return l
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		l.Err = fmt.Errorf("%w: %s via %s: %s (DNSSEC validation failed, or the zone's servers fail)", ErrTLSALookup, name, srv, dns.RcodeToString[in.Rcode])
		return l
	}
	l.Secure = in.AuthenticatedData
	for _, rr := range in.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			data, err := hex.DecodeString(t.Certificate)
			if err != nil {
				continue
			}
			l.Records = append(l.Records, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
		}
	}
	return l
}

func mustAtoi(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// DANEResult is the DANE judgement of one connection.
type DANEResult struct {
	Status     string   // DANEPass, DANEFail, DANENone, DANEInsecure
	Records    []string // presentation form
	Reasons    []string
	LookupErr  bool // the lookup failed (bogus): Postfix defers
	Unusable   bool // validated records, none usable: TLS without authentication
	ResultType string
	// Rollover is DANE pass only: RolloverSafe when a renewed certificate
	// would still match (a DANE-TA record, or a DANE-EE record for another
	// key or certificate), RolloverAtRisk when every usable record matches
	// only what the server presents now (RFC 7671 §8.1); "" otherwise.
	Rollover    string
	RolloverWhy string
}

// DANE rollover outcomes (DANEResult.Rollover, Result.DANERollover).
const (
	RolloverSafe   = "safe"
	RolloverAtRisk = "at-risk"
)

// EvaluateDANE judges a presented chain against a TLSA lookup (RFC 7672,
// RFC 7671). DANE-EE(3): the leaf (certificate or public key) matches; no
// name, chain or expiry checks. DANE-TA(2): a presented certificate (or a
// public key that signed one) matches, the chain from the leaf to it verifies
// at now, and the leaf carries one of names (TLSA base domain, next-hop
// domain) as a DNS subjectAltName (CN only without DNS subjectAltNames).
// It is pure.
func EvaluateDANE(l DANELookup, chain []*x509.Certificate, names []string, now time.Time) DANEResult {
	res := DANEResult{}
	for _, t := range l.Records {
		res.Records = append(res.Records, t.String())
	}
	switch {
	case l.Err != nil:
		res.Status, res.LookupErr, res.ResultType = DANEFail, true, RTDNSSECInvalid
		res.Reasons = append(res.Reasons, oneLine(l.Err))
		return res
	case len(l.Records) == 0:
		res.Status = DANENone
		res.Reasons = append(res.Reasons, "no TLSA records at "+l.Name)
		return res
	case !l.Secure:
		res.Status = DANEInsecure
		res.Reasons = append(res.Reasons, "TLSA records at "+l.Name+" are not DNSSEC-validated (no AD bit): not used")
		return res
	}
	var usable []TLSA
	for _, t := range l.Records {
		if t.Usable() {
			usable = append(usable, t)
		}
	}
	if len(usable) == 0 {
		res.Status, res.Unusable = DANENone, true
		res.Reasons = append(res.Reasons, "TLSA records at "+l.Name+" are all unusable for SMTP (RFC 7672 §3.1.3): TLS without authentication")
		return res
	}
	if len(chain) == 0 {
		res.Status, res.ResultType = DANEFail, RTTLSAInvalid
		res.Reasons = append(res.Reasons, "no certificate presented")
		return res
	}
	var misses []string
	for _, t := range usable {
		ok, why := matchTLSA(t, chain, names, now)
		if ok {
			res.Status = DANEPass
			res.Reasons = append(res.Reasons, why)
			res.Rollover, res.RolloverWhy = rollover(usable, chain[0], l.Name)
			return res
		}
		misses = append(misses, why)
	}
	res.Status, res.ResultType = DANEFail, RTTLSAInvalid
	res.Reasons = append(res.Reasons, "no TLSA record at "+l.Name+" matches: "+strings.Join(misses, "; "))
	return res
}

// rollover judges whether the usable records of a DANE pass survive the
// next certificate (RFC 7671 §8.1, RFC 7672 §8.1): a DANE-TA record does
// (a renewal by the same CA matches it), so does a DANE-EE record that does
// not match the current leaf (the next key or certificate, published ahead);
// records that all match only the current leaf do not.
func rollover(usable []TLSA, leaf *x509.Certificate, name string) (string, string) {
	var current []string
	certPinned := false
	for _, t := range usable {
		if t.Usage == 2 {
			return RolloverSafe, "DANE-TA record " + short(t) + " at " + name + " matches a renewed certificate from the same issuer"
		}
		if !bytes.Equal(tlsaData(t, leaf), t.Data) {
			return RolloverSafe, "DANE-EE record " + short(t) + " at " + name + " is for another key or certificate (the next one)"
		}
		current = append(current, short(t))
		certPinned = certPinned || t.Selector == 0
	}
	what := "the current key (a renewal that keeps the key still matches)"
	if certPinned {
		what = "the current certificate (any renewal breaks it)"
	}
	return RolloverAtRisk, fmt.Sprintf("DANE rollover at risk: every TLSA record at %s (%s) matches only %s; "+
		"publish the next key's DANE-EE record beside the current one, or a DANE-TA (2 x x) record of the issuer, before renewing (RFC 7671 §8.1)",
		name, strings.Join(current, ", "), what)
}

// tlsaData is what record t is compared with for certificate c.
func tlsaData(t TLSA, c *x509.Certificate) []byte {
	b := c.Raw
	if t.Selector == 1 {
		b = c.RawSubjectPublicKeyInfo
	}
	switch t.MatchingType {
	case 1:
		h := sha256.Sum256(b)
		return h[:]
	case 2:
		h := sha512.Sum512(b)
		return h[:]
	}
	return b
}

func short(t TLSA) string {
	s := t.String()
	if len(s) > 24 {
		s = s[:24] + "…"
	}
	return s
}

// matchTLSA checks one usable record against the chain; why says how it
// matched or why not.
func matchTLSA(t TLSA, chain []*x509.Certificate, names []string, now time.Time) (bool, string) {
	if t.Usage == 3 {
		if bytes.Equal(tlsaData(t, chain[0]), t.Data) {
			return true, "DANE-EE " + short(t) + " matches the server's " + [...]string{"certificate", "public key"}[t.Selector]
		}
		return false, "DANE-EE " + short(t) + " does not match the server's " + [...]string{"certificate", "public key"}[t.Selector]
	}
	// DANE-TA: a presented issuer certificate (or its key) ...
	for i := 1; i < len(chain); i++ {
		if !bytes.Equal(tlsaData(t, chain[i]), t.Data) {
			continue
		}
		if err := verifyToAnchor(chain, i, now); err != nil {
			return false, fmt.Sprintf("DANE-TA %s matches certificate %d but the chain does not verify: %v", short(t), i, err)
		}
		return taNames(t, chain[0], names, fmt.Sprintf("certificate %d", i))
	}
	// ... or a bare public key (2 1 0) that signed a presented certificate.
	if t.Selector == 1 && t.MatchingType == 0 {
		if pub, err := x509.ParsePKIXPublicKey(t.Data); err == nil {
			anchor := &x509.Certificate{PublicKey: pub, PublicKeyAlgorithm: pubKeyAlgorithm(pub), RawSubjectPublicKeyInfo: t.Data}
			for i := len(chain) - 1; i >= 0; i-- {
				if chain[i].CheckSignatureFrom(anchor) != nil {
					continue
				}
				if err := verifyToAnchor(chain, i, now); err != nil {
					return false, fmt.Sprintf("DANE-TA %s signed certificate %d but the chain does not verify: %v", short(t), i, err)
				}
				return taNames(t, chain[0], names, "a key that signed certificate "+strconv.Itoa(i))
			}
		}
	}
	return false, "DANE-TA " + short(t) + " matches no presented issuer"
}

// verifyToAnchor verifies chain[0] up to chain[k], which is trusted (k = 0:
// only the leaf's validity period is checked).
func verifyToAnchor(chain []*x509.Certificate, k int, now time.Time) error {
	if k == 0 {
		if now.Before(chain[0].NotBefore) || now.After(chain[0].NotAfter) {
			return fmt.Errorf("certificate not valid at %s", now.UTC().Format(time.RFC3339))
		}
		return nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(chain[k])
	inter := x509.NewCertPool()
	for _, c := range chain[1:k] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// taNames is the DANE-TA name check (RFC 7672 §3.2.2-3.2.3).
func taNames(t TLSA, leaf *x509.Certificate, names []string, anchor string) (bool, string) {
	for _, n := range names {
		ref, err := NormalizeReference(n)
		if err != nil {
			continue
		}
		for _, d := range leaf.DNSNames {
			if MatchDNSID(d, ref) {
				return true, fmt.Sprintf("DANE-TA %s matches %s; subjectAltName DNS:%s matches %s", short(t), anchor, d, ref)
			}
		}
		if len(leaf.DNSNames) == 0 {
			if cn, _ := SendmailCN(leaf.RawSubject); MatchDNSID(Unxtext(cn), ref) {
				return true, fmt.Sprintf("DANE-TA %s matches %s; CN %s matches %s", short(t), anchor, cn, ref)
			}
		}
	}
	return false, fmt.Sprintf("DANE-TA %s matches %s, but the certificate names none of %s", short(t), anchor, strings.Join(names, ", "))
}

func pubKeyAlgorithm(pub any) x509.PublicKeyAlgorithm {
	switch pub.(type) {
	case *rsa.PublicKey:
		return x509.RSA
	case *ecdsa.PublicKey:
		return x509.ECDSA
	case ed25519.PublicKey:
		return x509.Ed25519
	}
	return x509.UnknownPublicKeyAlgorithm
}
