package tlscheck

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Finding is one lint message about a policy entry.
type Finding struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Key  string `json:"key"`
	Msg  string `json:"message"`
}

func (f Finding) String() string { return fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Msg) }

// WriteFindings prints one FILE:LINE: message per finding.
func WriteFindings(w io.Writer, fs []Finding) error {
	for _, f := range fs {
		if _, err := fmt.Fprintln(w, f.String()); err != nil {
			return err
		}
	}
	return nil
}

// LintOptions adjust Lint.
type LintOptions struct {
	// AllowExtensions accepts ops' own extensions (CA, CA:name, DANE as a
	// right-hand side, CertIssuer: … ALTNAMES:key) as intended: the policy
	// is meant for ops, not (only) for sendmail. Typos and unknown
	// extensions are still reported.
	AllowExtensions bool
}

// Lint reports every entry sendmail (or Postfix) would silently misread:
// unknown right-hand sides, ENCR without bits, extensions sendmail does not
// know (and the ones after them it then never checks), distinguished names
// not in OpenSSL oneline + xtext form, keys that can never match,
// SubjAltName: keys whose value carries a type prefix (DNS:, email:, IP:,
// URI:) and so never matches.
func Lint(p *Policy) []Finding { return LintWith(p, LintOptions{}) }

// LintWith is Lint with options.
func LintWith(p *Policy, lo LintOptions) []Finding {
	if p == nil {
		return nil
	}
	var out []Finding
	add := func(e *Entry, format string, args ...any) {
		out = append(out, Finding{File: p.Name, Line: e.Line, Key: e.Key, Msg: e.Key + ": " + fmt.Sprintf(format, args...)})
	}
	for _, i := range p.dups {
		e := &p.Entries[i]
		first := p.Entries[p.index[strings.ToLower(e.Key)]]
		add(e, "duplicate key (keys are case-insensitive): makemap keeps the entry of line %d and ignores this one", first.Line)
	}
	if p.Format == FormatPostfix {
		for i := range p.Entries {
			lintPostfix(&p.Entries[i], add)
		}
		sortFindings(out)
		return out
	}
	citags := map[string]bool{}
	sanKeys := map[string]bool{} // KEY of SubjAltName:KEY:VALUE entries
	for i := range p.Entries {
		if tag, rest, ok := strings.Cut(p.Entries[i].Key, ":"); ok && strings.EqualFold(tag, "SubjAltName") {
			k, _, _ := strings.Cut(rest, ":")
			sanKeys[strings.ToLower(k)] = true
		}
		e := &p.Entries[i]
		for _, x := range ParseRule(e.Value).Exts {
			if x.Kind == "CITag" {
				citags[strings.ToLower(x.Arg)] = true
			}
		}
	}
	for i := range p.Entries {
		e := &p.Entries[i]
		tag, name, hasTag := strings.Cut(e.Key, ":")
		lt := strings.ToLower(tag)
		if !hasTag {
			continue
		}
		if f := strings.Fields(e.Value); len(f) > 1 && strings.Contains(e.Key, "=") {
			add(e, "blank inside the distinguished name: makemap ends the key at the first blank, so the key is %q and the value %q (write a blank as +20)", e.Key, e.Value)
			continue
		}
		switch lt {
		case "tls_srv", "tls_rcpt", "tls_clt":
			lintTLSEntry(p, e, lt, name, citags, lo, add)
		case "try_tls":
			if !strings.EqualFold(e.Value, "NO") {
				add(e, "sendmail only acts on NO here; %q is ignored (STARTTLS is tried)", e.Value)
			}
			lintHostKey(e, name, add)
		case "certissuer", "certsubject", "subjaltname":
			lintRelayEntry(e, lt, name, sanKeys, lo, add)
		default:
			if citags[lt] {
				if prob := LooksLikeOneline(name); prob != "" {
					add(e, "%s", prob)
				}
				if !strings.EqualFold(strings.TrimSpace(e.Value), "OK") {
					add(e, "CITag entries must be OK; %q rejects the issuer", e.Value)
				}
			}
		}
	}
	sortFindings(out)
	return out
}

// lintRelayEntry lints the relay entries: CertIssuer:, CertSubject: and
// SubjAltName:.
func lintRelayEntry(e *Entry, tag, name string, sanKeys map[string]bool, lo LintOptions, add func(*Entry, string, ...any)) {
	switch tag {
	case "certissuer":
		if prob := LooksLikeOneline(name); prob != "" {
			add(e, "%s", prob)
		}
		v := strings.TrimSpace(e.Value)
		switch {
		case strings.EqualFold(v, "RELAY"), strings.EqualFold(v, "SUBJECT"):
		case len(v) > 9 && strings.EqualFold(v[:9], "ALTNAMES:"):
			if !lo.AllowExtensions {
				add(e, "ALTNAMES: is an ops extension: sendmail ignores this entry and does not relay (--allow-extensions if intended)")
			}
			if key := v[9:]; !sanKeys[strings.ToLower(key)] {
				add(e, "ALTNAMES:%s but no SubjAltName:%s:<name> entries: no client certificate relays", key, key)
			}
		default:
			add(e, "right-hand side %q: sendmail relays only on RELAY or SUBJECT; this entry has no effect", v)
		}
	case "certsubject":
		if prob := LooksLikeOneline(name); prob != "" {
			add(e, "%s", prob)
		}
		if !strings.EqualFold(strings.TrimSpace(e.Value), "RELAY") {
			add(e, "right-hand side %q: sendmail relays only on RELAY; this entry has no effect", e.Value)
		}
	case "subjaltname":
		key, value, ok := strings.Cut(name, ":")
		if !ok || key == "" || value == "" {
			add(e, "expected SubjAltName:KEY:VALUE")
		} else if prefix := sanTypePrefix(key + ":" + value); prefix != "" && len(prefix) == len(key)+1 {
			add(e, "the key %q is a subjectAltName type: the form is SubjAltName:KEY:VALUE with KEY the name ALTNAMES: uses and VALUE bare (SubjAltName:%s would look for the list %q)",
				key, name, key)
		} else if prefix := sanTypePrefix(value); prefix != "" {
			add(e, "the value %q carries the type prefix %q: SubjAltName: values are looked up bare (a DNS name, an e-mail address, an IP address, a URI), so this key never matches (write SubjAltName:%s:%s)",
				value, prefix, key, value[len(prefix):])
		}
		if !strings.EqualFold(strings.TrimSpace(e.Value), "RELAY") {
			add(e, "right-hand side %q: only RELAY relays", e.Value)
		}
	}
}

func sortFindings(out []Finding) {
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
}

func lintHostKey(e *Entry, name string, add func(*Entry, string, ...any)) {
	switch {
	case strings.Contains(name, "*"):
		add(e, "'*' in a key is literal: sendmail walks parent domains instead (write the parent domain without '*')")
	case strings.HasSuffix(name, "."):
		add(e, "trailing dot: sendmail strips it from the name before the lookup, so this key never matches")
	case strings.HasPrefix(name, "."):
		add(e, "leading dot: only matches with FEATURE(lookupdotdomain); write the domain without the dot")
	}
}

// sanTypePrefix returns the type prefix ("DNS:", "email:", "IP:", "IP
// Address:", "URI:", "RFC822:", "othername:") a SubjAltName: value starts
// with, or "". A URI value ("https://…") is not a prefix.
func sanTypePrefix(v string) string {
	for _, p := range []string{"DNS:", "email:", "IP Address:", "IP:", "URI:", "RFC822:", "othername:", "dNSName:", "rfc822Name:", "iPAddress:"} {
		if len(v) > len(p) && strings.EqualFold(v[:len(p)], p) {
			return v[:len(p)]
		}
	}
	return ""
}

func lintTLSEntry(p *Policy, e *Entry, tag, name string, citags map[string]bool, lo LintOptions, add func(*Entry, string, ...any)) {
	if tag != "tls_rcpt" {
		lintHostKey(e, name, add)
	} else if strings.HasSuffix(name, ".") {
		add(e, "trailing dot: sendmail strips it from the recipient domain, so this key never matches")
	}
	v := strings.TrimSpace(e.Value)
	r := ParseRule(v)
	up := strings.ToUpper(v)
	if !r.IsRequirement() {
		body := up
		if strings.HasPrefix(body, "PERM+") || strings.HasPrefix(body, "TEMP+") {
			body = body[5:]
		}
		switch {
		case body == "ENCR" || strings.HasPrefix(body, "ENCR+"):
			add(e, "ENCR without bits is not a requirement: sendmail accepts every connection (write ENCR:bits, e.g. ENCR:128)")
		case strings.HasPrefix(body, "ENCR:") || strings.HasPrefix(body, "VERIFY:"):
			add(e, "%q: the bits must be a number: sendmail accepts every connection", v)
		case up == "OK":
		case up == "DANE":
			if !lo.AllowExtensions {
				add(e, "DANE is an ops extension: sendmail accepts every connection (--allow-extensions if intended)")
			}
		default:
			add(e, "unknown right-hand side %q: sendmail accepts every connection (expected [PERM+|TEMP+]VERIFY[:bits] or ENCR:bits)", v)
		}
		return
	}
	if r.Req == "VERIFY" && r.HasBits && r.Bits == 0 {
		add(e, "VERIFY:0 requires no encryption strength; write VERIFY")
	}
	for i, x := range r.Exts {
		rest := len(r.Exts) - i - 1
		after := ""
		if rest > 0 {
			after = fmt.Sprintf(" and never checks the %d extension(s) after it", rest)
		}
		switch x.Kind {
		case "":
			if x.Raw == "" {
				add(e, "empty extension (stray '+'): sendmail stops checking here%s", after)
			} else {
				add(e, "unknown extension %q: sendmail accepts without checking it%s", x.Raw, after)
			}
			return
		case "CA":
			if !lo.AllowExtensions {
				add(e, "%q is an ops extension: sendmail ignores it%s (ops and sendmail disagree here; --allow-extensions if intended)", x.Raw, after)
			}
		case "CS", "CI":
			if prob := LooksLikeOneline(x.Arg); prob != "" {
				add(e, "%s: %s", x.Kind, prob)
			}
		case "CITag":
			found := false
			prefix := strings.ToLower(x.Arg) + ":"
			for _, o := range p.Entries {
				if strings.HasPrefix(strings.ToLower(o.Key), prefix) {
					found = true
					break
				}
			}
			if !found {
				add(e, "CITag:%s but no %s:<issuer DN> entries: every certificate is refused", x.Arg, x.Arg)
			}
		case "CN":
			if strings.Contains(x.Arg, "*") {
				add(e, "CN:%s: sendmail compares the CN literally (no wildcard matching); use CA:name for subjectAltName matching", x.Arg)
			}
		}
	}
}

func lintPostfix(e *Entry, add func(*Entry, string, ...any)) {
	if strings.HasPrefix(e.Key, "*.") {
		add(e, "'*.' keys are not wildcards in Postfix tables: write .%s for subdomains", e.Key[2:])
	}
	pe := e.pf
	if pe == nil {
		return
	}
	switch pe.Level {
	case "verify", "secure":
		for _, m := range strings.Split(pe.Attrs["match"], ":") {
			if strings.Contains(m, "*") {
				add(e, "match=%s: '*' is literal; write .domain for any subdomain", m)
			}
		}
	case "none", "may", "encrypt", "dane", "dane-only":
		if pe.Attrs["match"] != "" {
			add(e, "match= is ignored at level %s", pe.Level)
		}
	}
}
