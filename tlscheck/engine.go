package tlscheck

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// DefaultRequire is the requirement when there is neither a policy nor an
// explicit --require: a verified chain whose DNS subjectAltNames cover the
// server name.
const DefaultRequire = "VERIFY+CA"

// DefaultWarnDays is the default certificate-expiry warning threshold.
const DefaultWarnDays = 21

// Verdicts.
const (
	Pass = "pass"
	Fail = "fail"
)

// TLSRPT result types (RFC 8460 §4.3) used as Result.ResultType.
const (
	RTStartTLSNotSupported = "starttls-not-supported"
	RTHostMismatch         = "certificate-host-mismatch"
	RTExpired              = "certificate-expired"
	RTNotTrusted           = "certificate-not-trusted"
	RTValidationFailure    = "validation-failure"
	RTSTSPolicyFetchError  = "sts-policy-fetch-error"
	RTSTSPolicyInvalid     = "sts-policy-invalid"
	RTSTSWebPKIInvalid     = "sts-webpki-invalid"
)

// EvalOptions are the inputs of Evaluate besides facts and policy.
type EvalOptions struct {
	// Require is a right-hand side applied when no policy entry covers the
	// connection. With a nil policy and an empty Require, DefaultRequire.
	Require string
	// Rcpt, when set, is also checked under the TLS_Rcpt: rules.
	Rcpt string
	// Now is the clock for expiry warnings (zero: time.Now()).
	Now time.Time
	// WarnDays: warn when the leaf expires within this many days
	// (0: DefaultWarnDays; negative: never).
	WarnDays int
	// AllowCN lets CA/CA:name fall back to the subject CN when the
	// certificate has no DNS subjectAltName (RFC 6125 compatibility).
	AllowCN bool
	// PermErr emulates m4 TLS_PERM_ERR (permanent default error code).
	PermErr bool
	// LegacyCodes emulates sendmail ≤ 8.16 default codes (403/503) instead
	// of 8.17's (454/554).
	LegacyCodes bool
	// STS is the MTA-STS outcome for this MX, if one was looked up.
	STS *STSResult
	// DANE is the TLSA lookup for this connection, if one was made.
	DANE *DANELookup

	dane *DANEResult // EvaluateDANE of DANE, set by Evaluate
}

// Result is the judgement of one connection. The JSON field names are a
// contract (docs/cli.md).
type Result struct {
	Target        string     `json:"target"`
	Rcpt          string     `json:"rcpt,omitempty"`
	Addr          string     `json:"addr"`
	Verify        string     `json:"verify"`
	TLSVersion    string     `json:"tls_version"`
	Cipher        string     `json:"cipher"`
	CipherBits    int        `json:"cipher_bits"`
	KeyExchange   string     `json:"key_exchange"`
	SigAlg        string     `json:"signature_algorithm"`
	CertSHA256    string     `json:"cert_sha256"`
	SPKISHA256    string     `json:"spki_sha256"`
	KeyType       string     `json:"key_type"`
	KeyBits       int        `json:"key_bits"`
	OCSPStapled   bool       `json:"ocsp_stapled"`
	Chain         []PeerCert `json:"chain"`
	CertSubject   string     `json:"cert_subject"`
	CertIssuer    string     `json:"cert_issuer"`
	CNSubject     string     `json:"cn_subject"`
	CNIssuer      string     `json:"cn_issuer"`
	AltnameSubj   []string   `json:"altname_subject"`
	AltnameIssuer []string   `json:"altname_issuer"`
	NotAfter      string     `json:"not_after"`
	PolicyKey     string     `json:"policy_key"`
	PolicyRule    string     `json:"policy_rule"`
	PolicyLine    int        `json:"policy_line,omitempty"`
	Verdict       string     `json:"verdict"`
	Reply         string     `json:"reply"`
	Reasons       []string   `json:"reasons"`
	Warnings      []string   `json:"warnings"`
	ResultType    string     `json:"result_type,omitempty"`
	STS           *STSResult `json:"sts,omitempty"`
	MTASTSMode    string     `json:"mta_sts_mode"` // enforce | testing | none | "" (not looked up or no policy)
	// DANE is pass | fail | none | insecure, "" when not looked up.
	DANE        string   `json:"dane"`
	DANERecords []string `json:"dane_records"` // the TLSA records, presentation format
	// DANERollover is safe | at-risk on a DANE pass (see DANEResult.Rollover), else "".
	DANERollover string `json:"dane_rollover"`
	Error        string `json:"error,omitempty"`

	checked bool
}

// Checked reports whether the connection got far enough to be judged.
func (r *Result) Checked() bool { return r.checked }

func baseResult(f *Facts) Result {
	r := Result{
		Target:        f.Target,
		Verify:        f.Verify,
		TLSVersion:    f.TLSVersion,
		Cipher:        f.Cipher,
		CipherBits:    f.CipherBits,
		KeyExchange:   f.KeyExchange,
		SigAlg:        f.Peer.SigAlg,
		CertSHA256:    f.Peer.SHA256,
		SPKISHA256:    f.Peer.SPKISHA256,
		KeyType:       f.Peer.KeyType,
		KeyBits:       f.Peer.KeyBits,
		OCSPStapled:   f.OCSPStapled,
		Chain:         describeChain(f.Chain),
		CertSubject:   f.CertSubject,
		CertIssuer:    f.CertIssuer,
		CNSubject:     f.CNSubject,
		CNIssuer:      f.CNIssuer,
		AltnameSubj:   nonNil(f.AltSubject),
		AltnameIssuer: nonNil(f.AltIssuer),
		Reasons:       []string{},
		Warnings:      []string{},
		checked:       f.Checked(),
	}
	if f.Addr.IsValid() {
		port := f.Port
		if port == 0 {
			port = 25
		}
		r.Addr = joinHostPort(f.Addr.String(), port)
	}
	if l := f.Leaf(); l != nil {
		r.NotAfter = l.NotAfter.UTC().Format(time.RFC3339)
	}
	return r
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// stage is the outcome of one sendmail ruleset (tls_server or tls_rcpt).
type stage struct {
	ok         bool
	key        string
	rule       string
	line       int
	reply      string
	reasons    []string
	resultType string
}

// reject fails the stage with the reply "code text" (code holds the reply
// and enhanced status codes) and records text as a reason.
func (s *stage) reject(code, text, rt string) stage {
	s.ok = false
	s.reply = code + " " + text
	s.resultType = rt
	s.reasons = append(s.reasons, text)
	return *s
}

// accept passes the stage, recording reasons.
func (s *stage) accept(reasons ...string) stage {
	s.ok = true
	s.reasons = append(s.reasons, reasons...)
	return *s
}

// Evaluate judges one connection's facts against a policy, as sendmail's
// tls_server (TLS_Srv:) and, with Rcpt, tls_rcpt (TLS_Rcpt:) rulesets would,
// plus ops' extensions (CA, wildcard SANs). It is pure: no network, and the
// only clock is eo.Now.
func Evaluate(f *Facts, p *Policy, eo EvalOptions) Result {
	if eo.Now.IsZero() {
		eo.Now = time.Now()
	}
	r := baseResult(f)
	r.Rcpt = eo.Rcpt
	r.STS = eo.STS
	if eo.STS != nil {
		r.MTASTSMode = eo.STS.Mode
	}
	if !f.Checked() {
		r.Verdict = Fail
		r.Error = oneLine(f.Err)
		r.Reasons = append(r.Reasons, "could not check: "+r.Error)
		return r
	}
	warnings(f, eo, &r)
	if eo.DANE != nil {
		dr := EvaluateDANE(*eo.DANE, f.Chain, daneNames(f, eo), eo.Now)
		eo.dane = &dr
		r.DANE, r.DANERecords, r.DANERollover = dr.Status, nonNil(dr.Records), dr.Rollover
		r.Reasons = append(r.Reasons, "DANE "+dr.Status+": "+strings.Join(dr.Reasons, "; "))
		switch dr.Rollover {
		case RolloverAtRisk:
			r.Warnings = append(r.Warnings, dr.RolloverWhy)
		case RolloverSafe:
			r.Reasons = append(r.Reasons, "DANE rollover safe: "+dr.RolloverWhy)
		}
		if dr.Status == DANEPass && f.Verify == VerifyFail {
			// DANE authenticated what the CA roots did not: sendmail 8.16+
			// with DANE sets ${verify} to TRUSTED, which VERIFY accepts.
			t := *f
			t.Verify = VerifyTrusted
			r.Reasons = append(r.Reasons, "chain not trusted by the CA roots ("+f.VerifyError+"), but DANE authenticates it: ${verify} is TRUSTED")
			f, r.Verify = &t, VerifyTrusted
		}
	}

	var stages []stage
	if p != nil && p.Format == FormatPostfix {
		stages = []stage{evalPostfix(f, p, eo)}
	} else {
		stages = evalSendmail(f, p, eo)
	}
	r.Verdict = Pass
	for _, s := range stages {
		if s.key != "" || r.PolicyRule == "" {
			r.PolicyKey, r.PolicyRule, r.PolicyLine = s.key, s.rule, s.line
		}
		r.Reasons = append(r.Reasons, s.reasons...)
		if !s.ok {
			r.Verdict = Fail
			r.Reply = s.reply
			r.ResultType = s.resultType
			r.PolicyKey, r.PolicyRule, r.PolicyLine = s.key, s.rule, s.line
			break
		}
	}
	if r.Verdict == Pass && eo.STS != nil {
		if d := eo.dane; d != nil && daneValidates(d) && stsInEffect(eo.STS) {
			applySTSUnderDANE(f, eo.STS, d, &r)
		} else {
			applySTS(f, eo.STS, &r)
		}
	}
	if d := eo.dane; d != nil && d.Status == DANEFail && r.Verdict == Pass {
		// Not required here, but a DANE client (Postfix, sendmail 8.18)
		// would not deliver: say so.
		r.Warnings = append(r.Warnings, "DANE fails: "+strings.Join(d.Reasons, "; "))
	}
	return r
}

// daneNames are the DANE-TA reference names: the TLSA base domain (the
// server name) and, for a recipient, its domain (the next hop).
func daneNames(f *Facts, eo EvalOptions) []string {
	names := []string{f.ServerName}
	if i := strings.LastIndexByte(eo.Rcpt, '@'); i >= 0 {
		if d := strings.ToLower(strings.TrimSuffix(eo.Rcpt[i+1:], ".")); d != "" && d != f.ServerName {
			names = append(names, d)
		}
	}
	return names
}

func warnings(f *Facts, eo EvalOptions, r *Result) {
	leaf := f.Leaf()
	if leaf == nil {
		return
	}
	days := eo.WarnDays
	if days == 0 {
		days = DefaultWarnDays
	}
	left := leaf.NotAfter.Sub(eo.Now)
	if days > 0 && left > 0 && left < time.Duration(days)*24*time.Hour {
		r.Warnings = append(r.Warnings, fmt.Sprintf("certificate expires in %d days (%s)", int(left.Hours()/24), leaf.NotAfter.UTC().Format("2006-01-02")))
	}
	for _, c := range f.Chain {
		if kp := keyProblem(c); kp != "" {
			r.Warnings = append(r.Warnings, kp+" ("+shortDN(c)+")")
		}
		if c != leaf && c.IsCA && string(c.RawIssuer) == string(c.RawSubject) {
			continue // a sent root's self-signature does not matter
		}
		if sp := sigProblem(c); sp != "" {
			r.Warnings = append(r.Warnings, sp+" ("+shortDN(c)+")")
		}
	}
	for i := 1; i < len(f.Chain); i++ {
		if f.Chain[i-1].CheckSignatureFrom(f.Chain[i]) != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("presented chain out of order: certificate %d (%s) did not sign certificate %d", i, shortDN(f.Chain[i]), i-1))
			break
		}
	}
	if len(leaf.DNSNames) == 0 && f.CNSubject != cnUnknown {
		r.Warnings = append(r.Warnings, "certificate has no DNS subjectAltName (names only in the legacy CN)")
	}
	for _, d := range leaf.DNSNames {
		if strings.Contains(d, "*") {
			if prob := WildcardProblem(d); prob != "" {
				r.Warnings = append(r.Warnings, fmt.Sprintf("unusable wildcard subjectAltName %q: %s", d, prob))
			}
		}
	}
}

func shortDN(c *x509.Certificate) string {
	s, _ := SendmailDN(c.RawSubject)
	return s
}

func evalSendmail(f *Facts, p *Policy, eo EvalOptions) []stage {
	srvKey, srvEntry, srvFound := p.Lookup(ServerKeys("TLS_Srv:", f.ServerName, f.Addr))
	var rcptKey string
	var rcptEntry *Entry
	rcptFound := false
	if eo.Rcpt != "" {
		rcptKey, rcptEntry, rcptFound = p.Lookup(RcptKeys(eo.Rcpt))
	}
	require := eo.Require
	if p == nil && require == "" {
		require = DefaultRequire
	}
	var stages []stage
	switch {
	case srvFound:
		stages = append(stages, tlsConnection(f, p, eo, "tls_server", srvKey, srvEntry.Value, srvEntry.Line, true))
	case !rcptFound && require != "":
		s := tlsConnection(f, p, eo, "tls_server", "", require, 0, true)
		s.reasons = append([]string{"no policy entry for " + f.ServerName + ": applying " + require}, s.reasons...)
		stages = append(stages, s)
	default:
		stages = append(stages, tlsConnection(f, p, eo, "tls_server", "", "", 0, false))
	}
	if eo.Rcpt != "" && rcptFound {
		stages = append(stages, tlsConnection(f, p, eo, "tls_rcpt", rcptKey, rcptEntry.Value, rcptEntry.Line, true))
	}
	return stages
}

func (eo EvalOptions) defaultCode() (string, string) {
	switch {
	case eo.LegacyCodes && eo.PermErr:
		return "503", "5.7.0"
	case eo.LegacyCodes:
		return "403", "4.7.0"
	case eo.PermErr:
		return "554", "5.7.0"
	}
	return "454", "4.7.0"
}

// tlsConnection emulates sendmail's TLS_connection ruleset (and TLS_req for
// the extensions) for one looked-up right-hand side.
func tlsConnection(f *Facts, p *Policy, eo EvalOptions, ruleset, key, rhs string, line int, found bool) stage {
	c := &smCheck{f: f, p: p, eo: eo, rule: ParseRule(rhs), s: stage{key: key, rule: rhs, line: line}}
	c.code = c.failCode()
	if s, failed := c.handshakeFailure(); failed {
		return s
	}
	if !found {
		return c.s.accept("no policy entry applies: sendmail accepts")
	}
	if strings.EqualFold(strings.TrimSpace(rhs), "DANE") {
		return c.daneRequired()
	}
	if !c.rule.IsRequirement() {
		where := ""
		if key != "" {
			where = fmt.Sprintf(" (%s %s, line %d)", key, rhs, line)
		}
		return c.s.accept(fmt.Sprintf("%q is not a TLS requirement%s: sendmail accepts", rhs, where))
	}
	if f.Verify == VerifyNone && f.VerifyError != "" {
		c.s.reasons = append(c.s.reasons, f.VerifyError)
	}
	bits := c.rule.Bits
	if c.rule.Req == "VERIFY" {
		if f.Verify != VerifyOK && f.Verify != VerifyTrusted {
			return c.verifyFailure()
		}
		c.s.reasons = append(c.s.reasons, "certificate chain verified")
		if !c.rule.HasBits {
			bits = 0
		}
	}
	if s, failed := c.checkBits(bits); failed {
		return s
	}
	return c.checkExtensions()
}

// daneRequired is the ops requirement DANE (--require DANE, or DANE as a
// right-hand side): like Postfix' dane-only, a DNSSEC-validated, usable TLSA
// record must match the presented chain.
func (c *smCheck) daneRequired() stage {
	d := c.eo.dane
	if d == nil {
		return c.s.reject(c.code, "DANE required, but no TLSA lookup was made", RTDANERequired)
	}
	switch d.Status {
	case DANEPass:
		return c.s.accept()
	case DANEFail:
		if d.LookupErr {
			return c.s.reject(c.code, "DANE required: TLSA lookup failed", d.ResultType)
		}
		return c.s.reject(c.code, "DANE required: no TLSA record matches the server's certificate", d.ResultType)
	}
	return c.s.reject(c.code, "DANE required: no usable DNSSEC-validated TLSA records ("+d.Status+")", RTDANERequired)
}

// smCheck is one run of tlsConnection: its inputs, the parsed rule and the
// stage being built.
type smCheck struct {
	f    *Facts
	p    *Policy
	eo   EvalOptions
	rule Rule
	code string // reply code and enhanced status code of a failure
	s    stage
}

// failCode is the reply prefix of a failure: the default code unless the
// rule says PERM+ or TEMP+.
func (c *smCheck) failCode() string {
	code, esc := c.eo.defaultCode()
	switch c.rule.Mode {
	case "PERM":
		code, esc = "503", "5.7.0"
	case "TEMP":
		code, esc = "403", "4.7.0"
	}
	return code + " " + esc
}

// handshakeFailure rejects a connection whose STARTTLS or TLS handshake
// broke, whatever the policy says.
func (c *smCheck) handshakeFailure() (stage, bool) {
	switch c.f.Verify {
	case VerifySoftware:
		c.s.reasons = append(c.s.reasons, "TLS handshake failed: "+c.f.VerifyError)
		return c.s.reject(c.code, "TLS handshake failed.", RTValidationFailure), true
	case VerifyProtocol:
		c.s.reasons = append(c.s.reasons, "STARTTLS rejected: "+c.f.VerifyError)
		return c.s.reject(c.code, "STARTTLS failed.", RTValidationFailure), true
	}
	return stage{}, false
}

// verifyFailure rejects a VERIFY requirement that ${verify} does not meet,
// with sendmail's text for that ${verify} value.
func (c *smCheck) verifyFailure() stage {
	f := c.f
	rt := RTNotTrusted
	switch f.Verify {
	case VerifyNone, VerifyTemp:
		rt = RTStartTLSNotSupported
	}
	if strings.HasPrefix(f.VerifyError, "certificate expired") || strings.Contains(f.VerifyError, "not valid before") {
		rt = RTExpired
	}
	if f.Verify == VerifyFail && f.VerifyError != "" {
		c.s.reasons = append(c.s.reasons, f.VerifyError)
	}
	var text string
	switch f.Verify {
	case "":
		text = "authentication required"
	case VerifyFail:
		text = "authentication failed"
	case VerifyNo:
		text = "not authenticated"
	case "NOT":
		text = "no authentication requested"
	case VerifyNone:
		text = "other side does not support STARTTLS"
	case "CLEAR":
		text = "STARTTLS disabled locally"
	default:
		if f.Verify == VerifyTemp && f.VerifyError != "" {
			c.s.reasons = append(c.s.reasons, f.VerifyError)
		}
		text = "authentication failure " + f.Verify
	}
	return c.s.reject(c.code, text, rt)
}

// checkBits enforces the cipher strength. It runs when the rule gives bits
// or extensions (for VERIFY without bits, bits is 0).
func (c *smCheck) checkBits(bits int) (stage, bool) {
	if !c.rule.HasBits && len(c.rule.Exts) == 0 {
		return stage{}, false
	}
	actual := c.f.CipherBits
	if actual < bits {
		rt := RTValidationFailure
		if c.f.Verify == VerifyNone || c.f.Verify == VerifyTemp {
			rt = RTStartTLSNotSupported
		}
		return c.s.reject(c.code, fmt.Sprintf("encryption too weak %d less than %d", actual, bits), rt), true
	}
	if c.rule.HasBits {
		c.s.reasons = append(c.s.reasons, fmt.Sprintf("cipher strength %d bits ≥ %d", actual, bits))
	}
	return stage{}, false
}

// checkExtensions checks the extensions in order. Like sendmail, it stops
// at the first it does not know and accepts.
func (c *smCheck) checkExtensions() stage {
	for i, x := range c.rule.Exts {
		text, rt, met, known := c.extension(x)
		if !known {
			rest := len(c.rule.Exts) - i - 1
			msg := fmt.Sprintf("extension %q is unknown to sendmail: accepted without checking it", x.Raw)
			if rest > 0 {
				msg += fmt.Sprintf(" or the %d after it", rest)
			}
			return c.s.accept(msg)
		}
		if !met {
			return c.s.reject(c.code, text, rt)
		}
		c.s.reasons = append(c.s.reasons, text)
	}
	return c.s.accept()
}

// extension checks one extension: CN, CS, CI, CITag (sendmail's) or CA
// (ops'). text is the reason when met, the reply text (with result type rt)
// when not. known is false for any other extension.
func (c *smCheck) extension(x Ext) (text, rt string, met, known bool) {
	f := c.f
	switch x.Kind {
	case "CN":
		name := x.Arg
		if name == "" {
			name = f.ServerName
		}
		if !strings.EqualFold(name, f.CNSubject) {
			return fmt.Sprintf("CN %s does not match %s", f.CNSubject, name), RTHostMismatch, false, true
		}
		return "CN " + f.CNSubject + " matches " + name, "", true, true
	case "CS":
		if !strings.EqualFold(x.Arg, f.CertSubject) {
			return fmt.Sprintf("Cert Subject %s does not match %s", f.CertSubject, x.Arg), RTValidationFailure, false, true
		}
		return "certificate subject matches", "", true, true
	case "CI":
		if !strings.EqualFold(x.Arg, f.CertIssuer) {
			return fmt.Sprintf("Cert Issuer %s does not match %s", f.CertIssuer, x.Arg), RTValidationFailure, false, true
		}
		return "certificate issuer matches", "", true, true
	case "CITag":
		e, ok := c.p.Get(x.Arg + ":" + f.CertIssuer)
		if !ok || !strings.EqualFold(e.Value, "OK") {
			return fmt.Sprintf("Cert Issuer %s not acceptable", f.CertIssuer), RTValidationFailure, false, true
		}
		return fmt.Sprintf("certificate issuer accepted by %s:… (line %d)", x.Arg, e.Line), "", true, true
	case "CA":
		name := x.Arg
		if name == "" {
			name = f.ServerName
		}
		ok, why := caCheck(f, name, c.eo.AllowCN)
		if !ok {
			// A SAN refused for its shape decided this: say so.
			if leaf := f.Leaf(); leaf != nil {
				for _, d := range leaf.DNSNames {
					if prob := WildcardProblem(d); prob != "" {
						c.s.reasons = append(c.s.reasons, fmt.Sprintf("subjectAltName DNS:%s not usable: %s", d, prob))
					}
				}
			}
			return why, RTHostMismatch, false, true
		}
		return why, "", true, true
	}
	return "", "", false, false
}

// caCheck is the ops CA extension: the reference name must match a DNS
// subjectAltName under RFC 9525 rules (one full left-most wildcard label, no
// public-suffix wildcards). The CN counts only with allowCN and no DNS SAN.
func caCheck(f *Facts, name string, allowCN bool) (bool, string) {
	leaf := f.Leaf()
	if leaf == nil {
		return false, "CA " + name + ": no certificate"
	}
	ref, err := NormalizeReference(name)
	if err != nil {
		return false, "CA: invalid reference name: " + err.Error()
	}
	for _, d := range leaf.DNSNames {
		if MatchDNSID(d, ref) {
			return true, fmt.Sprintf("subjectAltName DNS:%s matches %s", d, ref)
		}
	}
	if len(leaf.DNSNames) == 0 && allowCN {
		cn, _ := SendmailCN(leaf.RawSubject)
		if MatchDNSID(Unxtext(cn), ref) {
			return true, fmt.Sprintf("CN %s matches %s (CN fallback: no DNS subjectAltName)", cn, ref)
		}
	}
	if len(leaf.DNSNames) == 0 {
		return false, fmt.Sprintf("CA %s: certificate has no DNS subjectAltName", ref)
	}
	return false, fmt.Sprintf("CA %s does not match subjectAltName %s", ref, strings.Join(prefixAll("DNS:", leaf.DNSNames), " "))
}

func prefixAll(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// EvaluateClient judges an incoming client's TLS (sendmail's tls_client
// ruleset, server side): TLS_Clt: + client name walk, address walk, bare tag.
// f.ServerName holds ${client_name} (the CN extension compares against it),
// f.Addr ${client_addr}. Only the access-map format has TLS_Clt: rules.
func EvaluateClient(f *Facts, p *Policy, eo EvalOptions) Result {
	if eo.Now.IsZero() {
		eo.Now = time.Now()
	}
	r := baseResult(f)
	if !f.Checked() {
		r.Verdict, r.Error = Fail, oneLine(f.Err)
		r.Reasons = append(r.Reasons, "could not check: "+r.Error)
		return r
	}
	warnings(f, eo, &r)
	key, e, found := p.Lookup(ServerKeys("TLS_Clt:", f.ServerName, f.Addr))
	var s stage
	switch {
	case found:
		s = tlsConnection(f, p, eo, "tls_client", key, e.Value, e.Line, true)
	case eo.Require != "":
		s = tlsConnection(f, p, eo, "tls_client", "", eo.Require, 0, true)
	default:
		s = tlsConnection(f, p, eo, "tls_client", "", "", 0, false)
	}
	r.PolicyKey, r.PolicyRule, r.PolicyLine = s.key, s.rule, s.line
	r.Reasons = append(r.Reasons, s.reasons...)
	r.Verdict = Pass
	if !s.ok {
		r.Verdict, r.Reply, r.ResultType = Fail, s.reply, s.resultType
	}
	return r
}

// oneLine is an error's text for a reason: the parts of a joined error
// (errors.Join puts a newline between them: an A and an AAAA lookup that
// both failed) separated by "; ", so that a table cell or a log line never
// shows an escaped newline.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
