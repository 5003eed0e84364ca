package main

import (
	"fmt"
	"net"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/fielderr"
	"github.com/opsteam/ops/internal/logging"
	"github.com/opsteam/ops/internal/notify"
	"github.com/opsteam/ops/internal/schedule"
	"github.com/opsteam/ops/inventory"
	"github.com/opsteam/ops/tlscheck"
)

// Config is the whole ops configuration. Each section is owned by its
// domain package; this file only assembles them (the contract is
// ../shared/docs/cli.md).
type Config struct {
	Log       LogConfig        `yaml:"log"`
	Storage   storage.Config   `yaml:"storage"`
	Backup    backup.Config    `yaml:"backup"`
	TLSCheck  tlscheck.Config  `yaml:"tlscheck"`
	Inventory inventory.Config `yaml:"inventory"`
	Serve     ServeConfig      `yaml:"serve"`
	// Notify is the default notification of every job (a job's notify:
	// replaces it channel by channel).
	Notify notify.Config `yaml:"notify"`
	// LockDir holds the per-job lock files shared by one-shot commands and
	// `ops serve` ("" = /var/lib/ops/locks when writable, else a runtime dir).
	LockDir string `yaml:"lock_dir"`
}

// LogConfig is the `log:` section.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// ServeConfig is the `serve:` section. The HTTP settings are read when
// `ops serve` starts; a SIGHUP re-reads the token and certificate files.
type ServeConfig struct {
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token every request must present; "" =
	// no authentication.
	TokenFile string `yaml:"token_file"`
	// TLSCertFile and TLSKeyFile (PEM; both or neither) make the endpoints
	// HTTPS only.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// StatusPage serves / and /status.json; false: they answer 404.
	StatusPage bool `yaml:"status_page"`
}

// defaultConfig is the configuration when no file and no variable says
// otherwise.
func defaultConfig() Config {
	return Config{
		Log:       LogConfig{Level: "info", Format: "text"},
		Storage:   storage.Config{Targets: storage.DefaultTargets(), RetryBudget: storage.DefaultRetryBudget},
		TLSCheck:  tlscheck.DefaultConfig(),
		Inventory: inventory.DefaultConfig(),
		Serve:     ServeConfig{Listen: "127.0.0.1:9273", StatusPage: true},
		Notify: notify.Config{
			Webhook: notify.Webhook{On: []string{notify.Failure}},
			Email:   notify.Email{SMTP: notify.DefaultSMTP, On: []string{notify.Failure}},
		},
	}
}

// elementDefaults are what each list element starts from.
func elementDefaults() map[string]any {
	job := backup.DefaultJob()
	job.Name = ""
	return map[string]any{"backup.jobs": job}
}

// mapDefaults are map entries that exist unless the file replaces them.
func mapDefaults() map[string]any {
	return map[string]any{"storage.targets": storage.DefaultTargets()}
}

// fieldError names the key path of a bad value.
type fieldError = fielderr.Error

// Validate checks the whole configuration once, after loading.
func (c *Config) Validate() error {
	if _, err := logging.ParseLevel(c.Log.Level); err != nil {
		return &fieldError{Field: "log.level", Msg: err.Error()}
	}
	if err := logging.CheckFormat(c.Log.Format); err != nil {
		return &fieldError{Field: "log.format", Msg: err.Error()}
	}
	if err := c.Storage.Validate(); err != nil {
		return err
	}
	for _, name := range sortedKeys(c.Storage.Targets) {
		t := c.Storage.Targets[name]
		if err := t.Validate("storage.targets." + name); err != nil {
			return err
		}
	}
	seen := map[string]int{}
	for i := range c.Backup.Jobs {
		j := &c.Backup.Jobs[i]
		path := fmt.Sprintf("backup.jobs[%d]", i)
		if err := j.Validate(path, c.Storage.Targets); err != nil {
			return err
		}
		if k, dup := seen[j.Name]; dup {
			return &fieldError{Field: path + ".name", Msg: fmt.Sprintf("job name %q is already used by backup.jobs[%d]", j.Name, k)}
		}
		seen[j.Name] = i
	}
	if err := c.Notify.Validate("notify"); err != nil {
		return err
	}
	for i := range c.Backup.Jobs {
		n, path := notify.Merge(c.Notify, c.Backup.Jobs[i].Notify), "notify"
		if len(c.Backup.Jobs[i].Notify.Email.To) > 0 {
			path = fmt.Sprintf("backup.jobs[%d].notify", i)
		}
		if err := n.CheckComplete(path); err != nil {
			return err
		}
	}
	if err := c.TLSCheck.Validate("tlscheck"); err != nil {
		return err
	}
	for i, ch := range c.TLSCheck.Checks {
		if err := schedule.ValidateSpec(ch.Schedule); err != nil {
			return &fieldError{Field: fmt.Sprintf("tlscheck.checks[%d].schedule", i), Msg: err.Error()}
		}
	}
	if err := c.Inventory.Validate("inventory"); err != nil {
		return err
	}
	if c.Inventory.Schedule != "" {
		if err := schedule.ValidateSpec(c.Inventory.Schedule); err != nil {
			return &fieldError{Field: "inventory.schedule", Msg: err.Error()}
		}
	}
	for i, j := range c.Backup.Jobs {
		if j.Schedule == "" {
			continue
		}
		if err := schedule.ValidateSpec(j.Schedule); err != nil {
			return &fieldError{Field: fmt.Sprintf("backup.jobs[%d].schedule", i), Msg: err.Error()}
		}
	}
	if _, _, err := net.SplitHostPort(c.Serve.Listen); err != nil {
		return &fieldError{Field: "serve.listen", Msg: fmt.Sprintf("%q: expected HOST:PORT", c.Serve.Listen)}
	}
	if (c.Serve.TLSCertFile == "") != (c.Serve.TLSKeyFile == "") {
		field, other := "serve.tls_cert_file", "serve.tls_key_file"
		if c.Serve.TLSCertFile == "" {
			field, other = other, field
		}
		return &fieldError{Field: field, Msg: "set without " + other + ": HTTPS needs both (or neither, for plain HTTP)"}
	}
	return nil
}
