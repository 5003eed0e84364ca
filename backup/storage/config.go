package storage

import (
	"time"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/fielderr"
	"github.com/opsteam/ops/internal/secret"
)

// Config is the `storage:` section: named targets jobs refer to.
type Config struct {
	Targets map[string]Target `yaml:"targets"`
	// RetryBudget is how long a failing storage request (a read, a
	// listing, a segment upload, an authentication) is retried, from its
	// first failure, before the command fails; 0 = no retry.
	RetryBudget time.Duration `yaml:"retry_budget"`
}

// DefaultRetryBudget is storage.retry_budget when not set.
const DefaultRetryBudget = 5 * time.Minute

// Validate checks the settings of the section itself (each target has
// its own Validate).
func (c *Config) Validate() error {
	if c.RetryBudget < 0 {
		return fielderr.Newf("storage.retry_budget", "%s: expected 0 (no retry) or a positive duration such as 5m", c.RetryBudget)
	}
	return nil
}

// Target is one storage target (`storage.targets.NAME`).
type Target struct {
	Type string `yaml:"type"` // swift | local

	// local
	Path string `yaml:"path,omitempty"`

	// swift
	AuthURL      string        `yaml:"auth_url,omitempty"`
	User         string        `yaml:"user,omitempty"`
	Key          secret.Secret `yaml:"key,omitempty"`
	KeyFile      string        `yaml:"key_file,omitempty"`
	AuthVersion  int           `yaml:"auth_version,omitempty"`
	Tenant       string        `yaml:"tenant,omitempty"`
	Domain       string        `yaml:"domain,omitempty"`
	TenantDomain string        `yaml:"tenant_domain,omitempty"`
	Region       string        `yaml:"region,omitempty"`
	Container    string        `yaml:"container,omitempty"`
	SegmentSize  bytesize.Size `yaml:"segment_size,omitempty"`
	CAFile       string        `yaml:"ca_file,omitempty"`

	// RetryBudget, when set (the caller knows: config.Result.IsSet),
	// replaces storage.retry_budget for this target; 0 = no retry.
	RetryBudget time.Duration `yaml:"retry_budget"`
}

// DefaultTargets are the targets that exist without any config.
func DefaultTargets() map[string]Target {
	return map[string]Target{"local": {Type: "local", Path: "./backups"}}
}

// Validate checks a storage target.
func (t *Target) Validate(path string) error {
	if t.RetryBudget < 0 {
		return fielderr.Newf(path+".retry_budget", "%s: expected 0 (no retry) or a positive duration such as 5m", t.RetryBudget)
	}
	switch t.Type {
	case "local":
		if t.Path == "" {
			return fielderr.New(path+".path", "a local target needs a path")
		}
	case "swift":
		if t.Container == "" {
			return fielderr.New(path+".container", "a swift target needs a container")
		}
		if t.AuthVersion != 0 && (t.AuthVersion < 1 || t.AuthVersion > 3) {
			return fielderr.Newf(path+".auth_version", "%d: expected 0 (detect), 1, 2 or 3", t.AuthVersion)
		}
		if t.SegmentSize != 0 && t.SegmentSize < bytesize.MiB {
			return fielderr.Newf(path+".segment_size", "%s is too small: expected at least 1MiB", t.SegmentSize)
		}
	default:
		return fielderr.Newf(path+".type", "%q: expected swift or local", t.Type)
	}
	return nil
}
