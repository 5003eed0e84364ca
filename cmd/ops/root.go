package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opsteam/ops/internal/config"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/output"
)

// noConfig marks commands that run without loading the config (version).
const noConfig = "ops/no-config"

// cli is the command tree's state: the streams, the global flags, which
// command flags override which config keys, and the runtime that
// PersistentPreRunE built for the command being run. There are no
// package-level globals; run builds one cli per command line.
type cli struct {
	streams streams

	configFile string
	logLevel   string
	logFormat  string
	quiet      bool // -q: nothing on stdout or stderr on success, each error once

	// cfgFlags binds config keys to command flags; several commands may
	// bind the same key (tlscheck and tlscheck relay both have --policy).
	cfgFlags []flagBinding

	started bool        // PersistentPreRunE was reached (flags and args were valid)
	rt      *opsRuntime // set once by PersistentPreRunE
}

type flagBinding struct {
	key  string
	flag *pflag.Flag
}

// bindConfigFlag makes a command flag override a config key.
func (c *cli) bindConfigFlag(key string, f *pflag.Flag) {
	c.cfgFlags = append(c.cfgFlags, flagBinding{key, f})
}

// load reads the configuration as cmd's command line says (--config, the
// flags bound to config keys) and builds a new runtime on it. `ops serve`
// calls it again on SIGHUP.
func (c *cli) load(cmd *cobra.Command) (*opsRuntime, error) {
	flags := map[string]*pflag.Flag{
		"log.level":  cmd.Flags().Lookup("log-level"),
		"log.format": cmd.Flags().Lookup("log-format"),
	}
	for _, b := range c.cfgFlags {
		if cmd.Flags().Lookup(b.flag.Name) == b.flag { // a flag of the command being run
			flags[b.key] = b.flag
		}
	}
	return loadRuntime(c.streams, loadOptions{file: c.configFile, flags: flags, quiet: c.quiet})
}

func newRootCmd(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "ops",
		Short: "Backups, mail TLS policy checks and inventory for operations teams",
		Long: `ops backs up MySQL/MariaDB to OpenStack Swift or a local directory, checks SMTP
STARTTLS peers against a sendmail-style policy, and reports hypervisors, VMs and
firewalls.

Configuration: --config FILE, else $OPS_CONFIG, else the first of ./ops.yaml,
~/.config/ops/ops.yaml, /etc/ops/ops.yaml; none at all is valid. Every key can
be overridden by OPS_<KEY PATH> (upper case, "." → "_"), and flags override both.

Under cron, add -q (--quiet): nothing is printed on success, and a failure is
printed exactly once, every line of it starting "ops: ", so cron mails only
problems.

Exit status: 0 ok, 1 a check found a problem, 2 usage or config error,
3 runtime failure, 130 interrupted.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			c.started = true
			if cmd.Annotations[noConfig] == "true" {
				c.rt = bareRuntime(c.streams.quieted(c.quiet))
				return nil
			}
			rt, err := c.load(cmd)
			if err != nil {
				return err
			}
			c.rt = rt
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.configFile, "config", "", "config `FILE` (default: $OPS_CONFIG, ./ops.yaml, ~/.config/ops/ops.yaml, /etc/ops/ops.yaml)")
	pf.StringVar(&c.logLevel, "log-level", "info", "`level`: debug, info, warn or error")
	pf.StringVar(&c.logFormat, "log-format", "text", "`format`: text or json")
	pf.BoolVarP(&c.quiet, "quiet", "q", false, "print nothing on success (no results, no progress, no log below error); a failure is still printed, once (for cron)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return exitcode.UsageError(err)
	})
	root.SetOut(c.streams.stdout)
	root.SetErr(c.streams.stderr)
	root.AddCommand(
		newVersionCmd(c),
		newConfigCmd(c),
		newBackupCmd(c),
		newTLSCheckCmd(c),
		newInventoryCmd(c),
		newServeCmd(c),
	)
	addExamples(root)
	c.typeFlags()
	return root
}

// run executes one command line and returns the exit status. It is the only
// place that prints the final error; exitStatus (exit.go) gives the number.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{streams: newStreams(stdout, stderr)}
	root := newRootCmd(c)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	c.rt.waitNotifications()
	if err == nil {
		return exitcode.OK
	}
	code := exitStatus(ctx, err, c.started)
	printError(c, err, code)
	return code
}

func printError(c *cli, err error, code int) {
	var ce *config.Error
	var ces config.Errors
	if rt := c.rt; rt != nil && rt.cfg != nil && rt.cfg.Log.Format == "json" {
		rt.log.Error(err.Error(), "exit_code", code)
		return
	}
	stderr := c.streams.stderr
	if errors.As(err, &ce) || errors.As(err, &ces) {
		msg := output.EscapeLines(err.Error()) // already FILE:LINE: message, one per line
		if c.quiet {
			msg = opsLines(msg) // cron: every line of a failure starts with "ops: "
		}
		fmt.Fprintln(stderr, msg)
		return
	}
	msg := errorText(err)
	if code == exitcode.Usage && !c.started {
		msg += " (see 'ops --help')"
	}
	fmt.Fprintln(stderr, opsLines(strings.TrimSpace(msg)))
}

// opsLines starts every line of msg (several joined errors, the findings
// of --fail-on) with "ops: ", so that none of them reads as another
// program's output in a cron mail or a grep.
func opsLines(msg string) string {
	return "ops: " + strings.ReplaceAll(msg, "\n", "\nops: ")
}

// errorText is err's message for a terminal. The message may quote a server
// (an SMTP reply, a vCenter fault): it is escaped (output.Escape), and a
// line break stays only where errors.Join put one between two errors, so
// that neither escape sequences nor forged lines reach the terminal.
func errorText(err error) string {
	msg := err.Error()
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		parts := make([]string, len(errs))
		for i, e := range errs {
			if e == nil {
				return output.Escape(msg)
			}
			parts[i] = e.Error()
		}
		if msg == strings.Join(parts, "\n") { // errors.Join
			for i, e := range errs {
				parts[i] = errorText(e)
			}
			return strings.Join(parts, "\n")
		}
		// fmt.Errorf("...: %w", a, b): the text of the last one ends it.
		if len(errs) > 0 && errs[len(errs)-1] != nil && strings.HasSuffix(msg, errs[len(errs)-1].Error()) {
			last := errs[len(errs)-1]
			return output.Escape(strings.TrimSuffix(msg, last.Error())) + errorText(last)
		}
	}
	if u := errors.Unwrap(err); u != nil && strings.HasSuffix(msg, u.Error()) {
		return output.Escape(strings.TrimSuffix(msg, u.Error())) + errorText(u)
	}
	return output.Escape(msg)
}
