package tlscheck

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opsteam/ops/internal/output"
)

// RelayOptions configure Relay.
type RelayOptions struct {
	Roots *x509.CertPool // nil: system roots
	Now   time.Time      // zero: time.Now()
}

// RelayResult is the outcome of sendmail's RelayTLS ruleset (plus the ops
// ALTNAMES extension) for one client certificate.
type RelayResult struct {
	Relay       bool     `json:"relay"`
	Verdict     string   `json:"verdict"` // "RELAY" | "NO RELAY"
	Verify      string   `json:"verify"`
	CertSubject string   `json:"cert_subject"`
	CertIssuer  string   `json:"cert_issuer"`
	AltNames    []string `json:"altname_subject"`
	Matched     []string `json:"matched"` // keys whose RELAY decided it
	Reasons     []string `json:"reasons"`
}

// LoadCertificates reads every PEM certificate of a file (leaf first).
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	certs, err := ParseCertificatesPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block; other blocks are skipped.
func ParseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// SANLookupValues are the values looked up as SubjAltName:key:value for a
// certificate: dNSName lower-cased; rfc822Name with the domain lower-cased
// and the local part as is; IP addresses in canonical text; URIs as is.
func SANLookupValues(c *x509.Certificate) []string {
	var out []string
	for _, d := range c.DNSNames {
		out = append(out, strings.ToLower(d))
	}
	for _, e := range c.EmailAddresses {
		if i := strings.LastIndexByte(e, '@'); i >= 0 {
			e = e[:i] + "@" + strings.ToLower(e[i+1:])
		}
		out = append(out, e)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	for i := range out {
		out[i] = Xtext(out[i])
	}
	return out
}

// Relay decides whether a client presenting chain may relay: the chain must
// verify; then CertIssuer:<issuer> RELAY relays, SUBJECT defers to
// CertSubject:<subject> RELAY, and (ops extension) ALTNAMES:key relays when
// any subjectAltName value v has SubjAltName:key:v RELAY.
func Relay(chain []*x509.Certificate, p *Policy, o RelayOptions) RelayResult {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	r := RelayResult{Verdict: "NO RELAY", Matched: []string{}, Reasons: []string{}, AltNames: []string{}}
	if len(chain) == 0 {
		r.Verify = VerifyNo
		r.Reasons = append(r.Reasons, "no certificate")
		return r
	}
	leaf := chain[0]
	r.CertSubject, _ = SendmailDN(leaf.RawSubject)
	r.CertIssuer, _ = SendmailDN(leaf.RawIssuer)
	r.AltNames = nonNil(AltNames(leaf))
	var why string
	r.Verify, why = VerifyChain(chain, o.Roots, o.Now)
	if r.Verify != VerifyOK {
		r.Reasons = append(r.Reasons, "certificate not verified ("+why+"): relaying by certificate needs ${verify} OK")
		return r
	}
	issuerKey := "CertIssuer:" + r.CertIssuer
	e, ok := p.Get(issuerKey)
	if !ok {
		r.Reasons = append(r.Reasons, "no entry "+issuerKey)
		return r
	}
	val := strings.TrimSpace(e.Value)
	switch {
	case strings.EqualFold(val, "RELAY"):
		r.relay(issuerKey, e)
	case strings.EqualFold(val, "SUBJECT"):
		subjKey := "CertSubject:" + r.CertSubject
		se, ok := p.Get(subjKey)
		switch {
		case !ok:
			r.Reasons = append(r.Reasons, fmt.Sprintf("%s SUBJECT (line %d), but no entry %s", issuerKey, e.Line, subjKey))
		case strings.EqualFold(strings.TrimSpace(se.Value), "RELAY"):
			r.Reasons = append(r.Reasons, fmt.Sprintf("%s SUBJECT (line %d)", issuerKey, e.Line))
			r.relay(subjKey, se)
		default:
			r.Reasons = append(r.Reasons, fmt.Sprintf("%s %s (line %d) is not RELAY", subjKey, se.Value, se.Line))
		}
	case len(val) > len("ALTNAMES:") && strings.EqualFold(val[:len("ALTNAMES:")], "ALTNAMES:"):
		key := val[len("ALTNAMES:"):]
		r.Reasons = append(r.Reasons, fmt.Sprintf("%s %s (line %d): checking subjectAltNames", issuerKey, val, e.Line))
		for _, v := range SANLookupValues(leaf) {
			k := "SubjAltName:" + key + ":" + v
			if se, ok := p.Get(k); ok && strings.EqualFold(strings.TrimSpace(se.Value), "RELAY") {
				r.relay(k, se)
			}
		}
		if !r.Relay {
			r.Reasons = append(r.Reasons, "no SubjAltName:"+key+":… RELAY entry for "+strings.Join(SANLookupValues(leaf), " "))
		}
	default:
		r.Reasons = append(r.Reasons, fmt.Sprintf("%s %s (line %d): only RELAY, SUBJECT or ALTNAMES:key allow relaying", issuerKey, val, e.Line))
	}
	return r
}

func (r *RelayResult) relay(key string, e *Entry) {
	r.Relay = true
	r.Verdict = "RELAY"
	r.Matched = append(r.Matched, key)
	r.Reasons = append(r.Reasons, fmt.Sprintf("%s %s (line %d)", key, e.Value, e.Line))
}

// WriteRelayJSON writes the relay result as JSON.
func WriteRelayJSON(w io.Writer, r RelayResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteRelayTable writes the relay verdict for a person.
func WriteRelayTable(w io.Writer, r RelayResult) error {
	tw := output.NewTableWriter(w) // escapes every cell
	tw.Row("VERDICT", r.Verdict)
	tw.Row("VERIFY", r.Verify)
	tw.Row("SUBJECT", dash(r.CertSubject))
	tw.Row("ISSUER", dash(r.CertIssuer))
	tw.Row("ALTNAMES", dash(strings.Join(r.AltNames, " ")))
	tw.Row("MATCHED", dash(strings.Join(r.Matched, " ")))
	for _, s := range r.Reasons {
		tw.Row("REASON", s)
	}
	return tw.Flush()
}
