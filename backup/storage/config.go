package storage

import (
	"net/url"
	"strings"
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
	Type string `yaml:"type"` // swift | s3 | local

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
	Region       string        `yaml:"region,omitempty"` // swift and s3
	Container    string        `yaml:"container,omitempty"`
	SegmentSize  bytesize.Size `yaml:"segment_size,omitempty"`
	CAFile       string        `yaml:"ca_file,omitempty"` // swift and s3

	// s3 (also Region and CAFile)
	Endpoint            string        `yaml:"endpoint,omitempty"`
	Bucket              string        `yaml:"bucket,omitempty"`
	AccessKeyID         string        `yaml:"access_key_id,omitempty"`
	SecretAccessKey     secret.Secret `yaml:"secret_access_key,omitempty"`
	SecretAccessKeyFile string        `yaml:"secret_access_key_file,omitempty"`
	PathStyle           bool          `yaml:"path_style,omitempty"`
	PartSize            bytesize.Size `yaml:"part_size,omitempty"`
	StorageClass        string        `yaml:"storage_class,omitempty"`

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
	case "s3":
		return t.validateS3(path)
	default:
		return fielderr.Newf(path+".type", "%q: expected swift, s3 or local", t.Type)
	}
	return nil
}

// validateS3 checks the keys of an S3 target. The names follow the
// protocol's limits: parts of 5MiB to 5GiB, bucket names of 3 to 63
// lowercase letters, digits, dots and hyphens.
func (t *Target) validateS3(path string) error {
	if t.Bucket == "" {
		return fielderr.New(path+".bucket", "an s3 target needs a bucket")
	}
	if !validBucket(t.Bucket) {
		return fielderr.Newf(path+".bucket", "%q: expected 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", t.Bucket)
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return fielderr.Newf(path+".endpoint", "%q: expected scheme://host[:port] with scheme http or https (empty = AWS)", t.Endpoint)
		}
	}
	if t.PartSize != 0 && (t.PartSize < 5*bytesize.MiB || t.PartSize > 5*bytesize.GiB) {
		return fielderr.Newf(path+".part_size", "%s: expected 5MiB to 5GiB (the S3 limits of a part)", t.PartSize)
	}
	if !t.SecretAccessKey.IsZero() && t.SecretAccessKeyFile != "" {
		return fielderr.New(path+".secret_access_key_file", "both secret_access_key and secret_access_key_file are set: expected one of them")
	}
	return nil
}

func validBucket(b string) bool {
	ok := len(b) >= 3 && len(b) <= 63 && !strings.Contains(b, "..")
	for i := 0; ok && i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		ok = alnum || (c == '.' || c == '-') && i > 0 && i < len(b)-1
	}
	return ok
}
