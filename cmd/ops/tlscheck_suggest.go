package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/tlscheck"
)

type tlsSuggestOptions struct {
	check   tlscheckOptions
	format  string
	verbose bool
}

func newTLSSuggestCmd(c *cli) *cobra.Command {
	opts := tlsSuggestOptions{format: "sendmail"}
	cmd := &cobra.Command{
		Use:   "suggest [TARGET...] [--rcpt ADDR]... [--format sendmail|postfix]",
		Short: "Print the strictest TLS policy line each peer passes today (sendmail TLS_Srv: or Postfix smtp_tls_policy_maps)",
		Long: `Probe each TARGET and every MX of each --rcpt domain and print, per peer, the
strictest policy line every connection to it passes today, each evaluated back
through ops' own engine before it is printed. sendmail: TLS_Srv:HOST<TAB>RULE,
strictest first VERIFY:bits+CN, VERIFY:bits+CI:<issuer DN in sendmail's
encoding>, VERIFY:bits, ENCR:bits. Postfix (next hop [host], [host]:port or
the recipient domain): dane-only (with --resolver), secure, secure match=HOSTS,
encrypt, with protocols=>=TLSv1.2 where every connection negotiated it. A peer
without STARTTLS or that could not be probed is a comment saying why.

Exit status: 0 printed, 2 usage or config error, 3 nothing could be probed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTLSSuggest(cmd.Context(), c.rt, opts, args)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.check.rcpts, "rcpt", nil, "user@domain: suggest a line for every MX of the domain (repeatable)")
	fl.StringVar(&opts.format, "format", "sendmail", "sendmail (access map TLS_Srv: lines) or postfix (smtp_tls_policy_maps lines)")
	fl.String("ca", "", "trust anchors (PEM); default tlscheck.ca_file, else the system roots")
	c.bindConfigFlag("tlscheck.ca_file", fl.Lookup("ca"))
	fl.StringArrayVar(&opts.check.resolve, "resolve", nil, "HOST:PORT:ADDR: connect to ADDR for HOST:PORT, like curl (repeatable)")
	fl.String("timeout", "", "bound on each connection (default tlscheck.timeout, 30s)")
	c.bindConfigFlag("tlscheck.timeout", fl.Lookup("timeout"))
	fl.String("helo", "", "EHLO name (default tlscheck.helo, else the host name)")
	c.bindConfigFlag("tlscheck.helo", fl.Lookup("helo"))
	fl.StringVar(&opts.check.dns, "dns", "", "DNS server HOST:PORT for MX and A/AAAA lookups (default: the system resolver)")
	fl.String("resolver", "", "DNSSEC-validating resolver ADDR:PORT (default tlscheck.resolver): TLSA lookups, so that Postfix dane-only can be suggested")
	c.bindConfigFlag("tlscheck.resolver", fl.Lookup("resolver"))
	fl.IntVar(&opts.check.mxPort, "mx-port", 25, "port used for the MX hosts of --rcpt domains")
	fl.BoolVar(&opts.check.legacy, "legacy", false, "also offer TLS 1.0/1.1 and old cipher suites (for legacy peers)")
	fl.BoolVarP(&opts.verbose, "verbose", "v", false, "a comment before each line: why it is the strictest, the connections it was checked against")
	return cmd
}

func runTLSSuggest(ctx context.Context, rt *opsRuntime, opts tlsSuggestOptions, args []string) error {
	var format tlscheck.Format
	switch opts.format {
	case "sendmail":
		format = tlscheck.FormatSendmail
	case "postfix":
		format = tlscheck.FormatPostfix
	default:
		return exitcode.UsageError(fmt.Errorf("--format %q: expected sendmail or postfix", opts.format))
	}
	if len(args) == 0 && len(opts.check.rcpts) == 0 {
		return exitcode.UsageError(errors.New("nothing to suggest for: give TARGET or --rcpt"))
	}
	for _, t := range args {
		if _, err := tlscheck.ParseTarget(t); err != nil {
			return exitcode.UsageError(fmt.Errorf("target %q: %w", t, err))
		}
	}
	opts.check.sni = true
	o, err := rt.checkOptions(opts.check)
	if err != nil {
		return err
	}
	o.Targets, o.Rcpts = args, opts.check.rcpts
	ss, err := tlscheck.Suggest(ctx, o, format)
	if err != nil {
		return err
	}
	if err := tlscheck.WriteSuggestions(rt.stdout, ss, opts.verbose); err != nil {
		return err
	}
	return tlscheck.SuggestError(ss)
}
