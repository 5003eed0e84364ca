package tlscheck

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsteam/ops/internal/output"
)

// Suggestion is the strictest policy line one peer passes today: a host
// (sendmail's TLS_Srv: is keyed by the MX host connected to; Postfix by the
// next hop) with every address and port it was reached on.
type Suggestion struct {
	Peer  string   // the host, or for Postfix and --rcpt the recipient domain
	Key   string   // TLS_Srv:HOST, or the Postfix table key ([host], [host]:port, domain)
	Rule  string   // the right-hand side; "" when no rule can be suggested
	Why   string   // why this rule (or why none)
	Conns []string // every connection judged: target addr
	// Results are the suggested line evaluated back through Evaluate, one
	// per connection: each is a pass, or Rule is "".
	Results []Result

	checked bool // some connection got far enough to be judged
}

// Line is the policy line ("KEY\tRULE"), or "" without a rule.
func (s Suggestion) Line() string {
	if s.Rule == "" {
		return ""
	}
	return s.Key + "\t" + s.Rule
}

// probed is one connection of Suggest: what the probe saw and the TLSA
// lookup made for it.
type probed struct {
	j    job
	f    *Facts
	dane *DANELookup
}

// Suggest probes every target and every MX of every recipient domain and,
// per peer, finds the strictest rule of format (FormatSendmail: TLS_Srv:
// access-map lines; FormatPostfix: smtp_tls_policy_maps lines) that every
// connection to it passes today. Each candidate line is parsed as policy
// text and evaluated back through Evaluate against the facts of every
// connection; the first (strictest) that passes them all is suggested.
//
// sendmail, strictest first: VERIFY:bits+CN (the subject CN is the host
// name, as sendmail compares it), VERIFY:bits+CI:<issuer> (one issuer,
// in sendmail's oneline+xtext encoding), VERIFY:bits, ENCR:bits (TLS, but a
// chain the CA roots do not trust); bits is the fewest negotiated. Postfix:
// dane-only (every connection DANE-authenticated; needs o.DANE), secure
// (the default match, nexthop:dot-nexthop), secure match=HOST:HOST…,
// encrypt; with protocols=>=TLSv1.2 where every connection negotiated
// TLS 1.2 or later. A peer without STARTTLS, or that could not be probed,
// gets no rule. o.Policy and o.Require are ignored.
func Suggest(ctx context.Context, o Options, format Format) ([]Suggestion, error) {
	o = checkDefaults(o)
	o.Policy, o.Require = nil, ""
	jobs := planJobs(ctx, o)
	ps := make([]probed, len(jobs))
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for i, j := range jobs {
		ps[i].j = j
		if j.err != nil {
			ps[i].f = &Facts{Target: j.target.String(), ServerName: j.target.Host, Port: j.target.Port, Err: j.err}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if o.DANE {
				l := o.DANEResolver.LookupTLSA(ctx, j.target.Host, j.target.Port)
				ps[i].dane = &l
			}
			ps[i].f = ProbeAddr(ctx, o.Probe, j.target, j.addr)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := o.Eval.Now
	if now.IsZero() {
		now = time.Now()
	}
	var out []Suggestion
	for _, g := range groupPeers(ps, format) {
		out = append(out, suggestFor(g, format, now))
	}
	return out, nil
}

// checkDefaults fills in what Check fills in: concurrency and the resolvers.
func checkDefaults(o Options) Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Probe.Resolver == nil {
		o.Probe.Resolver = o.DANEResolver
	}
	if o.DANEResolver == nil {
		o.DANEResolver = o.Probe.Resolver
	}
	return o
}

// peerGroup is the connections one policy line must cover.
type peerGroup struct {
	peer, key string
	conns     []probed
}

// groupPeers groups connections by policy key, in input order: sendmail
// by host (TLS_Srv: knows no port), Postfix by next hop ([host] or
// [host]:port for a target, the domain for a recipient).
func groupPeers(ps []probed, format Format) []*peerGroup {
	var groups []*peerGroup
	byKey := map[string]*peerGroup{}
	for _, p := range ps {
		host := strings.ToLower(strings.TrimSuffix(p.j.target.Host, "."))
		peer, key := host, "TLS_Srv:"+host
		if format == FormatPostfix {
			switch {
			case p.j.rcpt != "":
				d := rcptDomain(p.j.rcpt)
				peer, key = d, d
			case p.j.target.Port != 0 && p.j.target.Port != 25:
				peer, key = p.j.target.String(), fmt.Sprintf("[%s]:%d", host, p.j.target.Port)
			default:
				key = "[" + host + "]"
			}
		}
		g := byKey[key]
		if g == nil {
			g = &peerGroup{peer: peer, key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.conns = append(g.conns, p)
	}
	return groups
}

func rcptDomain(rcpt string) string {
	i := strings.LastIndexByte(rcpt, '@')
	return strings.ToLower(strings.TrimSuffix(strings.Trim(rcpt[i+1:], "<> "), "."))
}

// suggestFor tries the candidates of one peer, strictest first.
func suggestFor(g *peerGroup, format Format, now time.Time) Suggestion {
	s := Suggestion{Peer: g.peer, Key: g.key}
	for _, p := range g.conns {
		s.Conns = append(s.Conns, strings.TrimSpace(p.f.Target+" "+addrString(p)))
		s.checked = s.checked || p.f.Checked()
	}
	for _, p := range g.conns {
		if !p.f.Checked() {
			s.Why = "could not check " + p.f.Target + ": " + oneLine(p.f.Err)
			return s
		}
		if p.f.TLSVersion == "" {
			s.Why = p.f.Target + " " + addrString(p) + ": no TLS (" + p.f.Verify + "): no rule would pass"
			return s
		}
	}
	var cands []candidate
	if format == FormatPostfix {
		cands = postfixCandidates(g)
	} else {
		cands = sendmailCandidates(g)
	}
	var misses []string
	for _, c := range cands {
		results, why := evalBack(g, format, c.rule, now)
		if why == "" {
			s.Rule, s.Why, s.Results = c.rule, c.why, results
			return s
		}
		misses = append(misses, c.rule+": "+why)
	}
	s.Why = "no candidate passes: " + strings.Join(misses, "; ")
	return s
}

func addrString(p probed) string {
	if !p.j.addr.IsValid() {
		return ""
	}
	return p.j.addr.String()
}

type candidate struct{ rule, why string }

// sendmailCandidates are the TLS_Srv: right-hand sides to try, strictest
// first.
func sendmailCandidates(g *peerGroup) []candidate {
	bits, verified, issuer := 0, true, g.conns[0].f.CertIssuer
	for i, p := range g.conns {
		if i == 0 || p.f.CipherBits < bits {
			bits = p.f.CipherBits
		}
		verified = verified && p.f.Verify == VerifyOK
		if p.f.CertIssuer != issuer {
			issuer = ""
		}
	}
	var c []candidate
	if verified {
		c = append(c, candidate{fmt.Sprintf("VERIFY:%d+CN", bits), "chain verified, the subject CN is the host name, " + bitsWhy(bits)})
		if issuer != "" && !strings.ContainsAny(issuer, " \t") {
			c = append(c, candidate{fmt.Sprintf("VERIFY:%d+CI:%s", bits, issuer), "chain verified, the CN is not the host name (sendmail compares the CN only): the issuer pinned, " + bitsWhy(bits)})
		}
		c = append(c, candidate{fmt.Sprintf("VERIFY:%d", bits), "chain verified, no name sendmail can match, " + bitsWhy(bits)})
	}
	c = append(c, candidate{fmt.Sprintf("ENCR:%d", bits), "TLS, but the chain does not verify, " + bitsWhy(bits)})
	return c
}

func bitsWhy(bits int) string { return fmt.Sprintf("%d-bit cipher negotiated", bits) }

// postfixCandidates are the smtp_tls_policy_maps right-hand sides to try,
// strictest first.
func postfixCandidates(g *peerGroup) []candidate {
	protocols := " protocols=>=TLSv1.2"
	var hosts []string
	for _, p := range g.conns {
		if v := protoIndex(p.f.TLSVersion); v < protoIndex("TLSv1.2") {
			protocols = ""
		}
		if h := strings.ToLower(p.f.ServerName); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	c := []candidate{
		{"dane-only" + protocols, "every connection DANE-authenticated"},
		{"secure" + protocols, "chain verified, a certificate name matches the next hop (nexthop:dot-nexthop)"},
		{"secure match=" + strings.Join(hosts, ":") + protocols, "chain verified, each certificate names its host"},
		{"encrypt" + protocols, "TLS, but the chain does not verify or names none of the hosts"},
	}
	return c
}

// evalBack parses "KEY RULE" as policy text of format and evaluates every
// connection of the group under it; why is "" when all pass.
func evalBack(g *peerGroup, format Format, rule string, now time.Time) ([]Result, string) {
	p, err := ParsePolicyFormat("suggested", format, strings.NewReader(g.key+"\t"+rule+"\n"))
	if err != nil {
		return nil, err.Error()
	}
	var results []Result
	for _, c := range g.conns {
		eo := EvalOptions{Now: now, Rcpt: c.j.rcpt, DANE: c.dane, WarnDays: -1}
		r := Evaluate(c.f, p, eo)
		if r.Verdict != Pass {
			why := r.Reply
			if why == "" && len(r.Reasons) > 0 {
				why = r.Reasons[len(r.Reasons)-1]
			}
			return nil, c.f.Target + " " + addrString(c) + ": " + why
		}
		if r.PolicyRule != rule {
			return nil, fmt.Sprintf("%s: the line was not the one applied (%q)", c.f.Target, r.PolicyKey)
		}
		results = append(results, r)
	}
	return results, ""
}

// WriteSuggestions writes the lines, ready for the access map or the
// Postfix table: one "KEY<TAB>RULE" per peer; a peer without a rule is a
// comment saying why. With verbose, a comment before each line says why it
// is the strictest and which connections it was checked against.
func WriteSuggestions(w io.Writer, ss []Suggestion, verbose bool) error {
	var b strings.Builder
	for _, s := range ss {
		if s.Rule == "" {
			fmt.Fprintf(&b, "# %s: %s\n", s.Peer, commentText(s.Why))
			continue
		}
		if verbose {
			fmt.Fprintf(&b, "# %s: %s; checked against %s\n", s.Peer, commentText(s.Why), commentText(strings.Join(s.Conns, ", ")))
		}
		b.WriteString(s.Line() + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// commentText keeps a comment on one line, escaped (it carries what peers
// and DNS sent).
func commentText(s string) string { return output.Escape(s) }

// SuggestError is ErrNothingChecked when no connection could be probed,
// else nil.
func SuggestError(ss []Suggestion) error {
	for _, s := range ss {
		if s.checked {
			return nil
		}
	}
	return ErrNothingChecked
}
