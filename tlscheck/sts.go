package tlscheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// STSPolicy is a parsed MTA-STS policy (RFC 8461 §3.2).
type STSPolicy struct {
	ID     string   `json:"id,omitempty"` // from the TXT record
	Mode   string   `json:"mode"`         // enforce | testing | none
	MaxAge int      `json:"max_age"`
	MX     []string `json:"mx"`
	// Cached: taken from the STSCache, not fetched in this run.
	Cached bool `json:"-"`
}

// STSResult is the MTA-STS outcome for one MX of a recipient domain.
type STSResult struct {
	Domain     string `json:"domain"`
	Mode       string `json:"mode"` // enforce | testing | none | "" (no policy)
	ID         string `json:"id,omitempty"`
	MXAllowed  bool   `json:"mx_allowed"`
	Cached     bool   `json:"cached,omitempty"` // the policy came from the cache
	Error      string `json:"error,omitempty"`
	ResultType string `json:"result_type,omitempty"`
}

// ErrNoSTS means the domain publishes no (valid) _mta-sts TXT record.
var ErrNoSTS = errors.New("no MTA-STS policy")

const stsMaxBody = 64 * 1024

// ParseSTSRecord picks the single TXT record that starts with "v=STSv1;"
// and returns its id. No such record, or more than one, is ErrNoSTS.
func ParseSTSRecord(txts []string) (string, error) {
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1;") || t == "v=STSv1" {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		if len(found) > 1 {
			return "", fmt.Errorf("%w: %d v=STSv1 records", ErrNoSTS, len(found))
		}
		return "", ErrNoSTS
	}
	id := ""
	for _, f := range strings.Split(found[0], ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if ok && k == "id" {
			id = v
		}
	}
	if id == "" || len(id) > 32 || !isAlnum(id) {
		return "", fmt.Errorf("%w: invalid id %q", ErrNoSTS, id)
	}
	return id, nil
}

func isAlnum(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ParseSTSPolicy parses a policy body: "key: value" lines (LF or CRLF),
// first occurrence of a non-mx key wins, unknown keys ignored.
func ParseSTSPolicy(body string) (*STSPolicy, error) {
	p := &STSPolicy{MaxAge: -1}
	seen := map[string]bool{}
	version := ""
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("sts policy: line %q is not key: value", clip(line))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "mx" {
			if err := validSTSMX(v); err != nil {
				return nil, err
			}
			p.MX = append(p.MX, strings.ToLower(v))
			continue
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		switch k {
		case "version":
			version = v
		case "mode":
			p.Mode = v
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 31557600 || len(v) > 10 {
				return nil, fmt.Errorf("sts policy: invalid max_age %q", v)
			}
			p.MaxAge = n
		}
	}
	if version != "STSv1" {
		return nil, fmt.Errorf("sts policy: version %q, want STSv1", version)
	}
	switch p.Mode {
	case "enforce", "testing", "none":
	default:
		return nil, fmt.Errorf("sts policy: invalid mode %q", p.Mode)
	}
	if p.MaxAge < 0 {
		return nil, errors.New("sts policy: missing max_age")
	}
	if p.Mode != "none" && len(p.MX) == 0 {
		return nil, errors.New("sts policy: no mx patterns")
	}
	return p, nil
}

func validSTSMX(v string) error {
	name := strings.TrimPrefix(v, "*.")
	if name == "" || strings.Contains(name, "*") || !isASCII(name) {
		return fmt.Errorf("sts policy: invalid mx pattern %q", v)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" {
			return fmt.Errorf("sts policy: invalid mx pattern %q", v)
		}
	}
	return nil
}

// MatchMX reports whether an MX host name is allowed by the policy's mx
// patterns (§4.1: "*." matches exactly one left-most label).
func (p *STSPolicy) MatchMX(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, m := range p.MX {
		if strings.HasPrefix(m, "*.") {
			suffix := m[1:]
			if strings.HasSuffix(h, suffix) {
				first := h[:len(h)-len(suffix)]
				if first != "" && !strings.Contains(first, ".") {
					return true
				}
			}
			continue
		}
		if h == m {
			return true
		}
	}
	return false
}

// STSOptions configure FetchSTS.
type STSOptions struct {
	Resolver *Resolver      // for the _mta-sts TXT lookup (and, without DialContext, the HTTPS host)
	RootCAs  *x509.CertPool // trust anchors for the policy host (nil: system roots)
	// DialContext, when set, is used for the HTTPS connection instead of
	// resolving mta-sts.<domain> (tests point it at a loopback server).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout     time.Duration // default 60 s (RFC 8461 §3.3 suggests a minute)
	// Cache, when set, keeps policies until max_age (see STSCache).
	Cache *STSCache
}

// FetchSTS discovers and fetches the MTA-STS policy of a domain: the TXT
// record _mta-sts.<domain>, then https://mta-sts.<domain>/.well-known/mta-sts.txt
// (200 only, no redirects, text/plain, at most 64 KiB, certificate valid for
// mta-sts.<domain>).
func FetchSTS(ctx context.Context, domain string, o STSOptions) (*STSPolicy, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	res := o.Resolver
	if res == nil {
		res = &Resolver{}
	}
	cached, _, fresh := o.Cache.Get(domain)
	id, err := lookupSTSID(ctx, res, domain)
	switch {
	case err != nil && fresh:
		// The TXT record vanished or the lookup failed: a fresh cached
		// policy still applies (RFC 8461 §5.1).
		cached.Cached = true
		return cached, nil
	case err != nil:
		return nil, err
	case fresh && cached.ID == id:
		cached.Cached = true
		return cached, nil
	}
	p, err := fetchSTSPolicy(ctx, res, domain, o)
	if err != nil {
		if fresh {
			cached.Cached = true
			return cached, nil
		}
		return nil, err
	}
	p.ID = id
	if err := o.Cache.Put(domain, p); err != nil {
		return p, nil //nolint:nilerr // a cache that cannot be written only costs a fetch next time
	}
	return p, nil
}

// lookupSTSID returns the id of the domain's _mta-sts TXT record.
func lookupSTSID(ctx context.Context, res *Resolver, domain string) (string, error) {
	txts, err := res.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		if errors.Is(err, ErrNXDomain) {
			return "", ErrNoSTS
		}
		return "", fmt.Errorf("mta-sts txt lookup %s: %w", domain, err)
	}
	return ParseSTSRecord(txts)
}

// fetchSTSPolicy fetches and parses the policy over HTTPS.
func fetchSTSPolicy(ctx context.Context, res *Resolver, domain string, o STSOptions) (*STSPolicy, error) {
	dial := o.DialContext
	if dial == nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			addrs, err := res.LookupHost(ctx, host)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			var lastErr error
			for _, a := range addrs {
				c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
				if err == nil {
					return c, nil
				}
				lastErr = err
			}
			return nil, lastErr
		}
	}
	host := "mta-sts." + domain
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:       dial,
			TLSClientConfig:   &tls.Config{RootCAs: o.RootCAs, ServerName: host, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirects are not allowed (RFC 8461 §3.3)")
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mta-sts fetch %s: %w", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mta-sts fetch %s: HTTP status %d", host, resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("mta-sts fetch %s: media type %q, want text/plain", host, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("mta-sts fetch %s: %w", host, err)
	}
	if len(body) > stsMaxBody {
		return nil, fmt.Errorf("mta-sts fetch %s: policy larger than %d bytes", host, stsMaxBody)
	}
	return ParseSTSPolicy(string(body))
}

// STSFor judges one MX host name against a fetched policy (or fetch error).
func STSFor(domain string, p *STSPolicy, fetchErr error, mx string) *STSResult {
	r := &STSResult{Domain: domain}
	switch {
	case errors.Is(fetchErr, ErrNoSTS):
		return nil
	case fetchErr != nil:
		r.Error = fetchErr.Error()
		r.ResultType = RTSTSPolicyFetchError
		if strings.HasPrefix(fetchErr.Error(), "sts policy:") {
			r.ResultType = RTSTSPolicyInvalid
		}
		return r
	}
	r.Mode, r.ID, r.Cached = p.Mode, p.ID, p.Cached
	r.MXAllowed = p.Mode == "none" || p.MatchMX(mx)
	return r
}

// applySTS adds the MTA-STS verdict to a result that passed the policy.
func applySTS(f *Facts, s *STSResult, r *Result) {
	if s.Error != "" {
		r.Reasons = append(r.Reasons, "MTA-STS policy of "+s.Domain+" unavailable ("+s.Error+"): delivering as without a policy")
		return
	}
	if s.Mode == "none" || s.Mode == "" {
		return
	}
	problem, rt := stsProblem(f, s)
	if problem == "" {
		r.Reasons = append(r.Reasons, "MTA-STS ("+s.Mode+"): MX allowed and certificate valid")
		return
	}
	if s.Mode == "testing" {
		r.Warnings = append(r.Warnings, problem+" (policy mode testing: delivered anyway)")
		return
	}
	r.Verdict = Fail
	r.Reply = "450 4.7.0 " + problem
	r.ResultType = rt
	r.Reasons = append(r.Reasons, problem)
}

// stsProblem is why the MTA-STS policy s refuses this MX ("" when it does
// not) and the TLSRPT result type.
func stsProblem(f *Facts, s *STSResult) (problem, rt string) {
	switch {
	case !s.MXAllowed:
		return "MX " + f.ServerName + " is not listed in the MTA-STS policy of " + s.Domain, RTValidationFailure
	case f.Verify != VerifyOK:
		if f.Verify == VerifyNone {
			return "MTA-STS requires a trusted certificate (verify=" + f.Verify + ")", RTStartTLSNotSupported
		}
		return "MTA-STS requires a trusted certificate (verify=" + f.Verify + ")", RTSTSWebPKIInvalid
	case f.TLSVersion == "TLSv1" || f.TLSVersion == "TLSv1.1":
		return "MTA-STS requires TLS 1.2 or later (negotiated " + f.TLSVersion + ")", RTSTSWebPKIInvalid
	}
	if ok, why := caCheck(f, f.ServerName, false); !ok {
		return "MTA-STS: " + why, RTHostMismatch
	}
	return "", ""
}

// stsInEffect: a policy in enforce or testing mode was found.
func stsInEffect(s *STSResult) bool {
	return s.Error == "" && (s.Mode == "enforce" || s.Mode == "testing")
}

// daneValidates: DNSSEC-validated, usable TLSA records were found (whether
// they match or not); a bogus lookup does not count.
func daneValidates(d *DANEResult) bool {
	return d.Status == DANEPass || (d.Status == DANEFail && !d.LookupErr)
}

// applySTSUnderDANE: where TLSA records validate, DANE decides and MTA-STS
// is reported beside it (RFC 8461 §2: a sender that implements both uses
// DANE; sendmail 8.18 and Postfix with its STS plugin do so). DANE passes:
// the MTA-STS outcome is a reason, or a warning when MTA-STS alone (a
// sender without DANE) would refuse. DANE fails: the verdict is a failure,
// whatever MTA-STS says.
func applySTSUnderDANE(f *Facts, s *STSResult, d *DANEResult, r *Result) {
	problem, _ := stsProblem(f, s)
	beside := "MTA-STS (" + s.Mode + ") beside it: MX allowed and certificate valid"
	if problem != "" {
		beside = "MTA-STS (" + s.Mode + ") beside it: " + problem
	}
	r.Reasons = append(r.Reasons, "TLSA records validate: DANE decides, not MTA-STS (RFC 8461 §2); "+beside)
	if d.Status == DANEPass {
		if problem != "" && s.Mode == "enforce" {
			r.Warnings = append(r.Warnings, problem+" (a sender without DANE would refuse this MX)")
		}
		return
	}
	why := "DANE: " + strings.Join(d.Reasons, "; ")
	r.Verdict = Fail
	r.Reply = "450 4.7.5 " + why
	r.ResultType = d.ResultType
	r.Reasons = append(r.Reasons, why)
}
