package backup

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/secret"
)

// Config is the `backup:` section of the ops config.
type Config struct {
	Jobs []Job `yaml:"jobs" mapstructure:"jobs"`
}

// StorageConfig is the `storage:` section: named targets jobs refer to.
type StorageConfig struct {
	Targets map[string]Target `yaml:"targets" mapstructure:"targets"`
}

// Target is one storage target (`storage.targets.NAME`).
type Target struct {
	Type string `yaml:"type" mapstructure:"type"` // swift | local

	// local
	Path string `yaml:"path,omitempty" mapstructure:"path"`

	// swift
	AuthURL      string        `yaml:"auth_url,omitempty" mapstructure:"auth_url"`
	User         string        `yaml:"user,omitempty" mapstructure:"user"`
	Key          secret.Secret `yaml:"key,omitempty" mapstructure:"key"`
	KeyFile      string        `yaml:"key_file,omitempty" mapstructure:"key_file"`
	AuthVersion  int           `yaml:"auth_version,omitempty" mapstructure:"auth_version"`
	Tenant       string        `yaml:"tenant,omitempty" mapstructure:"tenant"`
	Domain       string        `yaml:"domain,omitempty" mapstructure:"domain"`
	TenantDomain string        `yaml:"tenant_domain,omitempty" mapstructure:"tenant_domain"`
	Region       string        `yaml:"region,omitempty" mapstructure:"region"`
	Container    string        `yaml:"container,omitempty" mapstructure:"container"`
	SegmentSize  bytesize.Size `yaml:"segment_size,omitempty" mapstructure:"segment_size"`
	CAFile       string        `yaml:"ca_file,omitempty" mapstructure:"ca_file"`
}

// MySQL says how to reach the server to dump or restore.
type MySQL struct {
	Host         string        `yaml:"host" mapstructure:"host"`
	Port         int           `yaml:"port" mapstructure:"port"`
	Socket       string        `yaml:"socket" mapstructure:"socket"`
	User         string        `yaml:"user" mapstructure:"user"`
	Password     secret.Secret `yaml:"password,omitempty" mapstructure:"password"` // only via env/file; prefer password_file
	PasswordFile string        `yaml:"password_file" mapstructure:"password_file"`
	DefaultsFile string        `yaml:"defaults_file" mapstructure:"defaults_file"`
	TLS          MySQLTLS      `yaml:"tls" mapstructure:"tls"`
	// LockWaitTimeout bounds the wait for the global/backup lock before the
	// dump falls back or fails (like mydumper's --ftwrl-max-wait-time).
	LockWaitTimeout time.Duration `yaml:"lock_wait_timeout" mapstructure:"lock_wait_timeout"`
}

// MySQLTLS configures TLS to the database server.
type MySQLTLS struct {
	Mode       string `yaml:"mode" mapstructure:"mode"` // "" / disabled | preferred | required | verify-ca | verify-identity
	CAFile     string `yaml:"ca_file" mapstructure:"ca_file"`
	CertFile   string `yaml:"cert_file" mapstructure:"cert_file"`
	KeyFile    string `yaml:"key_file" mapstructure:"key_file"`
	ServerName string `yaml:"server_name" mapstructure:"server_name"`
}

// Retention is restic-style calendar-bucket retention.
type Retention struct {
	KeepLast    int `yaml:"keep_last" mapstructure:"keep_last"`
	KeepDaily   int `yaml:"keep_daily" mapstructure:"keep_daily"`
	KeepWeekly  int `yaml:"keep_weekly" mapstructure:"keep_weekly"`
	KeepMonthly int `yaml:"keep_monthly" mapstructure:"keep_monthly"`
}

// Job is one entry of `backup.jobs`.
type Job struct {
	Name             string   `yaml:"name" mapstructure:"name"`
	MySQL            MySQL    `yaml:"mysql" mapstructure:"mysql"`
	Databases        []string `yaml:"databases" mapstructure:"databases"`
	ExcludeTables    []string `yaml:"exclude_tables" mapstructure:"exclude_tables"`
	Threads          int      `yaml:"threads" mapstructure:"threads"`
	Compression      string   `yaml:"compression" mapstructure:"compression"`
	CompressionLevel int      `yaml:"compression_level" mapstructure:"compression_level"`
	EncryptTo        []string `yaml:"encrypt_to" mapstructure:"encrypt_to"`
	// IdentityFile is the age identity that decrypts this job's backups; it
	// is needed only to restore or to verify with --restore-test.
	IdentityFile string    `yaml:"identity_file" mapstructure:"identity_file"`
	Target       string    `yaml:"target" mapstructure:"target"`
	Prefix       string    `yaml:"prefix" mapstructure:"prefix"`
	Schedule     string    `yaml:"schedule" mapstructure:"schedule"`
	Retention    Retention `yaml:"retention" mapstructure:"retention"`
	// Checksums records CHECKSUM TABLE of every table, taken inside the
	// dump's snapshot, in the manifest; `verify --restore-test` compares a
	// test restore with them. Costs one more read of each table.
	Checksums bool `yaml:"checksums" mapstructure:"checksums"`
	// ChunkRows is the number of rows per primary-key range when a big table
	// is split between threads (0 = automatic).
	ChunkRows int64 `yaml:"chunk_rows" mapstructure:"chunk_rows"`
}

// DefaultJob is the job `ops backup run` runs when the config names none:
// every database of the local server into the "local" target.
func DefaultJob() Job {
	return Job{
		Name:        "default",
		Threads:     2,
		Compression: "zstd",
		Target:      "local",
		Checksums:   true,
		Retention:   Retention{KeepLast: 7, KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12},
		MySQL:       MySQL{LockWaitTimeout: 60 * time.Second},
	}
}

// DefaultTargets are the targets that exist without any config.
func DefaultTargets() map[string]Target {
	return map[string]Target{"local": {Type: "local", Path: "./backups"}}
}

var jobNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// FieldError names the config field that is wrong.
type FieldError struct {
	Field string // key path, e.g. backup.jobs[0].threads
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldPath is the key path of the bad value (lets the config loader say
// which file line or variable set it).
func (e *FieldError) FieldPath() string { return e.Field }

// Validate checks a job; the prefix is the key path of the job in the config.
func (j *Job) Validate(path string, targets map[string]Target) error {
	if !jobNameRE.MatchString(j.Name) {
		return &FieldError{path + ".name", fmt.Sprintf("%q is not a valid job name: expected lower-case letters, digits and '-'", j.Name)}
	}
	if j.Threads < 1 || j.Threads > 64 {
		return &FieldError{path + ".threads", fmt.Sprintf("%d is out of range: expected 1 to 64", j.Threads)}
	}
	switch j.Compression {
	case "zstd", "gzip", "none":
	default:
		return &FieldError{path + ".compression", fmt.Sprintf("%q: expected zstd, gzip or none", j.Compression)}
	}
	if j.CompressionLevel < 0 || j.CompressionLevel > 22 {
		return &FieldError{path + ".compression_level", fmt.Sprintf("%d is out of range: expected 0 (default) to 22 for zstd, 1 to 9 for gzip", j.CompressionLevel)}
	}
	if j.Compression == "gzip" && j.CompressionLevel > 9 {
		return &FieldError{path + ".compression_level", fmt.Sprintf("%d is out of range for gzip: expected 0 (default) to 9", j.CompressionLevel)}
	}
	if _, ok := targets[j.Target]; !ok {
		return &FieldError{path + ".target", fmt.Sprintf("no storage target named %q (define it under storage.targets)", j.Target)}
	}
	if j.MySQL.Port < 0 || j.MySQL.Port > 65535 {
		return &FieldError{path + ".mysql.port", fmt.Sprintf("%d is out of range: expected 1 to 65535", j.MySQL.Port)}
	}
	switch j.MySQL.TLS.Mode {
	case "", "disabled", "preferred", "required", "verify-ca", "verify-identity":
	default:
		return &FieldError{path + ".mysql.tls.mode", fmt.Sprintf("%q: expected disabled, preferred, required, verify-ca or verify-identity", j.MySQL.TLS.Mode)}
	}
	r := j.Retention
	for k, v := range map[string]int{"keep_last": r.KeepLast, "keep_daily": r.KeepDaily, "keep_weekly": r.KeepWeekly, "keep_monthly": r.KeepMonthly} {
		if v < 0 {
			return &FieldError{path + ".retention." + k, fmt.Sprintf("%d: expected 0 or more", v)}
		}
	}
	if _, err := ParseRecipients(j.EncryptTo); err != nil {
		return &FieldError{path + "." + strings.SplitN(err.Error(), ":", 2)[0], strings.TrimSpace(strings.SplitN(err.Error(), ":", 2)[1])}
	}
	if j.ChunkRows < 0 {
		return &FieldError{path + ".chunk_rows", fmt.Sprintf("%d: expected 0 (automatic) or more", j.ChunkRows)}
	}
	return nil
}

// Validate checks a storage target.
func (t *Target) Validate(path string) error {
	switch t.Type {
	case "local":
		if t.Path == "" {
			return &FieldError{path + ".path", "a local target needs a path"}
		}
	case "swift":
		if t.Container == "" {
			return &FieldError{path + ".container", "a swift target needs a container"}
		}
		if t.AuthVersion != 0 && (t.AuthVersion < 1 || t.AuthVersion > 3) {
			return &FieldError{path + ".auth_version", fmt.Sprintf("%d: expected 0 (detect), 1, 2 or 3", t.AuthVersion)}
		}
		if t.SegmentSize != 0 && t.SegmentSize < bytesize.MiB {
			return &FieldError{path + ".segment_size", fmt.Sprintf("%s is too small: expected at least 1MiB", t.SegmentSize)}
		}
	default:
		return &FieldError{path + ".type", fmt.Sprintf("%q: expected swift or local", t.Type)}
	}
	return nil
}
