package inventory

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opsteam/ops/internal/fielderr"
	"github.com/opsteam/ops/internal/secret"
	"github.com/opsteam/ops/internal/suggest"
)

// Config is the `inventory:` section of the ops config.
type Config struct {
	Sources                     []SourceConfig `yaml:"sources"`
	RequireFirewallCapabilities []string       `yaml:"require_firewall_capabilities"`
	Schedule                    string         `yaml:"schedule"` // robfig/cron syntax; used by `ops serve`
	Report                      ReportConfig   `yaml:"report"`
	History                     HistoryConfig  `yaml:"history"`
	Findings                    FindingsConfig `yaml:"findings"`
}

// HistoryConfig is inventory.history: where every run keeps a snapshot of
// its report, and how many are kept.
type HistoryConfig struct {
	Dir  string `yaml:"dir"`  // "" = no history
	Keep int    `yaml:"keep"` // how many snapshots (0 = DefaultHistoryKeep)
}

// FindingsConfig holds the thresholds of findings (inventory.findings).
type FindingsConfig struct {
	// SnapshotMaxAge: a VM snapshot older than this is a snapshot_age
	// warning (0 = no such finding).
	SnapshotMaxAge time.Duration `yaml:"snapshot_max_age"`
}

// DefaultSnapshotMaxAge is inventory.findings.snapshot_max_age by default.
const DefaultSnapshotMaxAge = 72 * time.Hour

// SourceConfig is one entry of `inventory.sources`. Which keys apply depends
// on Type:
//
//	vcenter:  url, user, password (env only) or password_file, insecure
//	libvirt:  uri (default qemu:///system), socket (default /run/libvirt/libvirt-sock)
//	file:     path
//	nftables: netns ("" = the host's namespace; a name under /run/netns or a path)
type SourceConfig struct {
	Name         string        `yaml:"name"`
	Type         string        `yaml:"type"`
	URL          string        `yaml:"url,omitempty"`
	User         string        `yaml:"user,omitempty"`
	Password     secret.Secret `yaml:"password,omitempty"` // from the environment only; prefer password_file
	PasswordFile string        `yaml:"password_file,omitempty"`
	Insecure     bool          `yaml:"insecure,omitempty"`
	URI          string        `yaml:"uri,omitempty"`
	Socket       string        `yaml:"socket,omitempty"`
	Path         string        `yaml:"path,omitempty"`
	Netns        string        `yaml:"netns,omitempty"`
	Timeout      time.Duration `yaml:"timeout,omitempty"` // 0 = 60s
	// RequireFirewallCapabilities replaces inventory.require_firewall_capabilities
	// for the firewalls of this source. An nftables source has no
	// requirement unless it sets one: a host firewall is not an appliance.
	RequireFirewallCapabilities []string `yaml:"require_firewall_capabilities,omitempty"`
}

// ReportConfig is where `ops serve` writes the scheduled report.
type ReportConfig struct {
	Format string `yaml:"format"` // table | json | csv | html
	Path   string `yaml:"path"`
}

// DefaultConfig is the inventory config without a config file: no sources.
func DefaultConfig() Config {
	return Config{Report: ReportConfig{Format: string(FormatHTML)},
		History:  HistoryConfig{Keep: DefaultHistoryKeep},
		Findings: FindingsConfig{SnapshotMaxAge: DefaultSnapshotMaxAge}}
}

var sourceNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// SourceTypes are the valid values of sources[].type.
var SourceTypes = []string{TypeVCenter, TypeLibvirt, TypeFile, TypeNftables}

// typeKeys are the keys only some source types use (see SourceConfig), in
// the order errors name them: set on a source of another type, such a key is
// a mistake, not noise.
var typeKeys = []struct {
	key   string
	types []string
	set   func(SourceConfig) bool
}{
	{"url", []string{TypeVCenter}, func(s SourceConfig) bool { return s.URL != "" }},
	{"user", []string{TypeVCenter}, func(s SourceConfig) bool { return s.User != "" }},
	{"password", []string{TypeVCenter}, func(s SourceConfig) bool { return !s.Password.IsZero() }},
	{"password_file", []string{TypeVCenter}, func(s SourceConfig) bool { return s.PasswordFile != "" }},
	{"insecure", []string{TypeVCenter}, func(s SourceConfig) bool { return s.Insecure }},
	{"uri", []string{TypeLibvirt}, func(s SourceConfig) bool { return s.URI != "" }},
	{"socket", []string{TypeLibvirt}, func(s SourceConfig) bool { return s.Socket != "" }},
	{"path", []string{TypeFile}, func(s SourceConfig) bool { return s.Path != "" }},
	{"netns", []string{TypeNftables}, func(s SourceConfig) bool { return s.Netns != "" }},
}

// Validate checks the section; path is its key path ("inventory"). One
// problem is returned as a *fielderr.Error; several are joined (errors.Join:
// iterate Unwrap() []error to locate each), each naming its key path.
func (c *Config) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fielderr.Newf(field, format, args...))
	}
	names := map[string]int{}
	for i, s := range c.Sources {
		p := fmt.Sprintf("%s.sources[%d]", path, i)
		switch {
		case s.Name == "":
			bad(p+".name", "required")
		case !sourceNameRE.MatchString(s.Name):
			bad(p+".name", "%q: expected letters, digits, '-', '_' or '.'", s.Name)
		default:
			if j, dup := names[s.Name]; dup {
				bad(p+".name", "%q is already used by %s.sources[%d]", s.Name, path, j)
			}
			names[s.Name] = i
		}
		if s.Timeout < 0 {
			bad(p+".timeout", "%s: expected a positive duration", s.Timeout)
		}
		switch s.Type {
		case TypeVCenter:
			if s.URL == "" {
				bad(p+".url", "required for a vcenter source (https://HOST/sdk)")
			} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad(p+".url", "%q: expected https://HOST[:PORT]/sdk", s.URL)
			} else if u.User != nil {
				bad(p+".url", "must not contain credentials: use user and password_file")
			}
			if !s.Password.IsZero() && s.PasswordFile != "" {
				bad(p+".password_file", "set either password (environment) or password_file, not both")
			}
		case TypeLibvirt:
			if s.URI != "" {
				if _, _, err := libvirtTransport(s.URI); err != nil {
					bad(p+".uri", "%v", err)
				}
			}
		case TypeFile:
			if s.Path == "" {
				bad(p+".path", "required for a file source")
			}
		case TypeNftables: // netns is optional: "" is the host
		case "":
			bad(p+".type", "required: expected vcenter, libvirt, file or nftables")
		default:
			bad(p+".type", "%q: expected vcenter, libvirt, file or nftables", s.Type)
		}
		if slices.Contains(SourceTypes, s.Type) {
			for _, k := range typeKeys {
				if k.set(s) && !slices.Contains(k.types, s.Type) {
					bad(p+"."+k.key, "not used by a %s source", s.Type)
				}
			}
		}
	}
	errs = append(errs, capabilityErrors(path, c.RequireFirewallCapabilities)...)
	for i, s := range c.Sources {
		errs = append(errs, capabilityErrors(fmt.Sprintf("%s.sources[%d]", path, i), s.RequireFirewallCapabilities)...)
	}
	// The schedule is checked by the scheduler's own parser (cmd/ops),
	// which also guards against robfig/cron's panics on TZ= specs.
	if c.Report.Format != "" && !slices.Contains(Formats, Format(c.Report.Format)) {
		bad(path+".report.format", "%q: expected table, json, csv or html", c.Report.Format)
	}
	if c.History.Keep < 0 {
		bad(path+".history.keep", "%d: expected a number of snapshots (0 = %d)", c.History.Keep, DefaultHistoryKeep)
	}
	if c.Findings.SnapshotMaxAge < 0 {
		bad(path+".findings.snapshot_max_age", "%s: expected a positive duration (0 = no snapshot_age finding)", c.Findings.SnapshotMaxAge)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// capabilityErrors checks a require_firewall_capabilities list under path.
func capabilityErrors(path string, caps []string) []error {
	var errs []error
	for i, cp := range caps {
		if !IsCapability(cp) {
			errs = append(errs, fielderr.Newf(fmt.Sprintf("%s.require_firewall_capabilities[%d]", path, i), "unknown capability %q%s (valid: %s)",
				cp, suggest.DidYouMean(cp, Capabilities), strings.Join(Capabilities, ", ")))
		}
	}
	return errs
}

// NewSources builds the sources of the config. With names, only those
// sources (an unknown name is an error). Password files are read here.
func NewSources(c Config, names ...string) ([]Source, error) {
	for _, n := range names {
		if !slices.ContainsFunc(c.Sources, func(s SourceConfig) bool { return s.Name == n }) {
			var all []string
			for _, s := range c.Sources {
				all = append(all, s.Name)
			}
			return nil, fmt.Errorf("no inventory source named %q (configured: %s)", n, strings.Join(all, ", "))
		}
	}
	var out []Source
	for _, s := range c.Sources {
		if len(names) > 0 && !slices.Contains(names, s.Name) {
			continue
		}
		src, err := newSource(s)
		if err != nil {
			return nil, fmt.Errorf("inventory source %s: %w", s.Name, err)
		}
		out = append(out, src)
	}
	return out, nil
}

func newSource(s SourceConfig) (Source, error) {
	switch s.Type {
	case TypeVCenter:
		pw := s.Password
		if s.PasswordFile != "" {
			b, err := os.ReadFile(s.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("password_file: %w", err)
			}
			pw = secret.New(strings.TrimRight(string(b), "\r\n"))
		}
		return &VCenterSource{SourceName: s.Name, URL: s.URL, User: s.User, Password: pw, Insecure: s.Insecure, Wait: s.Timeout}, nil
	case TypeLibvirt:
		return &LibvirtSource{SourceName: s.Name, URI: s.URI, Socket: s.Socket, Wait: s.Timeout}, nil
	case TypeFile:
		return &FileSource{SourceName: s.Name, Path: s.Path, Wait: s.Timeout}, nil
	case TypeNftables:
		return &NftablesSource{SourceName: s.Name, Netns: s.Netns, Wait: s.Timeout}, nil
	}
	return nil, fmt.Errorf("type %q: expected vcenter, libvirt, file or nftables", s.Type)
}

// Options builds Collect options from the config.
func (c *Config) Options(names ...string) (Options, error) {
	srcs, err := NewSources(*c, names...)
	if err != nil {
		return Options{}, err
	}
	return Options{Sources: srcs, RequireFirewallCapabilities: c.RequireFirewallCapabilities,
		SourceRequirements: c.SourceRequirements(), SnapshotMaxAge: c.Findings.SnapshotMaxAge}, nil
}

// SourceRequirements are the capabilities each source's firewalls must
// have: the source's own require_firewall_capabilities, else the global
// one, except for nftables sources (none unless configured).
func (c *Config) SourceRequirements() map[string][]string {
	out := map[string][]string{}
	for _, s := range c.Sources {
		switch {
		case len(s.RequireFirewallCapabilities) > 0:
			out[s.Name] = s.RequireFirewallCapabilities
		case s.Type == TypeNftables:
			out[s.Name] = []string{}
		default:
			out[s.Name] = c.RequireFirewallCapabilities
		}
	}
	return out
}

// HistoryStore is the history of the config; ok is false when
// inventory.history.dir is empty (no history is kept).
func (c *Config) HistoryStore() (h History, ok bool) {
	return History{Dir: c.History.Dir, Keep: c.History.Keep}, c.History.Dir != ""
}

// DeclaredPaths returns the paths of the file sources: the default
// declaration for `ops inventory check`.
func (c *Config) DeclaredPaths() []string {
	var out []string
	for _, s := range c.Sources {
		if s.Type == TypeFile && s.Path != "" {
			out = append(out, s.Path)
		}
	}
	return out
}
