package tlscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver answers the DNS questions tlscheck asks, from one chosen server.
// A nil Resolver or an empty Addr uses the system resolver (net.Resolver:
// /etc/hosts, nsswitch, resolv.conf).
type Resolver struct {
	// Addr is the DNS server, host:port ("127.0.0.1:5353"); queries go to it
	// directly (miekg/dns), bypassing /etc/hosts.
	Addr    string
	Timeout time.Duration // per query; default 5 s (the context may cut it shorter)
}

// DNS errors callers can test for.
var (
	ErrNXDomain = errors.New("no such domain")
	ErrNullMX   = errors.New("domain accepts no mail (null MX, RFC 7505)")
	ErrNoAddr   = errors.New("no A/AAAA records")
)

// MX is one mail exchanger of a domain.
type MX struct {
	Host string `json:"host"` // no trailing dot
	Pref uint16 `json:"pref"`
	// Implicit is true when the domain has no MX records and the domain
	// itself is used (RFC 5321 §5.1).
	Implicit bool `json:"implicit,omitempty"`
}

func (r *Resolver) system() bool { return r == nil || r.Addr == "" }

// name says which resolver was asked, for errors.
func (r *Resolver) name() string {
	if r.system() {
		return "the system resolver"
	}
	return r.Addr
}

// joined is errors.Join with "; " between the parts: one line.
type joined []error

func (j joined) Error() string {
	s := make([]string, len(j))
	for i, e := range j {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (j joined) Unwrap() []error { return j }

// ask sends m to the DNS server srv over UDP, and again over TCP when the
// answer is truncated (a large TLSA, TXT or MX set does not fit): a
// truncated answer is never used. Every DNS question of tlscheck goes
// through here.
func (r *Resolver) ask(ctx context.Context, srv string, m *dns.Msg) (*dns.Msg, error) {
	timeout := 5 * time.Second
	if r != nil && r.Timeout > 0 {
		timeout = r.Timeout
	}
	c := &dns.Client{Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, srv)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, srv)
	}
	return in, err
}

func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	srv := r.Addr
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	in, err := r.ask(ctx, srv, m)
	if err != nil {
		return nil, fmt.Errorf("dns %s %s via %s: %w", dns.TypeToString[qtype], name, srv, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
		return in, nil
	case dns.RcodeNameError:
		return in, fmt.Errorf("dns %s %s via %s: %w", dns.TypeToString[qtype], name, srv, ErrNXDomain)
	default:
		return in, fmt.Errorf("dns %s %s via %s: %s", dns.TypeToString[qtype], name, srv, dns.RcodeToString[in.Rcode])
	}
}

// LookupMX returns the MX hosts of a domain in preference order (ties in
// answer order). No MX records: the domain itself (Implicit). A null MX
// ("0 .") is ErrNullMX.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]MX, error) {
	domain = strings.TrimSuffix(domain, ".")
	var raw []MX
	if r.system() {
		mxs, err := net.DefaultResolver.LookupMX(ctx, domain)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound && len(mxs) == 0 {
				// NOERROR without MX records also lands here; the A lookup decides.
				if _, herr := net.DefaultResolver.LookupHost(ctx, domain); herr != nil {
					return nil, fmt.Errorf("mx %s via %s: %w", domain, r.name(), ErrNXDomain)
				}
				return []MX{{Host: strings.ToLower(domain), Implicit: true}}, nil
			}
			return nil, fmt.Errorf("mx %s via %s: %w", domain, r.name(), err)
		}
		for _, m := range mxs {
			raw = append(raw, MX{Host: m.Host, Pref: m.Pref})
		}
	} else {
		in, err := r.exchange(ctx, domain, dns.TypeMX)
		if err != nil {
			return nil, err
		}
		for _, rr := range in.Answer {
			if mx, ok := rr.(*dns.MX); ok {
				raw = append(raw, MX{Host: mx.Mx, Pref: mx.Preference})
			}
		}
	}
	var out []MX
	for _, mx := range raw {
		if mx.Host == "." || mx.Host == "" {
			if len(raw) == 1 {
				return nil, fmt.Errorf("%s: %w", domain, ErrNullMX)
			}
			continue
		}
		out = append(out, MX{Host: strings.ToLower(strings.TrimSuffix(mx.Host, ".")), Pref: mx.Pref})
	}
	if len(out) == 0 {
		return []MX{{Host: strings.ToLower(domain), Implicit: true}}, nil
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pref < out[j].Pref })
	return out, nil
}

// LookupHost returns all A and AAAA addresses of a host (A first).
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	if r.system() {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				return nil, fmt.Errorf("%s via %s: %w", host, r.name(), ErrNoAddr)
			}
			return nil, fmt.Errorf("%s via %s: %w", host, r.name(), err)
		}
		sort.SliceStable(ips, func(i, j int) bool { return ips[i].Unmap().Is4() && !ips[j].Unmap().Is4() })
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		return ips, nil
	}
	var out []netip.Addr
	var errs []error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		in, err := r.exchange(ctx, host, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range in.Answer {
			switch v := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					out = append(out, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA); ok {
					out = append(out, a)
				}
			}
		}
	}
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, joined(errs)
		}
		return nil, fmt.Errorf("%s via %s: %w", host, r.name(), ErrNoAddr)
	}
	return out, nil
}

// LookupTXT returns the TXT strings of a name (each record's strings joined).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if r.system() {
		txts, err := net.DefaultResolver.LookupTXT(ctx, name)
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, fmt.Errorf("txt %s via %s: %w", name, r.name(), ErrNXDomain)
		}
		if err != nil {
			return txts, fmt.Errorf("txt %s via %s: %w", name, r.name(), err)
		}
		return txts, nil
	}
	in, err := r.exchange(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range in.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}
