package tlscheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Options configure Check: what to probe and how to judge it.
type Options struct {
	Targets []string // host[:port]; ${server_name} is the host
	Rcpts   []string // user@domain: every MX of the domain, under TLS_Rcpt:
	Policy  *Policy  // nil: no access map
	// Require: see EvalOptions.Require.
	Require     string
	Probe       ProbeOptions
	Concurrency int // connections in flight; default 32
	// PerAddr bounds connections in flight to one server address (MTAs
	// throttle or reject scanners that open many at once); 0: no bound
	// besides Concurrency.
	PerAddr int
	// Logger, when set, gets one debug record per connection.
	Logger *slog.Logger
	// MXPort is the port used for the MX hosts of Rcpts (default 25; like
	// sendmail's ESMTP_MAILER_ARGS `TCP $h PORT`).
	MXPort int
	STS    bool // look up MTA-STS for recipient domains
	// DANE looks up TLSA _PORT._tcp.HOST for every target and MX host
	// through DANEResolver (nil: Probe.Resolver, else the first nameserver
	// of /etc/resolv.conf), which must validate DNSSEC: its AD bit is
	// trusted. Check turns it on when Require is DANE or the policy has
	// a dane or dane-only entry. A DANEResolver with no Probe.Resolver
	// (nor STSOptions.Resolver) answers every lookup: MX, A/AAAA, MTA-STS.
	DANE         bool
	DANEResolver *Resolver
	STSOptions   STSOptions
	// Eval carries WarnDays, AllowCN, PermErr, LegacyCodes and Now; Require
	// and Rcpt are filled in per connection.
	Eval EvalOptions
	// Progress, when set, is called after each connection (from worker
	// goroutines, serialized).
	Progress func(done, total int, r Result)
}

// DefaultConcurrency is the default number of connections in flight.
const DefaultConcurrency = 32

// Errors that classify a whole run (see RunError).
var (
	ErrPolicyViolation = errors.New("tls policy violation")
	ErrNothingChecked  = errors.New("nothing could be checked")
)

type job struct {
	target Target
	addr   netip.Addr
	rcpt   string
	sts    *STSResult
	err    error // resolution failed: no connection
}

// Check resolves every target and recipient domain, probes every address
// with bounded concurrency (one timeout per connection) and judges each
// connection. Results come in input order: targets first (each address in
// DNS order), then recipients (MX preference order). Per-target failures are
// results, not errors; the error is non-nil only when ctx was cancelled.
func Check(ctx context.Context, o Options) ([]Result, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Probe.Resolver == nil {
		o.Probe.Resolver = o.STSOptions.Resolver
	}
	if o.Probe.Resolver == nil {
		o.Probe.Resolver = o.DANEResolver // --resolver alone: every lookup goes to it
	}
	if o.STSOptions.Resolver == nil {
		o.STSOptions.Resolver = o.Probe.Resolver
	}
	if o.STSOptions.RootCAs == nil {
		o.STSOptions.RootCAs = o.Probe.Roots
	}
	if needsDANE(o) {
		o.DANE = true
	}
	if o.DANEResolver == nil {
		o.DANEResolver = o.Probe.Resolver
	}
	jobs := planJobs(ctx, o)
	results := make([]Result, len(jobs))
	sem := make(chan struct{}, o.Concurrency)
	perAddr := map[netip.Addr]chan struct{}{}
	if o.PerAddr > 0 {
		for _, j := range jobs {
			if _, ok := perAddr[j.addr]; !ok {
				perAddr[j.addr] = make(chan struct{}, o.PerAddr)
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, j := range jobs {
		if ctx.Err() != nil {
			f := &Facts{Target: j.target.String(), ServerName: j.target.Host, Port: j.target.Port, Addr: j.addr,
				Err: fmt.Errorf("not started: %w", ctx.Err())}
			results[i] = Evaluate(f, o.Policy, EvalOptions{Rcpt: j.rcpt})
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if pa := perAddr[j.addr]; pa != nil {
				select {
				case pa <- struct{}{}:
					defer func() { <-pa }()
				case <-ctx.Done():
				}
			}
			results[i] = runJob(ctx, o, j)
			if o.Progress != nil {
				mu.Lock()
				done++
				o.Progress(done, len(jobs), results[i])
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return results, err
	}
	return results, nil
}

func planJobs(ctx context.Context, o Options) []job {
	var jobs []job
	for _, s := range o.Targets {
		t, err := ParseTarget(s)
		if err != nil {
			jobs = append(jobs, job{target: Target{Host: s}, err: err})
			continue
		}
		addrs, err := o.Probe.Addrs(ctx, t)
		if err != nil {
			jobs = append(jobs, job{target: t, err: fmt.Errorf("resolve %s: %w", t.Host, err)})
			continue
		}
		for _, a := range addrs {
			jobs = append(jobs, job{target: t, addr: a})
		}
	}
	type stsFetch struct {
		p   *STSPolicy
		err error
	}
	stsCache := map[string]stsFetch{}
	for _, rcpt := range o.Rcpts {
		i := strings.LastIndexByte(rcpt, '@')
		domain := strings.ToLower(strings.TrimSuffix(strings.Trim(rcpt[i+1:], "<> "), "."))
		if i < 0 || domain == "" {
			jobs = append(jobs, job{target: Target{Host: rcpt}, rcpt: rcpt, err: fmt.Errorf("recipient %q: expected user@domain", rcpt)})
			continue
		}
		mxs, err := lookupMXPinned(ctx, o, domain)
		if err != nil {
			jobs = append(jobs, job{target: Target{Host: domain, Port: 25}, rcpt: rcpt, err: fmt.Errorf("mx %s: %w", domain, err)})
			continue
		}
		var stsPol *STSPolicy
		var stsErr error
		if o.STS {
			c, ok := stsCache[domain]
			if !ok {
				c.p, c.err = FetchSTS(ctx, domain, o.STSOptions)
				stsCache[domain] = c
			}
			stsPol, stsErr = c.p, c.err
		}
		port := o.MXPort
		if port == 0 {
			port = 25
		}
		for _, mx := range mxs {
			t := Target{Host: mx.Host, Port: port}
			var sts *STSResult
			if o.STS {
				sts = STSFor(domain, stsPol, stsErr, mx.Host)
			}
			addrs, err := o.Probe.Addrs(ctx, t)
			if err != nil {
				jobs = append(jobs, job{target: t, rcpt: rcpt, sts: sts, err: fmt.Errorf("resolve MX %s: %w", mx.Host, err)})
				continue
			}
			for _, a := range addrs {
				jobs = append(jobs, job{target: t, addr: a, rcpt: rcpt, sts: sts})
			}
		}
	}
	return jobs
}

// lookupMXPinned lets a pin for the domain's MX name stand in for DNS: with
// pins but no resolver address, a domain whose name is pinned is its own MX.
func lookupMXPinned(ctx context.Context, o Options, domain string) ([]MX, error) {
	if o.Probe.Resolver == nil || o.Probe.Resolver.Addr == "" {
		if _, ok := o.Probe.Pins[domain]; ok {
			return []MX{{Host: domain, Implicit: true}}, nil
		}
	}
	return o.Probe.Resolver.LookupMX(ctx, domain)
}

func runJob(ctx context.Context, o Options, j job) Result {
	eo := o.Eval
	eo.Require = o.Require
	eo.Rcpt = j.rcpt
	eo.STS = j.sts
	if j.err != nil {
		f := &Facts{Target: j.target.String(), ServerName: j.target.Host, Port: j.target.Port, Err: j.err}
		return Evaluate(f, o.Policy, eo)
	}
	po := o.Probe
	var tryKey string
	if o.Policy != nil && o.Policy.Format == FormatSendmail {
		if k, e, ok := o.Policy.Lookup(ServerKeys("Try_TLS:", j.target.Host, j.addr)); ok && strings.EqualFold(e.Value, "NO") {
			po.NoStartTLS = true
			tryKey = k
		}
	}
	start := time.Now()
	if o.DANE {
		if _, err := netip.ParseAddr(j.target.Host); err != nil { // TLSA needs a name
			l := o.DANEResolver.LookupTLSA(ctx, j.target.Host, j.target.Port)
			eo.DANE = &l
		}
	}
	f := ProbeAddr(ctx, po, j.target, j.addr)
	if o.Logger != nil {
		o.Logger.Debug("tlscheck connection", "target", j.target.String(), "addr", j.addr.String(), "rcpt", j.rcpt,
			"verify", f.Verify, "tls_version", f.TLSVersion, "cipher", f.Cipher, "duration", time.Since(start), "err", f.Err)
	}
	if eo.Now.IsZero() {
		eo.Now = time.Now()
	}
	r := Evaluate(f, o.Policy, eo)
	if tryKey != "" {
		r.Reasons = append([]string{tryKey + " NO: STARTTLS not attempted"}, r.Reasons...)
	}
	return r
}

// needsDANE reports whether the requirement or a policy entry asks for DANE.
func needsDANE(o Options) bool {
	if strings.EqualFold(strings.TrimSpace(o.Require), "DANE") {
		return true
	}
	if o.Policy == nil {
		return false
	}
	for _, e := range o.Policy.Entries {
		if e.pf != nil && (e.pf.Level == "dane" || e.pf.Level == "dane-only") {
			return true
		}
		if e.pf == nil && strings.EqualFold(e.Value, "DANE") {
			return true
		}
	}
	return false
}

// RunError summarizes results for the caller's exit status: nil when every
// verdict is pass; wrapping ErrPolicyViolation when any failed;
// ErrNothingChecked when no connection got far enough to be judged (or
// there were no results).
func RunError(results []Result) error {
	checked, failed := 0, 0
	var failures []string
	for _, r := range results {
		if r.Checked() {
			checked++
		}
		if r.Verdict != Pass {
			failed++
			if len(failures) < 5 {
				failures = append(failures, r.Target)
			}
		}
	}
	if checked == 0 {
		return ErrNothingChecked
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d connections failed (%s)", ErrPolicyViolation, failed, len(results), strings.Join(failures, ", "))
	}
	return nil
}
