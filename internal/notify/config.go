package notify

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/opsteam/ops/internal/fielderr"
)

// Results a notification reports, and the values of `on:`.
const (
	Start   = "start"
	Success = "success"
	Failure = "failure"
)

// Config is a `notify:` section: the global one, or a job's, which
// replaces the global one channel by channel (see Merge).
type Config struct {
	Webhook Webhook `yaml:"webhook"`
	Email   Email   `yaml:"email"`
}

// Webhook POSTs each event as JSON to URL.
type Webhook struct {
	URL URL      `yaml:"url"`
	On  []string `yaml:"on"` // start, success, failure; empty = [failure]
	// Style "healthchecks" (the default, ""): start goes to URL/start and
	// failure to URL/fail, as healthchecks.io and its clones expect; "plain":
	// every event goes to URL itself.
	Style string `yaml:"style"`
}

// Email sends each event as a plain-text mail over SMTP with STARTTLS
// (required; the server's certificate is verified).
type Email struct {
	To     []string `yaml:"to"`
	From   string   `yaml:"from"`
	SMTP   string   `yaml:"smtp"`    // host:port; "" = 127.0.0.1:25
	On     []string `yaml:"on"`      // empty = [failure]
	CAFile string   `yaml:"ca_file"` // trust anchors of the SMTP server's certificate; "" = system roots
}

// DefaultSMTP is Email.SMTP when unset.
const DefaultSMTP = "127.0.0.1:25"

// Merge is the notify section of a job: each channel the job configures
// (a webhook URL, e-mail recipients) replaces the global one; the others
// are the global ones.
func Merge(global, job Config) Config {
	out := global
	if job.Webhook.URL != "" {
		out.Webhook = job.Webhook
	}
	if len(job.Email.To) > 0 {
		out.Email = job.Email
		if out.Email.SMTP == "" {
			out.Email.SMTP = global.Email.SMTP
		}
		if out.Email.From == "" {
			out.Email.From = global.Email.From
		}
		if out.Email.CAFile == "" && out.Email.SMTP == global.Email.SMTP {
			out.Email.CAFile = global.Email.CAFile // the same server: the same trust anchors
		}
	}
	return out
}

// Validate checks a notify section; path is its key path.
func (c *Config) Validate(path string) error {
	if err := checkOn(path+".webhook.on", c.Webhook.On); err != nil {
		return err
	}
	if err := checkOn(path+".email.on", c.Email.On); err != nil {
		return err
	}
	if c.Webhook.URL != "" {
		u, err := url.Parse(string(c.Webhook.URL))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fielderr.Newf(path+".webhook.url", "%s: expected an http:// or https:// URL", c.Webhook.URL.Redacted())
		}
	}
	switch c.Webhook.Style {
	case "", "healthchecks", "plain":
	default:
		return fielderr.Newf(path+".webhook.style", "%q: expected healthchecks or plain", c.Webhook.Style)
	}
	for i, to := range c.Email.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fielderr.Newf(fmt.Sprintf("%s.email.to[%d]", path, i), "%q: expected an e-mail address", to)
		}
	}
	if c.Email.From != "" {
		if _, err := mail.ParseAddress(c.Email.From); err != nil {
			return fielderr.Newf(path+".email.from", "%q: expected an e-mail address", c.Email.From)
		}
	}
	if c.Email.SMTP != "" {
		if _, _, err := net.SplitHostPort(c.Email.SMTP); err != nil {
			return fielderr.Newf(path+".email.smtp", "%q: expected HOST:PORT", c.Email.SMTP)
		}
	}
	return nil
}

// CheckComplete checks what a merged section needs to send anything.
func (c *Config) CheckComplete(path string) error {
	if len(c.Email.To) > 0 && c.Email.From == "" {
		return fielderr.New(path+".email.from", "e-mail notifications need a sender (from:)")
	}
	return nil
}

func checkOn(path string, on []string) error {
	for i, o := range on {
		if !slices.Contains([]string{Start, Success, Failure}, o) {
			return fielderr.Newf(fmt.Sprintf("%s[%d]", path, i), "%q: expected start, success or failure", o)
		}
	}
	return nil
}

func wants(on []string, result string) bool {
	if len(on) == 0 {
		return result == Failure
	}
	return slices.Contains(on, result)
}

// URL is a webhook URL. It often holds a secret (a healthchecks.io ping
// key, a Slack token in its path, a password): printed, logged or shown by
// config show, only its scheme and host remain.
type URL string

// Redacted is the URL with its user information, path and query replaced
// by "***".
func (u URL) Redacted() string {
	p, err := url.Parse(string(u))
	if err != nil || p.Host == "" {
		if u == "" {
			return ""
		}
		return "***"
	}
	s := p.Scheme + "://"
	if p.User != nil {
		s += "***@"
	}
	s += p.Host
	if strings.Trim(p.Path, "/") != "" {
		s += "/***"
	}
	if p.RawQuery != "" {
		s += "?***"
	}
	return s
}

func (u URL) String() string { return u.Redacted() }

// LogValue keeps the secret out of logs.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.Redacted()) }

// MarshalYAML keeps the secret out of config show.
func (u URL) MarshalYAML() (any, error) { return u.Redacted(), nil }

// MarshalJSON keeps the secret out of JSON.
func (u URL) MarshalJSON() ([]byte, error) { return json.Marshal(u.Redacted()) }
