package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/metrics"
	"github.com/opsteam/ops/internal/output"
	"github.com/opsteam/ops/internal/schedule"
	"github.com/opsteam/ops/tlscheck"
)

// tlscheckOptions are the flags of `ops tlscheck` (those bound to config
// keys are read through the runtime's config).
type tlscheckOptions struct {
	rcpts       []string
	require     string
	resolve     []string
	noSNI       bool
	sni         bool
	output      outputFlag
	dns         string
	legacy      bool
	warnDays    int
	mtaSTS      bool
	mxPort      int
	check       string
	metricsFile metricsFileFlag
	verbose     bool
}

func newTLSCheckCmd(c *cli) *cobra.Command {
	f := tlscheckOptions{output: newOutputFlag(output.Table, output.JSON)}
	cmd := &cobra.Command{
		Use:   "tlscheck [TARGET...]",
		Short: "Check SMTP STARTTLS peers against a sendmail-style TLS policy",
		Long: `Connect to each TARGET (host[:port], port 25 by default; 465 is implicit TLS)
and to every MX of each --rcpt domain, negotiate STARTTLS, verify the chain and
say whether the policy (sendmail access text with TLS_Srv:/TLS_Rcpt:/…, or a
Postfix smtp_tls_policy_maps file) would accept the server, with the SMTP reply
sendmail would give when not. With neither a policy entry nor --require, the
requirement is VERIFY+CA; --require DANE asks for a DNSSEC-validated TLSA
record that matches (DANE-TA or DANE-EE, RFC 7672), like Postfix' dane-only.
With --resolver, the DANE outcome (pass, fail, none, insecure) is reported
for every connection. With no TARGET and no --rcpt, every configured
tlscheck.checks entry is run (or the one named by --check).

Exit status: 0 every verdict is pass, 1 any is fail, 2 usage or config error,
3 nothing could be checked.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTLSCheck(cmd.Context(), c.rt, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.rcpts, "rcpt", nil, "user@domain: check every MX of the domain under the TLS_Rcpt: rules (repeatable)")
	fl.String("policy", "", "policy file: sendmail access text or Postfix tls_policy (default tlscheck.policy)")
	c.bindConfigFlag("tlscheck.policy", fl.Lookup("policy"))
	fl.StringVar(&f.require, "require", "", `right-hand side applied where no policy entry applies, e.g. "VERIFY:128+CA"`)
	fl.String("ca", "", "trust anchors (PEM); default tlscheck.ca_file, else the system roots")
	c.bindConfigFlag("tlscheck.ca_file", fl.Lookup("ca"))
	fl.StringArrayVar(&f.resolve, "resolve", nil, "HOST:PORT:ADDR: connect to ADDR for HOST:PORT, like curl (repeatable)")
	fl.BoolVar(&f.sni, "sni", true, "send the server name in SNI (no trailing dot)")
	fl.BoolVar(&f.noSNI, "no-sni", false, "do not send SNI")
	fl.String("timeout", "", "bound on each connection (default tlscheck.timeout, 30s)")
	c.bindConfigFlag("tlscheck.timeout", fl.Lookup("timeout"))
	fl.String("concurrency", "", "connections in flight (default tlscheck.concurrency, 32)")
	c.bindConfigFlag("tlscheck.concurrency", fl.Lookup("concurrency"))
	fl.String("helo", "", "EHLO name (default tlscheck.helo, else the host name)")
	c.bindConfigFlag("tlscheck.helo", fl.Lookup("helo"))
	f.output.register(fl)
	fl.StringVar(&f.dns, "dns", "", "DNS server HOST:PORT for MX, A/AAAA and MTA-STS lookups (default: the system resolver)")
	fl.BoolVar(&f.legacy, "legacy", false, "also offer TLS 1.0/1.1 and old cipher suites (for legacy peers)")
	fl.IntVar(&f.warnDays, "warn-days", 21, "warn when a certificate expires within this many days")
	fl.BoolVar(&f.mtaSTS, "mta-sts", true, "for --rcpt domains, fetch the MTA-STS policy and judge each MX by it")
	fl.IntVar(&f.mxPort, "mx-port", 25, "port used for the MX hosts of --rcpt domains")
	fl.StringVar(&f.check, "check", "", "run only the configured check of this name")
	fl.String("resolver", "", "DNSSEC-validating resolver ADDR:PORT for DANE (default tlscheck.resolver): look up TLSA _PORT._tcp.HOST for every target and MX (its AD bit is trusted, as Postfix does), and, without --dns, the MX, A/AAAA and MTA-STS lookups too; without it, --require DANE and Postfix dane/dane-only entries use the --dns server, else the first nameserver of /etc/resolv.conf")
	c.bindConfigFlag("tlscheck.resolver", fl.Lookup("resolver"))
	fl.String("state-dir", "", `state directory (default tlscheck.state_dir, ~/.local/state/ops): MTA-STS policies are cached in DIR/mta-sts until their max_age ("none": no cache)`)
	c.bindConfigFlag("tlscheck.state_dir", fl.Lookup("state-dir"))
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "one block per connection: key exchange, key, fingerprints, chain as presented, OCSP staple, DANE, reasons")
	f.metricsFile.register(fl)
	cmd.AddCommand(newTLSRelayCmd(c), newTLSLintCmd(c), newTLSReportCmd(c), newTLSSuggestCmd(c))
	return cmd
}

// checkOptions builds the check options shared by one-shot runs and
// scheduled checks.
func (rt *opsRuntime) checkOptions(f tlscheckOptions) (tlscheck.Options, error) {
	o, err := rt.cfg.TLSCheck.Options()
	if err != nil {
		return o, err
	}
	o.Require = f.require
	o.Probe.NoSNI = f.noSNI || !f.sni
	o.Probe.Legacy = f.legacy
	o.MXPort = f.mxPort
	o.STS = f.mtaSTS
	o.Eval.WarnDays = f.warnDays
	o.Logger = rt.log
	if f.dns != "" {
		if _, err := netip.ParseAddrPort(f.dns); err != nil {
			return o, exitcode.UsageError(fmt.Errorf("--dns %q: expected ADDR:PORT, e.g. 127.0.0.1:53", f.dns))
		}
		o.Probe.Resolver = &tlscheck.Resolver{Addr: f.dns}
	}
	for _, r := range f.resolve {
		key, addr, err := tlscheck.ParsePin(r)
		if err != nil {
			return o, exitcode.UsageError(fmt.Errorf("--resolve %q: %w", r, err))
		}
		if o.Probe.Pins == nil {
			o.Probe.Pins = map[string]netip.Addr{}
		}
		o.Probe.Pins[key] = addr
	}
	return o, nil
}

func runTLSCheck(ctx context.Context, rt *opsRuntime, f tlscheckOptions, args []string) error {
	if err := f.output.check(); err != nil {
		return err
	}
	if f.warnDays < -1 || f.warnDays > 3650 {
		return exitcode.UsageError(fmt.Errorf("--warn-days %d is out of range: expected 0 to 3650 (or -1 for never)", f.warnDays))
	}
	for _, t := range args {
		if _, err := tlscheck.ParseTarget(t); err != nil {
			return exitcode.UsageError(fmt.Errorf("target %q: %w", t, err))
		}
	}
	o, err := rt.checkOptions(f)
	if err != nil {
		return err
	}
	name := "adhoc"
	o.Targets, o.Rcpts = args, f.rcpts
	if len(args) == 0 && len(f.rcpts) == 0 {
		checks := rt.cfg.TLSCheck.Checks
		if f.check != "" {
			checks = nil
			for _, c := range rt.cfg.TLSCheck.Checks {
				if c.Name == f.check {
					checks = append(checks, c)
				}
			}
			if checks == nil {
				return exitcode.UsageError(fmt.Errorf("--check %s: no such check in tlscheck.checks", f.check))
			}
			name = f.check
		}
		if len(checks) == 0 {
			return exitcode.UsageError(errors.New("nothing to check: give TARGET or --rcpt, or configure tlscheck.checks"))
		}
		for _, c := range checks {
			o.Targets = append(o.Targets, c.Targets...)
			o.Rcpts = append(o.Rcpts, c.Rcpts...)
		}
		if f.check == "" {
			name = "all"
		}
	}
	if rt.stderrTTY {
		o.Progress = func(done, total int, r tlscheck.Result) {
			fmt.Fprintf(rt.stderr, "\rchecked %d/%d\033[K", done, total)
			if done == total {
				fmt.Fprint(rt.stderr, "\r\033[K")
			}
		}
	}
	start := time.Now()
	results, err := tlscheck.Check(ctx, o)
	if err != nil {
		return err
	}
	err = f.output.write(rt.stdout,
		func(w io.Writer) error { return tlscheck.WriteJSON(w, results) },
		func(w io.Writer) error {
			if f.verbose {
				return tlscheck.WriteDetail(w, results, time.Now())
			}
			return tlscheck.WriteTable(w, results, time.Now())
		})
	if err != nil {
		return err
	}
	runErr := tlscheck.RunError(results)
	f.metricsFile.record(rt, metrics.Run{Kind: metrics.KindTLSCheck, Name: name, Start: start, Err: runErr,
		Result: metrics.Result{Verdicts: verdicts(results)}})
	return runErr
}

func verdicts(results []tlscheck.Result) []metrics.Verdict {
	out := make([]metrics.Verdict, 0, len(results))
	for _, r := range results {
		t := r.Target
		if r.Addr != "" {
			t += " " + r.Addr
		}
		v := metrics.Verdict{Target: t, Pass: r.Verdict == tlscheck.Pass}
		if na, err := time.Parse(time.RFC3339, r.NotAfter); err == nil {
			v.CertExpiry = na
		}
		out = append(out, v)
	}
	return out
}

// tlscheckJobs are the scheduled tlscheck.checks entries for `ops serve`.
func (rt *opsRuntime) tlscheckJobs() []schedule.Job {
	var jobs []schedule.Job
	for _, check := range rt.cfg.TLSCheck.Checks {
		jobs = append(jobs, schedule.Job{
			Kind: metrics.KindTLSCheck, Name: check.Name, Schedule: check.Schedule, Timeout: scheduledCheckTimeout,
			Run: func(ctx context.Context) (metrics.Result, error) {
				o, err := rt.checkOptions(tlscheckOptions{sni: true, mtaSTS: true, mxPort: 25, warnDays: 21})
				if err != nil {
					return metrics.Result{}, err
				}
				o.Targets, o.Rcpts = check.Targets, check.Rcpts
				results, err := tlscheck.Check(ctx, o)
				if err != nil {
					return metrics.Result{}, err
				}
				for _, r := range results {
					if r.Verdict != tlscheck.Pass {
						rt.log.Warn("tls policy failure", "check", check.Name, "target", r.Target, "addr", r.Addr,
							"reply", r.Reply, "reasons", strings.Join(r.Reasons, "; "))
					}
				}
				return metrics.Result{Verdicts: verdicts(results)}, tlscheck.RunError(results)
			},
		})
	}
	return jobs
}

type tlsRelayOptions struct {
	cert   string
	output outputFlag
}

func newTLSRelayCmd(c *cli) *cobra.Command {
	opts := tlsRelayOptions{output: newOutputFlag(output.Table, output.JSON)}
	cmd := &cobra.Command{
		Use:   "relay --cert FILE",
		Short: "Would CertIssuer:/CertSubject:/ALTNAMES: rules let this client certificate relay? (exit 0 RELAY, 1 NO RELAY)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTLSRelay(cmd.Context(), c.rt, opts)
		},
	}
	cmd.Flags().StringVar(&opts.cert, "cert", "", "client certificate (PEM; a chain is allowed, leaf first)")
	cmd.Flags().String("policy", "", "policy file (default tlscheck.policy)")
	c.bindConfigFlag("tlscheck.policy", cmd.Flags().Lookup("policy"))
	cmd.Flags().String("ca", "", "trust anchors (PEM; default tlscheck.ca_file, else the system roots)")
	c.bindConfigFlag("tlscheck.ca_file", cmd.Flags().Lookup("ca"))
	opts.output.register(cmd.Flags())
	return cmd
}

func runTLSRelay(_ context.Context, rt *opsRuntime, opts tlsRelayOptions) error {
	if err := opts.output.check(); err != nil {
		return err
	}
	if opts.cert == "" {
		return exitcode.UsageError(errors.New("--cert FILE is required"))
	}
	o, err := rt.cfg.TLSCheck.Options()
	if err != nil {
		return err
	}
	if o.Policy == nil {
		return exitcode.UsageError(errors.New("no policy: give --policy FILE or set tlscheck.policy"))
	}
	chain, err := tlscheck.LoadCertificates(opts.cert)
	if err != nil {
		return exitcode.UsageError(fmt.Errorf("--cert %s: %w", opts.cert, err))
	}
	r := tlscheck.Relay(chain, o.Policy, tlscheck.RelayOptions{Roots: o.Probe.Roots})
	err = opts.output.write(rt.stdout,
		func(w io.Writer) error { return tlscheck.WriteRelayJSON(w, r) },
		func(w io.Writer) error { return tlscheck.WriteRelayTable(w, r) })
	if err != nil {
		return err
	}
	return tlscheck.RelayError(r)
}

func newTLSLintCmd(c *cli) *cobra.Command {
	var lo tlscheck.LintOptions
	cmd := &cobra.Command{
		Use:   "lint",
		Short: "Print FILE:LINE: message for every policy entry sendmail would silently misread (exit 1 if any)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTLSLint(cmd.Context(), c.rt, lo)
		},
	}
	cmd.Flags().BoolVar(&lo.AllowExtensions, "allow-extensions", false, "accept ops' own extensions (CA, CA:name, DANE, ALTNAMES:) as intended; typos are still reported")
	cmd.Flags().String("policy", "", "policy file (default tlscheck.policy)")
	c.bindConfigFlag("tlscheck.policy", cmd.Flags().Lookup("policy"))
	return cmd
}

// runTLSLint lints the policy file of the config (--policy overrides it).
func runTLSLint(_ context.Context, rt *opsRuntime, lo tlscheck.LintOptions) error {
	path := rt.cfg.TLSCheck.Policy
	if path == "" {
		return exitcode.UsageError(errors.New("no policy: give --policy FILE or set tlscheck.policy"))
	}
	p, err := tlscheck.LoadPolicy(path)
	if err != nil {
		return err
	}
	fs := tlscheck.LintWith(p, lo)
	if err := tlscheck.WriteFindings(rt.stdout, fs); err != nil {
		return err
	}
	return tlscheck.LintError(fs)
}
