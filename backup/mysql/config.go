package mysql

import (
	"time"

	"github.com/opsteam/ops/internal/fielderr"

	"github.com/opsteam/ops/internal/secret"
)

// Config says how to reach the server to dump or restore (a job's
// `mysql:` section).
type Config struct {
	Host         string        `yaml:"host"`
	Port         int           `yaml:"port"`
	Socket       string        `yaml:"socket"`
	User         string        `yaml:"user"`
	Password     secret.Secret `yaml:"password,omitempty"` // only via env/file; prefer password_file
	PasswordFile string        `yaml:"password_file"`
	DefaultsFile string        `yaml:"defaults_file"`
	TLS          TLS           `yaml:"tls"`
	// LockWaitTimeout bounds the wait for the global/backup lock before the
	// dump falls back or fails (like mydumper's --ftwrl-max-wait-time).
	LockWaitTimeout time.Duration `yaml:"lock_wait_timeout"`
}

// TLS configures TLS to the database server.
type TLS struct {
	Mode       string `yaml:"mode"` // "" / disabled | preferred | required | verify-ca | verify-identity
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// Validate checks the connection settings; path is their key path in the
// config (e.g. backup.jobs[0].mysql).
func (c *Config) Validate(path string) error {
	if c.Port < 0 || c.Port > 65535 {
		return fielderr.Newf(path+".port", "%d is out of range: expected 1 to 65535", c.Port)
	}
	switch c.TLS.Mode {
	case "", "disabled", "preferred", "required", "verify-ca", "verify-identity":
	default:
		return fielderr.Newf(path+".tls.mode", "%q: expected disabled, preferred, required, verify-ca or verify-identity", c.TLS.Mode)
	}
	return nil
}
