package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opsteam/ops/internal/config"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/logging"
)

// noConfig marks commands that run without loading the config (version).
const noConfig = "ops/no-config"

// app carries what every command shares: the streams, the global flags, and
// (after PersistentPreRunE) the loaded config and the logger. There are no
// package-level globals; main builds one app per run.
type app struct {
	stdout, stderr io.Writer
	stderrTTY      bool

	configFile string
	logLevel   string
	logFormat  string

	// cfgFlags binds config keys to command flags; several commands may
	// bind the same key (tlscheck and tlscheck relay both have --policy).
	cfgFlags []flagBinding

	cfg    *Config
	loaded *config.Result
	log    *slog.Logger

	started bool // PersistentPreRunE was reached (flags and args were valid)

	lastBackupSize int64 // bytes stored by the last backupOnce, for metrics
}

func searchPaths() []string {
	paths := []string{"ops.yaml"}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".config", "ops", "ops.yaml"))
	}
	return append(paths, "/etc/ops/ops.yaml")
}

type flagBinding struct {
	key  string
	flag *pflag.Flag
}

// bindConfigFlag makes a command flag override a config key.
func (a *app) bindConfigFlag(key string, f *pflag.Flag) {
	a.cfgFlags = append(a.cfgFlags, flagBinding{key, f})
}

// loadConfig loads and validates the configuration once.
func (a *app) loadConfig(cmd *cobra.Command) error {
	cfg := defaultConfig()
	flags := map[string]*pflag.Flag{
		"log.level":  cmd.Flags().Lookup("log-level"),
		"log.format": cmd.Flags().Lookup("log-format"),
	}
	for _, b := range a.cfgFlags {
		if cmd.Flags().Lookup(b.flag.Name) == b.flag { // a flag of the command being run
			flags[b.key] = b.flag
		}
	}
	res, err := config.Load(config.Options{
		File:            a.configFile,
		SearchPaths:     searchPaths(),
		EnvPrefix:       "OPS",
		Environ:         os.Environ(),
		Flags:           flags,
		ElementDefaults: elementDefaults(),
		MapDefaults:     mapDefaults(),
	}, &cfg)
	a.loaded = res
	if err != nil {
		return exitcode.UsageError(err)
	}
	if err := cfg.Validate(); err != nil {
		return exitcode.UsageError(res.Locate(err))
	}
	res.Warnings = append(res.Warnings, config.SecretFileWarnings(&cfg)...)
	a.cfg = &cfg
	return nil
}

func (a *app) setupLogging() {
	level, _ := logging.ParseLevel(a.cfg.Log.Level)
	a.log = logging.New(a.stderr, level, a.cfg.Log.Format)
	if a.loaded != nil {
		for _, w := range a.loaded.Warnings {
			a.log.Warn(w)
		}
	}
}

func newRootCmd(a *app) *cobra.Command {
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
			a.started = true
			if cmd.Annotations[noConfig] == "true" {
				return nil
			}
			if err := a.loadConfig(cmd); err != nil {
				return err
			}
			a.setupLogging()
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "config file (default: $OPS_CONFIG, ./ops.yaml, ~/.config/ops/ops.yaml, /etc/ops/ops.yaml)")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return exitcode.UsageError(err)
	})
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(
		newVersionCmd(a),
		newConfigCmd(a),
		newBackupCmd(a),
		newTLSCheckCmd(a),
		newInventoryCmd(a),
		newServeCmd(a),
	)
	return root
}

// run executes one command line and returns the exit status. It is the only
// place that turns an error into a number and prints it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, stderrTTY: isTerminal(stderr)}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitcode.OK
	}
	code := exitcode.Of(err)
	if !a.started && code == exitcode.Runtime {
		// cobra's own errors: unknown command, bad arguments.
		code = exitcode.Usage
	}
	if ctx.Err() != nil && code == exitcode.Runtime {
		code = exitcode.Interrupted
	}
	printError(a, err, code)
	return code
}

func printError(a *app, err error, code int) {
	var ce *config.Error
	var ces config.Errors
	if a.log != nil && a.cfg != nil && a.cfg.Log.Format == "json" {
		a.log.Error(err.Error(), "exit_code", code)
		return
	}
	msg := err.Error()
	if errors.As(err, &ce) || errors.As(err, &ces) {
		fmt.Fprintln(a.stderr, msg) // already FILE:LINE: message, one per line
		return
	}
	if code == exitcode.Usage && !a.started {
		msg += " (see 'ops --help')"
	}
	fmt.Fprintln(a.stderr, "ops: "+strings.TrimSpace(msg))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
