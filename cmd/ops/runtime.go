package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/config"
	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/logging"
	"github.com/opsteam/ops/internal/notify"
	"github.com/opsteam/ops/internal/progress"
	"github.com/opsteam/ops/internal/schedule"
)

// streams are the process's output streams; every runtime of the process
// shares them.
type streams struct {
	stdout, stderr io.Writer
	stderrTTY      bool // stderr is a terminal: progress bars are drawn
	quiet          bool // -q: stdout discarded, only errors logged
}

// newStreams wraps stderr so that the loggers of several runtimes (`ops
// serve` keeps the old one for running jobs after a reload) never interleave
// inside one line.
func newStreams(stdout, stderr io.Writer) streams {
	if isTerminal(stderr) {
		// Log lines and progress bars share the terminal: a log line
		// clears the bar and the bar is drawn again below it.
		return streams{stdout: stdout, stderr: progress.NewTerminal(stderr), stderrTTY: true}
	}
	return streams{stdout: stdout, stderr: &lockedWriter{w: stderr}}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// linePrefixer writes prefix at the start of every line written through it.
type linePrefixer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	start  bool // the next byte starts a line
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b []byte
	for _, c := range p {
		if l.start {
			b = append(b, l.prefix...)
		}
		b = append(b, c)
		l.start = c == '\n'
	}
	if _, err := l.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// quieted is s for -q: results are dropped and no progress bar is drawn
// (stderr stays: the logger prints errors only, and the final error).
func (s streams) quieted(quiet bool) streams {
	if quiet {
		s.stdout, s.stderrTTY, s.quiet = io.Discard, false, true
	}
	return s
}

// opsRuntime is what command bodies and scheduled jobs run with: one load of
// the configuration and what is derived from it (logger, job locks), plus
// the streams. loadRuntime builds it once per load and nothing changes it
// afterwards, so a scheduled job keeps the runtime it was built from while
// `ops serve` reloads (a SIGHUP builds a new runtime for the new jobs).
type opsRuntime struct {
	streams
	cfg    *Config        // validated; read only
	loaded *config.Result // where the config came from (nil without a load)
	log    *slog.Logger
	locker *schedule.Locker   // per-job cross-process locks in cfg.LockDir
	notes  *notify.Dispatcher // job notifications (notify.go); nil without a config load
}

// loadOptions say where a load reads the configuration from.
type loadOptions struct {
	file  string                 // --config; "" = $OPS_CONFIG or the search path
	flags map[string]*pflag.Flag // config key → the command-line flag that overrides it
	quiet bool                   // -q: see streams.quieted
}

// loadRuntime reads and validates the configuration (file, OPS_* variables,
// flags) and builds a runtime on it. Its errors are config errors (exit 2).
func loadRuntime(s streams, lo loadOptions) (*opsRuntime, error) {
	cfg := defaultConfig()
	res, err := config.Load(config.Options{
		File:            lo.file,
		SearchPaths:     searchPaths(),
		EnvPrefix:       "OPS",
		Environ:         os.Environ(),
		Flags:           lo.flags,
		ElementDefaults: elementDefaults(),
		MapDefaults:     mapDefaults(),
	}, &cfg)
	if err != nil {
		return nil, exitcode.UsageError(err)
	}
	for i := range cfg.Backup.Jobs {
		path := fmt.Sprintf("backup.jobs[%d].retention.", i)
		cfg.Backup.Jobs[i].Retention.ZeroUnset(func(k string) bool { return res.IsSet(path + k) })
	}
	if err := cfg.Validate(); err != nil {
		return nil, exitcode.UsageError(res.Locate(err))
	}
	if err := s3SecretsOutOfFile(cfg.Storage.Targets, res); err != nil {
		return nil, exitcode.UsageError(err)
	}
	for i := range cfg.Backup.Jobs {
		cfg.Backup.Jobs[i].DefaultKeyFile = defaultKeyFile(res.File, cfg.Backup.Jobs[i].Name)
	}
	res.Warnings = append(res.Warnings, config.SecretFileWarnings(&cfg)...)
	res.Warnings = append(res.Warnings, res.InlineSecretWarnings()...)
	level, _ := logging.ParseLevel(cfg.Log.Level)
	s = s.quieted(lo.quiet)
	logTo := s.stderr
	if lo.quiet {
		level = max(level, slog.LevelError)
		if cfg.Log.Format != "json" {
			logTo = &linePrefixer{w: s.stderr, prefix: "ops: ", start: true} // cron: every printed failure line starts with "ops: "
		}
	}
	rt := &opsRuntime{
		streams: s,
		cfg:     &cfg,
		loaded:  res,
		log:     logging.New(logTo, level, cfg.Log.Format),
		locker:  schedule.NewLocker(cfg.LockDir),
	}
	rt.notes = notify.NewDispatcher(rt.log)
	for _, w := range res.Warnings {
		rt.log.Warn(w)
	}
	return rt, nil
}

// s3SecretsOutOfFile refuses an S3 secret written in the config file
// itself: it comes from secret_access_key_file or the environment
// (OPS_STORAGE_TARGETS_<NAME>_SECRET_ACCESS_KEY), so that the config can be
// shared, shown and kept in version control without it.
func s3SecretsOutOfFile(targets map[string]storage.Target, res *config.Result) error {
	for _, name := range sortedKeys(targets) {
		path := "storage.targets." + name + ".secret_access_key"
		if t := targets[name]; t.Type != "s3" || t.SecretAccessKey.IsZero() || res == nil || res.File == "" {
			continue
		}
		if w := res.Where(path); strings.HasPrefix(w, res.File+":") {
			return &config.Error{Where: w, Msg: fmt.Sprintf("%s: the secret is written in the config file: put it in secret_access_key_file (mode 0600) or in %s",
				path, "OPS_STORAGE_TARGETS_"+strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))+"_SECRET_ACCESS_KEY")}
		}
	}
	return nil
}

// bareRuntime is the runtime of commands that read no configuration
// (version, inventory diff): the streams, and a logger that drops everything.
func bareRuntime(s streams) *opsRuntime {
	return &opsRuntime{streams: s, log: slog.New(slog.DiscardHandler)}
}

// defaultKeyFile is where a job's manifest key is created and read when
// the job sets no manifest_key_file: keys/<job>.key beside the config file
// in use, else under $XDG_CONFIG_HOME/ops (~/.config/ops); "" when neither
// is known (the job's manifests then go unauthenticated; config check
// says so).
func defaultKeyFile(configFile, job string) string {
	dir := ""
	if configFile != "" {
		if abs, err := filepath.Abs(configFile); err == nil {
			dir = filepath.Dir(abs)
		}
	} else if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		dir = filepath.Join(d, "ops")
	} else if h, err := os.UserHomeDir(); err == nil && filepath.IsAbs(h) {
		dir = filepath.Join(h, ".config", "ops")
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "keys", job+".key")
}

func searchPaths() []string {
	paths := []string{"ops.yaml"}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".config", "ops", "ops.yaml"))
	}
	return append(paths, "/etc/ops/ops.yaml")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
