package tlscheck

import (
	"strconv"
	"strings"
)

// Rule is a parsed sendmail TLS right-hand side:
//
//	[PERM+|TEMP+] (VERIFY[:bits] | ENCR:bits) [+ext[++ext…]]
//
// A value of another shape (OK, ENCR without bits, a typo) is not a
// requirement: sendmail accepts the connection ("some other value in access
// map: accept"). IsRequirement reports which case applies.
type Rule struct {
	Raw     string
	Mode    string // "PERM", "TEMP" or "" (the default code)
	Req     string // "VERIFY", "ENCR" or "" (not a requirement)
	Bits    int    // required bits (VERIFY:n / ENCR:n)
	HasBits bool
	Exts    []Ext
}

// Ext is one extension of a rule.
type Ext struct {
	Kind string // CN, CS, CI, CITag, CA (ops), or "" for an extension sendmail does not know
	Arg  string // the part after "Kind:", or "" (CN / CA without a name)
	Raw  string // as written
}

// Known reports whether sendmail itself implements the extension.
func (x Ext) Known() bool {
	switch x.Kind {
	case "CN", "CS", "CI", "CITag":
		return true
	}
	return false
}

// IsRequirement reports whether sendmail treats the rule as a requirement.
func (r Rule) IsRequirement() bool { return r.Req != "" }

// ParseRule parses a right-hand side. It never fails: anything sendmail
// would not read as a requirement yields a Rule with Req == "".
func ParseRule(s string) Rule {
	r := Rule{Raw: s}
	s = strings.TrimSpace(s)
	rest := s
	if len(rest) >= 5 && rest[4] == '+' {
		switch strings.ToUpper(rest[:4]) {
		case "PERM", "TEMP":
			r.Mode = strings.ToUpper(rest[:4])
			rest = rest[5:]
		}
	}
	var ext string
	up := strings.ToUpper(rest)
	switch {
	case up == "VERIFY":
		r.Req = "VERIFY"
	case strings.HasPrefix(up, "VERIFY+"):
		r.Req = "VERIFY"
		ext = rest[len("VERIFY+"):]
	case strings.HasPrefix(up, "VERIFY:"), strings.HasPrefix(up, "ENCR:"):
		word, after, _ := strings.Cut(rest, ":")
		bits, more, hasMore := strings.Cut(after, "+")
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || bits == "" || bits[0] == '+' || bits[0] == '-' {
			break // not a single numeric token: not a requirement
		}
		r.Req = strings.ToUpper(word)
		r.Bits, r.HasBits = n, true
		if hasMore {
			ext = more
		}
	}
	if r.Req == "" {
		r.Mode = ""
		return r
	}
	if ext != "" {
		for _, part := range strings.Split(ext, "++") {
			r.Exts = append(r.Exts, parseExt(part))
		}
	}
	return r
}

func parseExt(s string) Ext {
	x := Ext{Raw: s}
	kind, arg, hasArg := strings.Cut(s, ":")
	switch strings.ToUpper(kind) {
	case "CN":
		x.Kind = "CN"
	case "CS":
		x.Kind = "CS"
	case "CI":
		x.Kind = "CI"
	case "CITAG":
		x.Kind = "CITag"
	case "CA":
		x.Kind = "CA"
	default:
		return x
	}
	if hasArg {
		x.Arg = arg
	}
	// Shapes sendmail does not match (CS/CI/CITag need an argument; CN: with
	// an empty name) are unknown to it.
	if (x.Kind == "CS" || x.Kind == "CI" || x.Kind == "CITag") && x.Arg == "" {
		x.Kind = ""
	}
	if hasArg && x.Arg == "" {
		x.Kind = ""
	}
	return x
}
