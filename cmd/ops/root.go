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
	return loadRuntime(c.streams, loadOptions{file: c.configFile, flags: flags})
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

Exit status: 0 ok, 1 a check found a problem, 2 usage or config error,
3 runtime failure, 130 interrupted.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			c.started = true
			if cmd.Annotations[noConfig] == "true" {
				c.rt = bareRuntime(c.streams)
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
	pf.StringVar(&c.configFile, "config", "", "config file (default: $OPS_CONFIG, ./ops.yaml, ~/.config/ops/ops.yaml, /etc/ops/ops.yaml)")
	pf.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
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
	return root
}

// run executes one command line and returns the exit status. It is the only
// place that prints the final error; exitStatus (exit.go) gives the number.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{streams: newStreams(stdout, stderr)}
	root := newRootCmd(c)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
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
	msg := err.Error()
	if errors.As(err, &ce) || errors.As(err, &ces) {
		fmt.Fprintln(stderr, msg) // already FILE:LINE: message, one per line
		return
	}
	if code == exitcode.Usage && !c.started {
		msg += " (see 'ops --help')"
	}
	fmt.Fprintln(stderr, "ops: "+strings.TrimSpace(msg))
}
