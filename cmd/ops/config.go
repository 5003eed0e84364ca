package main

import (
	"fmt"
	"net"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/internal/logging"
)

// Config is the whole ops configuration. Each section is owned by its
// domain package; this file only assembles them (the contract is
// ../shared/docs/cli.md).
type Config struct {
	Log       LogConfig            `yaml:"log"`
	Storage   backup.StorageConfig `yaml:"storage"`
	Backup    backup.Config        `yaml:"backup"`
	TLSCheck  tlscheckConfig       `yaml:"tlscheck"`
	Inventory inventoryConfig      `yaml:"inventory"`
	Serve     ServeConfig          `yaml:"serve"`
}

// LogConfig is the `log:` section.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// ServeConfig is the `serve:` section.
type ServeConfig struct {
	Listen string `yaml:"listen"`
}

// TODO(lead): replaced by tlscheck.Config and inventory.Config when those
// packages land.
type tlscheckConfig struct {
	Policy      string        `yaml:"policy"`
	CAFile      string        `yaml:"ca_file"`
	Timeout     time.Duration `yaml:"timeout"`
	Concurrency int           `yaml:"concurrency"`
	Helo        string        `yaml:"helo"`
	Checks      []struct {
		Name     string   `yaml:"name"`
		Targets  []string `yaml:"targets"`
		Rcpts    []string `yaml:"rcpts"`
		Schedule string   `yaml:"schedule"`
	} `yaml:"checks"`
}

type inventoryConfig struct {
	Sources []struct {
		Name         string `yaml:"name"`
		Type         string `yaml:"type"`
		URL          string `yaml:"url"`
		User         string `yaml:"user"`
		PasswordFile string `yaml:"password_file"`
		Insecure     bool   `yaml:"insecure"`
		URI          string `yaml:"uri"`
		Socket       string `yaml:"socket"`
		Path         string `yaml:"path"`
		Netns        string `yaml:"netns"`
	} `yaml:"sources"`
	RequireFirewallCapabilities []string `yaml:"require_firewall_capabilities"`
	Schedule                    string   `yaml:"schedule"`
	Report                      struct {
		Format string `yaml:"format"`
		Path   string `yaml:"path"`
	} `yaml:"report"`
}

// defaultConfig is the configuration when no file and no variable says
// otherwise.
func defaultConfig() Config {
	return Config{
		Log:     LogConfig{Level: "info", Format: "text"},
		Storage: backup.StorageConfig{Targets: backup.DefaultTargets()},
		TLSCheck: tlscheckConfig{
			Timeout:     30 * time.Second,
			Concurrency: 32,
		},
		Serve: ServeConfig{Listen: "127.0.0.1:9273"},
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
	return map[string]any{"storage.targets": backup.DefaultTargets()}
}

// fieldError names the key path of a bad value.
type fieldError = backup.FieldError

// Validate checks the whole configuration once, after loading.
func (c *Config) Validate() error {
	if _, err := logging.ParseLevel(c.Log.Level); err != nil {
		return &fieldError{Field: "log.level", Msg: err.Error()}
	}
	if err := logging.CheckFormat(c.Log.Format); err != nil {
		return &fieldError{Field: "log.format", Msg: err.Error()}
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
	if c.TLSCheck.Concurrency < 1 || c.TLSCheck.Concurrency > 1024 {
		return &fieldError{Field: "tlscheck.concurrency", Msg: fmt.Sprintf("%d is out of range: expected 1 to 1024", c.TLSCheck.Concurrency)}
	}
	if c.TLSCheck.Timeout <= 0 {
		return &fieldError{Field: "tlscheck.timeout", Msg: fmt.Sprintf("%s: expected a positive duration", c.TLSCheck.Timeout)}
	}
	if _, _, err := net.SplitHostPort(c.Serve.Listen); err != nil {
		return &fieldError{Field: "serve.listen", Msg: fmt.Sprintf("%q: expected HOST:PORT", c.Serve.Listen)}
	}
	return nil
}
