package conn

import (
	"time"

	"github.com/opsteam/ops/internal/fielderr"

	"github.com/opsteam/ops/internal/secret"
)

// DefaultTimeout is Config.Timeout when it is zero.
const DefaultTimeout = 30 * time.Second

// DefaultTLSMode is TLS.Mode when it is empty: like the mysql client's
// --ssl-mode default.
const DefaultTLSMode = "preferred"

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
	// Timeout (0 = DefaultTimeout) bounds connecting: dial, TLS and login
	// of every connection. It is also the read/write deadline of every
	// session: when a read or write makes no progress for Timeout, ops
	// checks the server from a new connection. A server that does not
	// answer, or that no longer works on the session (the session is idle,
	// gone, or blocked writing to us), fails the operation; a server that
	// is busy with the statement (a lock wait, CHECKSUM TABLE of a large
	// table, a long restore statement) is waited for, and checked again
	// every Timeout. See Connect.
	Timeout time.Duration `yaml:"timeout"`
	TLS     TLS           `yaml:"tls"`
	// LockWaitTimeout (0 = DefaultLockWaitTimeout) bounds the wait for the
	// global/backup lock before the dump falls back or fails (like
	// mydumper's --ftwrl-max-wait-time), and is the session
	// lock_wait_timeout of a restore's connections: a restore blocked by
	// another session's lock (FLUSH TABLES WITH READ LOCK of a backup on the
	// target, a DDL) fails after it with ErrLockWaitTimeout.
	LockWaitTimeout time.Duration `yaml:"lock_wait_timeout"`
}

// DefaultLockWaitTimeout is Config.LockWaitTimeout when it is zero.
const DefaultLockWaitTimeout = 60 * time.Second

// LockWaitSeconds is LockWaitTimeout (or its default) in whole seconds, at
// least 1: the unit of the server's lock_wait_timeout.
func (c *Config) LockWaitSeconds() int {
	t := c.LockWaitTimeout
	if t <= 0 {
		t = DefaultLockWaitTimeout
	}
	return max(1, int(t.Round(time.Second)/time.Second))
}

// TLS configures TLS to the database server, with the meanings of the
// mysql client's --ssl-mode:
//
//   - disabled: no TLS.
//   - preferred (the default): TLS when the server offers it, the
//     certificate not verified; plaintext when the server has no TLS. Not
//     used over a Unix socket.
//   - required: TLS or fail; the certificate is not verified.
//   - verify-ca: TLS, the chain verified against CAFile (the system roots
//     when CAFile is empty); the host name is not checked.
//   - verify-identity: verify-ca, and the certificate must name the host
//     (ServerName when set, else the host connected to; "localhost" for a
//     Unix socket).
//
// CertFile and KeyFile are a client certificate (for accounts created
// with REQUIRE X509/SUBJECT/ISSUER), sent in every mode but disabled.
type TLS struct {
	Mode       string `yaml:"mode"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// MinTimeout and MaxTimeout bound Config.Timeout.
const (
	MinTimeout = time.Second
	MaxTimeout = 24 * time.Hour
)

// Validate checks the connection settings; path is their key path in the
// config (e.g. backup.jobs[0].mysql).
func (c *Config) Validate(path string) error {
	if c.Port < 0 || c.Port > 65535 {
		return fielderr.Newf(path+".port", "%d is out of range: expected 1 to 65535", c.Port)
	}
	if c.Timeout != 0 && (c.Timeout < MinTimeout || c.Timeout > MaxTimeout) {
		return fielderr.Newf(path+".timeout", "%s is out of range: expected %s to %s", c.Timeout, MinTimeout, "24h")
	}
	switch c.TLS.Mode {
	case "", "disabled", "preferred", "required", "verify-ca", "verify-identity":
	default:
		return fielderr.Newf(path+".tls.mode", "%q: expected disabled, preferred, required, verify-ca or verify-identity", c.TLS.Mode)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return fielderr.Newf(path+".tls", "cert_file and key_file go together (a client certificate and its key)")
	}
	return nil
}

// EffectiveTimeout is c.Timeout or its default.
func (c *Config) EffectiveTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}
