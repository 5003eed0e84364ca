package tlscheck

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// NormalizeReference turns a reference identifier (the name we expect the
// certificate to carry) into lower-case A-label form without a trailing dot.
// A wildcard, an empty label or an invalid IDN is an error: reference names
// are never patterns (RFC 9525 §6.3; Go's VerifyHostname would compare a "*"
// reference literally).
func NormalizeReference(name string) (string, error) {
	n := strings.TrimSuffix(strings.TrimSpace(name), ".")
	if n == "" {
		return "", errors.New("empty reference name")
	}
	if strings.Contains(n, "*") {
		return "", fmt.Errorf("reference name %q contains a wildcard", name)
	}
	a, err := idna.Lookup.ToASCII(n)
	if err != nil {
		// Lookup profile rejects underscores; accept plain ASCII names as is.
		if isASCII(n) {
			a = n
		} else {
			return "", fmt.Errorf("reference name %q: %w", name, err)
		}
	}
	a = strings.ToLower(a)
	for _, l := range strings.Split(a, ".") {
		if l == "" {
			return "", fmt.Errorf("reference name %q has an empty label", name)
		}
	}
	return a, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// WildcardProblem says why a presented DNS identifier that contains "*" is
// unusable, or "" when it is a valid RFC 9525 wildcard: exactly one "*" that
// is the whole left-most label, at least two labels after it, none of them an
// IDN A-label wildcard, and not covering a public suffix (*.com, *.co.uk).
func WildcardProblem(pattern string) string {
	p := strings.ToLower(pattern)
	if !strings.Contains(p, "*") {
		return ""
	}
	if strings.Count(p, "*") != 1 {
		return "more than one '*'"
	}
	if !strings.HasPrefix(p, "*.") {
		return "'*' is not the whole left-most label (partial or non-left-most wildcards are invalid)"
	}
	rest := p[2:]
	if strings.HasSuffix(rest, ".") {
		return "trailing dot"
	}
	labels := strings.Split(rest, ".")
	for _, l := range labels {
		if l == "" {
			return "empty label"
		}
	}
	if ps, _ := publicsuffix.PublicSuffix(rest); ps == rest {
		return fmt.Sprintf("wildcard covers the public suffix %q", rest)
	}
	return ""
}

// MatchDNSID reports whether a presented DNS identifier (a dNSName SAN, or a
// CN when CN fallback is allowed) matches a normalized reference name under
// RFC 9525 rules. Comparison is case-insensitive; a presented name with a
// trailing dot or an invalid wildcard never matches.
func MatchDNSID(presented, ref string) bool {
	p := strings.ToLower(presented)
	if p == "" || strings.HasSuffix(p, ".") {
		return false
	}
	if !strings.Contains(p, "*") {
		if a, err := idna.Lookup.ToASCII(p); err == nil {
			p = a
		}
		return p == ref
	}
	if WildcardProblem(p) != "" {
		return false
	}
	rest := p[1:] // ".example.com"
	if !strings.HasSuffix(ref, rest) {
		return false
	}
	first := ref[:len(ref)-len(rest)]
	return first != "" && !strings.Contains(first, ".")
}

// MatchDotPattern implements OpenSSL/Postfix "dot patterns": ".example.com"
// matches any name with one or more labels before example.com; a SAN
// wildcard "*.example.com" satisfies it as well.
func MatchDotPattern(presented, pattern string) bool {
	p := strings.ToLower(presented)
	pat := strings.ToLower(pattern)
	if !strings.HasPrefix(pat, ".") || len(pat) < 2 {
		return false
	}
	if strings.HasPrefix(p, "*.") {
		if WildcardProblem(p) != "" {
			return false
		}
		return p[1:] == pat || strings.HasSuffix(p[1:], pat)
	}
	return strings.HasSuffix(p, pat) && len(p) > len(pat)
}
