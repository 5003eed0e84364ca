package tlscheck

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/opsteam/ops/internal/fielderr"
)

// Config is the `tlscheck:` section of the ops config (docs/cli.md).
type Config struct {
	Policy      string        `yaml:"policy"`  // sendmail access text or Postfix tls_policy
	CAFile      string        `yaml:"ca_file"` // empty: system roots
	Timeout     time.Duration `yaml:"timeout"`
	Concurrency int           `yaml:"concurrency"`
	Helo        string        `yaml:"helo"` // empty: the machine's host name
	// Resolver is a DNSSEC-validating resolver ADDR:PORT for DANE; when
	// set, every connection gets a TLSA lookup (empty: none, unless a DANE
	// requirement asks, then the first nameserver of /etc/resolv.conf), and
	// the MX, A/AAAA and MTA-STS lookups go to it too unless a DNS server
	// is given (--dns).
	Resolver string `yaml:"resolver"`
	// StateDir holds the MTA-STS policy cache (StateDir/mta-sts); "none":
	// no cache.
	StateDir string `yaml:"state_dir"`
	// ReportDir is a directory of TLSRPT reports (.json, .json.gz, .eml)
	// that `ops serve` sums into its metrics; empty: off.
	ReportDir string        `yaml:"report_dir"`
	Checks    []CheckConfig `yaml:"checks"`
}

// CheckConfig is one scheduled check (`tlscheck.checks[i]`) for `ops serve`.
type CheckConfig struct {
	Name     string   `yaml:"name"`
	Targets  []string `yaml:"targets"`
	Rcpts    []string `yaml:"rcpts"`
	Schedule string   `yaml:"schedule"`
}

// DefaultConfig is the configuration without a config file.
func DefaultConfig() Config {
	return Config{Timeout: DefaultTimeout, Concurrency: DefaultConcurrency, StateDir: DefaultStateDir()}
}

// DefaultStateDir is $XDG_STATE_HOME/ops, else ~/.local/state/ops ("none"
// when neither is known).
func DefaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "ops")
	}
	if h, err := os.UserHomeDir(); err == nil && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "ops")
	}
	return "none"
}

var checkNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// Validate checks the section; path is its key path ("tlscheck"). It does not
// open files (the policy may live on another machine than `config check`);
// the schedule is checked by the scheduler's parser in cmd.
func (c *Config) Validate(path string) error {
	if c.Timeout <= 0 || c.Timeout > time.Hour {
		return fielderr.Newf(path+".timeout", "%s is out of range: expected more than 0s and at most 1h", c.Timeout)
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		return fielderr.Newf(path+".concurrency", "%d is out of range: expected 1 to 1024", c.Concurrency)
	}
	if strings.ContainsAny(c.Helo, " \t\r\n") {
		return fielderr.Newf(path+".helo", "%q: a host name cannot contain blanks", c.Helo)
	}
	if c.Resolver != "" {
		if _, err := netip.ParseAddrPort(c.Resolver); err != nil {
			return fielderr.Newf(path+".resolver", "%q: expected ADDR:PORT of a DNSSEC-validating resolver, e.g. 127.0.0.1:53", c.Resolver)
		}
	}
	if c.StateDir != "" && c.StateDir != "none" && !filepath.IsAbs(c.StateDir) {
		return fielderr.Newf(path+".state_dir", "%q: expected an absolute directory, or none", c.StateDir)
	}
	if c.ReportDir != "" && !filepath.IsAbs(c.ReportDir) {
		return fielderr.Newf(path+".report_dir", "%q: expected an absolute directory, or empty (off)", c.ReportDir)
	}
	seen := map[string]int{}
	for i, ch := range c.Checks {
		p := fmt.Sprintf("%s.checks[%d]", path, i)
		if !checkNameRE.MatchString(ch.Name) {
			return fielderr.Newf(p+".name", "%q is not a valid check name: expected lower-case letters, digits and '-'", ch.Name)
		}
		if j, dup := seen[ch.Name]; dup {
			return fielderr.Newf(p+".name", "%q is already used by %s.checks[%d]", ch.Name, path, j)
		}
		seen[ch.Name] = i
		if len(ch.Targets) == 0 && len(ch.Rcpts) == 0 {
			return fielderr.New(p, "a check needs targets or rcpts")
		}
		for k, t := range ch.Targets {
			if _, err := ParseTarget(t); err != nil {
				return fielderr.New(fmt.Sprintf("%s.targets[%d]", p, k), err.Error())
			}
		}
		for k, r := range ch.Rcpts {
			at := strings.LastIndexByte(r, '@')
			if at <= 0 || at == len(r)-1 || strings.ContainsAny(r, " \t") {
				return fielderr.Newf(fmt.Sprintf("%s.rcpts[%d]", p, k), "%q: expected user@domain", r)
			}
		}
		if strings.TrimSpace(ch.Schedule) == "" {
			return fielderr.New(p+".schedule", "empty: expected a cron expression or @every/@hourly/@daily")
		}
	}
	return nil
}
