package tlscheck

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// postfixEntry is a parsed smtp_tls_policy_maps right-hand side.
type postfixEntry struct {
	Level string
	Attrs map[string]string
	Order []string // attribute names as written
}

var postfixAttrs = map[string]bool{
	"match": true, "protocols": true, "ciphers": true, "exclude": true, "tafile": true,
	"servername": true, "connection_reuse": true, "enable_rpk": true,
	"policy_type": true, "policy_domain": true, "policy_string": true,
	"mx_host_pattern": true, "policy_failure": true,
}

// splitPostfixAttrs splits on blanks and commas, keeping "{ name = value }"
// groups whole.
func splitPostfixAttrs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	depth := 0
	flush := func() {
		if t := strings.TrimSpace(cur.String()); t != "" {
			out = append(out, t)
		}
		cur.Reset()
	}
	for _, c := range s {
		switch {
		case c == '{':
			if depth == 0 {
				flush()
			}
			depth++
			cur.WriteRune(c)
		case c == '}':
			if depth == 0 {
				return nil, fmt.Errorf("unbalanced '}'")
			}
			depth--
			cur.WriteRune(c)
			if depth == 0 {
				flush()
			}
		case depth == 0 && (c == ' ' || c == '\t' || c == ','):
			flush()
		default:
			cur.WriteRune(c)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced '{'")
	}
	flush()
	return out, nil
}

func parsePostfixValue(v string) (*postfixEntry, error) {
	toks, err := splitPostfixAttrs(v)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("missing security level")
	}
	e := &postfixEntry{Level: toks[0], Attrs: map[string]string{}}
	if !postfixLevels[e.Level] {
		return nil, fmt.Errorf("unknown security level %q: expected none, may, encrypt, dane, dane-only, fingerprint, verify or secure", e.Level)
	}
	for _, t := range toks[1:] {
		if strings.HasPrefix(t, "{") {
			t = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(t, "{"), "}"))
		}
		name, val, ok := strings.Cut(t, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" {
			return nil, fmt.Errorf("attribute %q is not name=value", t)
		}
		if !postfixAttrs[name] {
			return nil, fmt.Errorf("unknown attribute %q", name)
		}
		if _, dup := e.Attrs[name]; dup && name != "match" {
			return nil, fmt.Errorf("attribute %q given twice", name)
		}
		if name == "match" && e.Attrs[name] != "" {
			sep := ":"
			if e.Level == "fingerprint" {
				sep = "|"
			}
			val = e.Attrs[name] + sep + val
		}
		e.Attrs[name] = val
		e.Order = append(e.Order, name)
	}
	if e.Level == "fingerprint" && e.Attrs["match"] == "" {
		return nil, fmt.Errorf("fingerprint level needs match=fingerprint")
	}
	if p := e.Attrs["protocols"]; p != "" {
		if _, err := parseProtocols(p); err != nil {
			return nil, err
		}
	}
	return e, nil
}

var protoOrder = []string{"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}

func protoIndex(name string) int {
	for i, p := range protoOrder {
		if strings.EqualFold(p, name) {
			return i
		}
	}
	switch strings.ToLower(name) {
	case "0x0300":
		return 1
	case "0x0301":
		return 2
	case "0x0302":
		return 3
	case "0x0303":
		return 4
	case "0x0304":
		return 5
	}
	return -1
}

// parseProtocols returns the set of allowed protocol names.
func parseProtocols(s string) (map[string]bool, error) {
	allowed := map[string]bool{}
	for _, p := range protoOrder {
		allowed[p] = true
	}
	var includes []string
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ' ' || r == ',' }) {
		switch {
		case strings.HasPrefix(item, ">="):
			i := protoIndex(item[2:])
			if i < 0 {
				return nil, fmt.Errorf("protocols: unknown protocol %q", item[2:])
			}
			for j := 0; j < i; j++ {
				allowed[protoOrder[j]] = false
			}
		case strings.HasPrefix(item, "<="):
			i := protoIndex(item[2:])
			if i < 0 {
				return nil, fmt.Errorf("protocols: unknown protocol %q", item[2:])
			}
			for j := i + 1; j < len(protoOrder); j++ {
				allowed[protoOrder[j]] = false
			}
		case strings.HasPrefix(item, "!"):
			i := protoIndex(item[1:])
			if i < 0 {
				return nil, fmt.Errorf("protocols: unknown protocol %q", item[1:])
			}
			allowed[protoOrder[i]] = false
		default:
			if protoIndex(item) < 0 {
				return nil, fmt.Errorf("protocols: unknown protocol %q", item)
			}
			includes = append(includes, protoOrder[protoIndex(item)])
		}
	}
	if len(includes) > 0 {
		for k := range allowed {
			allowed[k] = false
		}
		for _, p := range includes {
			allowed[p] = true
		}
	}
	return allowed, nil
}

// PostfixKeys lists the table keys Postfix tries for a next hop: the next
// hop itself (with [] and :port when given so), then ".parent" keys only.
func PostfixKeys(nexthop string) []string {
	keys := []string{nexthop}
	host := nexthop
	if strings.HasPrefix(host, "[") {
		return keys
	}
	for {
		i := strings.IndexByte(host, '.')
		if i < 0 || i == len(host)-1 {
			return keys
		}
		host = host[i+1:]
		keys = append(keys, "."+host)
	}
}

func postfixNexthop(f *Facts, eo EvalOptions) (nexthop string, keys []string) {
	if eo.Rcpt != "" {
		if i := strings.LastIndexByte(eo.Rcpt, '@'); i >= 0 {
			d := strings.TrimSuffix(strings.ToLower(strings.Trim(eo.Rcpt[i+1:], "<> ")), ".")
			return d, PostfixKeys(d)
		}
	}
	host := strings.ToLower(f.ServerName)
	if f.Port != 0 && f.Port != 25 {
		keys = append(keys, fmt.Sprintf("[%s]:%d", host, f.Port))
	}
	keys = append(keys, "["+host+"]")
	keys = append(keys, PostfixKeys(host)...)
	return host, keys
}

// evalPostfix judges a connection as Postfix's smtp client would under
// smtp_tls_policy_maps: the entry's security level, then protocols, then the
// level's certificate check.
func evalPostfix(f *Facts, p *Policy, eo EvalOptions) stage {
	nexthop, keys := postfixNexthop(f, eo)
	key, e, ok := p.Lookup(keys)
	if !ok {
		if eo.Require != "" {
			s := tlsConnection(f, p, eo, "tls_server", "", eo.Require, 0, true)
			s.reasons = append([]string{"no policy entry for " + nexthop + ": applying " + eo.Require}, s.reasons...)
			return s
		}
		return stage{ok: true, reasons: []string{"no policy entry for " + nexthop + ": Postfix uses smtp_tls_security_level"}}
	}
	c := &pfCheck{f: f, pe: e.pf, nexthop: nexthop, dane: eo.dane, s: stage{key: key, rule: e.Value, line: e.Line}}
	if s, done := c.optionalTLS(); done {
		return s
	}
	// encrypt, fingerprint, verify, secure: TLS is mandatory.
	if s, failed := c.mandatoryTLS(); failed {
		return s
	}
	switch c.pe.Level {
	case "encrypt":
		return c.s.accept("level encrypt: TLS established (certificate not checked)")
	case "fingerprint":
		return c.fingerprint()
	}
	// verify / secure
	if f.Verify != VerifyOK {
		return c.untrusted()
	}
	return c.matchNames()
}

// pfCheck is one evalPostfix run for a policy entry: its inputs and the
// stage being built.
type pfCheck struct {
	f       *Facts
	pe      *postfixEntry
	nexthop string
	dane    *DANEResult // nil: no TLSA lookup was made
	s       stage
}

// reject fails the stage with a Postfix-style deferral.
func (c *pfCheck) reject(dsn, text, rt string) stage {
	return c.s.reject("450 "+dsn, text, rt)
}

// tlsUp reports whether a TLS session was established.
func (c *pfCheck) tlsUp() bool {
	v := c.f.Verify
	return v != VerifyNone && v != VerifyTemp && v != VerifyProtocol && v != VerifySoftware
}

// optionalTLS decides the levels that do not require TLS (none, may) and
// the DANE levels (dane, dane-only).
func (c *pfCheck) optionalTLS() (stage, bool) {
	switch c.pe.Level {
	case "none":
		return c.s.accept("level none: TLS not used"), true
	case "may":
		return c.may(), true
	case "dane", "dane-only":
		return c.daneLevel()
	}
	return stage{}, false
}

func (c *pfCheck) may() stage {
	if !c.tlsUp() {
		return c.s.accept("opportunistic TLS not established (" + c.f.Verify + "): Postfix delivers in clear text")
	}
	return c.s.accept("opportunistic TLS established")
}

// daneLevel is Postfix' dane and dane-only (TLS_README "Mandatory DANE
// TLS"): a failed TLSA lookup defers; usable validated records must match;
// validated but unusable records mean encrypt; no (validated) records mean
// may for dane and a deferral for dane-only.
func (c *pfCheck) daneLevel() (s stage, done bool) {
	d := c.dane
	if d == nil {
		if c.pe.Level == "dane-only" {
			return c.reject("4.7.5", "level dane-only: no TLSA lookup was made", RTDANERequired), true
		}
		c.s.reasons = append(c.s.reasons, "level dane: no TLSA lookup was made; judged as opportunistic (may)")
		return c.may(), true
	}
	switch {
	case d.LookupErr:
		return c.reject("4.7.5", "TLSA lookup error for "+c.f.ServerName+":"+strconv.Itoa(c.f.Port), RTDNSSECInvalid), true
	case d.Status == DANEPass:
		if s, failed := c.mandatoryTLS(); failed {
			return s, true
		}
		return c.s.accept("level " + c.pe.Level + ": DANE verified"), true
	case d.Status == DANEFail:
		if s, failed := c.mandatoryTLS(); failed {
			return s, true
		}
		return c.reject("4.7.5", "Server certificate not trusted (DANE: no TLSA record matches)", d.ResultType), true
	case d.Unusable: // Postfix: mandatory TLS without authentication (encrypt)
		if s, failed := c.mandatoryTLS(); failed {
			return s, true
		}
		return c.s.accept("level " + c.pe.Level + ": TLSA records unusable, TLS established (as encrypt)"), true
	case c.pe.Level == "dane-only":
		return c.reject("4.7.5", "level dane-only: no usable DNSSEC-validated TLSA records ("+d.Status+")", RTDANERequired), true
	}
	return c.may(), true
}

// mandatoryTLS fails when TLS was not established or the negotiated
// protocol is excluded by protocols=.
func (c *pfCheck) mandatoryTLS() (stage, bool) {
	f := c.f
	if !c.tlsUp() {
		if f.Verify == VerifySoftware {
			c.s.reasons = append(c.s.reasons, f.VerifyError)
			return c.reject("4.7.5", "Cannot start TLS: handshake failure", RTValidationFailure), true
		}
		return c.reject("4.7.4", "TLS is required, but was not offered by host "+f.ServerName, RTStartTLSNotSupported), true
	}
	if ps := c.pe.Attrs["protocols"]; ps != "" {
		allowed, _ := parseProtocols(ps)
		if !allowed[f.TLSVersion] {
			return c.reject("4.7.5", fmt.Sprintf("negotiated %s, excluded by protocols=%s", f.TLSVersion, ps), RTValidationFailure), true
		}
	}
	return stage{}, false
}

// fingerprint is the fingerprint level: a match= fingerprint must equal the
// leaf certificate's or its public key's SHA-256.
func (c *pfCheck) fingerprint() stage {
	leaf := c.f.Leaf()
	if leaf == nil {
		return c.reject("4.7.5", "Server certificate not verified: no certificate", RTValidationFailure)
	}
	certFP := fingerprint(leaf.Raw)
	keyFP := fingerprint(leaf.RawSubjectPublicKeyInfo)
	for _, m := range strings.Split(c.pe.Attrs["match"], "|") {
		n := normFP(m)
		if n == normFP(certFP) || n == normFP(keyFP) {
			return c.s.accept("fingerprint " + m + " matches")
		}
	}
	c.s.reasons = append(c.s.reasons, "certificate sha256 "+certFP+", public key sha256 "+keyFP)
	return c.reject("4.7.5", "Server certificate not verified", RTValidationFailure)
}

// untrusted fails verify/secure when the chain did not verify.
func (c *pfCheck) untrusted() stage {
	f := c.f
	if f.VerifyError != "" {
		c.s.reasons = append(c.s.reasons, f.VerifyError)
	}
	rt := RTNotTrusted
	if strings.HasPrefix(f.VerifyError, "certificate expired") || strings.Contains(f.VerifyError, "not valid before") {
		rt = RTExpired
	}
	return c.reject("4.7.5", "Server certificate not trusted", rt)
}

// matchNames is the name check of verify/secure: a certificate name must
// match one of the match= patterns (default: hostname for verify,
// nexthop:dot-nexthop for secure).
func (c *pfCheck) matchNames() stage {
	match := c.pe.Attrs["match"]
	if match == "" {
		if c.pe.Level == "verify" {
			match = "hostname"
		} else {
			match = "nexthop:dot-nexthop"
		}
	}
	names := certNames(c.f.Leaf())
	for _, m := range strings.Split(match, ":") {
		pat := c.matchPattern(m)
		for _, n := range names {
			if strings.HasPrefix(pat, ".") {
				if MatchDotPattern(n, pat) {
					return c.s.accept(fmt.Sprintf("certificate name %s matches %s", n, pat))
				}
				continue
			}
			if ref, err := NormalizeReference(pat); err == nil && MatchDNSID(n, ref) {
				return c.s.accept(fmt.Sprintf("certificate name %s matches %s", n, pat))
			}
		}
	}
	c.s.reasons = append(c.s.reasons, fmt.Sprintf("no certificate name (%s) matches %s", strings.Join(names, " "), match))
	return c.reject("4.7.5", "Server certificate not verified", RTHostMismatch)
}

// matchPattern resolves one match= element to a name pattern.
func (c *pfCheck) matchPattern(m string) string {
	switch strings.ToLower(m) {
	case "hostname":
		return strings.ToLower(c.f.ServerName)
	case "nexthop":
		return c.nexthop
	case "dot-nexthop":
		return "." + c.nexthop
	}
	return strings.ToLower(m)
}

// certNames are the names Postfix matches: the DNS subjectAltNames, else
// the subject CN.
func certNames(leaf *x509.Certificate) []string {
	if leaf == nil {
		return nil
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames
	}
	cn, _ := SendmailCN(leaf.RawSubject)
	if cn != cnUnknown {
		return []string{Unxtext(cn)}
	}
	return nil
}

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

func normFP(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
}
