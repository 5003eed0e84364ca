package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/conn"
	"github.com/opsteam/ops/backup/mysql/physical"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/internal/fielderr"
	"github.com/opsteam/ops/internal/notify"

	"golang.org/x/sys/unix"
)

// Config is the `backup:` section of the ops config.
type Config struct {
	Jobs []Job `yaml:"jobs"`
}

// Retention is restic-style calendar-bucket retention.
type Retention struct {
	KeepLast    int `yaml:"keep_last"`
	KeepDaily   int `yaml:"keep_daily"`
	KeepWeekly  int `yaml:"keep_weekly"`
	KeepMonthly int `yaml:"keep_monthly"`
}

// RetentionKeys are the keys of a retention: section, in field order.
var RetentionKeys = []string{"keep_last", "keep_daily", "keep_weekly", "keep_monthly"}

// ZeroUnset applies "a retention that is set replaces the default whole":
// when isSet reports any key of RetentionKeys as given (in the file, a
// variable or a flag), the keys it does not report are 0, not their
// defaults. keep_daily: 7 alone then keeps seven days, not also the last 7.
func (r *Retention) ZeroUnset(isSet func(key string) bool) {
	fields := []*int{&r.KeepLast, &r.KeepDaily, &r.KeepWeekly, &r.KeepMonthly}
	given := false
	for _, k := range RetentionKeys {
		given = given || isSet(k)
	}
	if !given {
		return
	}
	for i, k := range RetentionKeys {
		if !isSet(k) {
			*fields[i] = 0
		}
	}
}

// Job is one entry of `backup.jobs`.
type Job struct {
	Name  string      `yaml:"name"`
	MySQL conn.Config `yaml:"mysql"`
	// RestoreMySQL is the account restore and verify --restore-test use
	// (see RestoreConn): the backup account needs no write privilege.
	RestoreMySQL conn.Config `yaml:"restore_mysql"`
	// Notify replaces the global notify: section channel by channel
	// (notify.Merge).
	Notify           notify.Config   `yaml:"notify"`
	Databases        []string        `yaml:"databases"`
	ExcludeTables    []string        `yaml:"exclude_tables"`
	Threads          int             `yaml:"threads"`
	Compression      compress.Method `yaml:"compression"`
	CompressionLevel int             `yaml:"compression_level"`
	EncryptTo        []string        `yaml:"encrypt_to"`
	// IdentityFile is the age identity that decrypts this job's backups; it
	// is needed only to restore or to verify with --restore-test.
	IdentityFile string    `yaml:"identity_file"`
	Target       string    `yaml:"target"`
	Prefix       string    `yaml:"prefix"`
	Schedule     string    `yaml:"schedule"`
	Retention    Retention `yaml:"retention"`
	// Checksums records a content digest of every table, computed from the
	// rows inside the dump's snapshot as they stream through the dumper
	// (no second read), in the manifest; `verify --restore-test` compares
	// a test restore with them.
	Checksums bool `yaml:"checksums"`
	// ChunkRows is the number of rows per primary-key range when a big table
	// is split between threads (0 = automatic).
	ChunkRows int64 `yaml:"chunk_rows"`
	// Timeout bounds one run of the job (`ops backup run`, and each
	// scheduled run of `ops serve`): past it the run is cancelled and fails.
	Timeout time.Duration `yaml:"timeout"`
	// ManifestKeyFile holds a secret key: manifests are then written with
	// an HMAC, and one without a valid HMAC is refused by restore and
	// verify and listed as untrusted.
	ManifestKeyFile string `yaml:"manifest_key_file"`
	// DefaultKeyFile is where the manifest key lives when manifest_key_file
	// is not set: ops creates it at the job's first backup (cmd/ops sets
	// it: <config dir>/keys/<job>.key). Not a config key.
	DefaultKeyFile string `yaml:"-"`
	// Binlog archives the server's binary log for point-in-time recovery
	// (binlog_config.go).
	Binlog BinlogConfig `yaml:"binlog"`
	// Method is logical (an SQL dump) or physical (mariadb-backup, run on
	// the database host: physical.go).
	Method   string         `yaml:"method"`
	Physical PhysicalConfig `yaml:"physical"`
}

// minManifestKey is the shortest manifest key accepted (bytes).
const minManifestKey = 16

// manifestKeyPath is the file the job's manifest key is read from: its
// manifest_key_file, else its DefaultKeyFile ("" when neither is set).
func (j *Job) manifestKeyPath() string {
	if j.ManifestKeyFile != "" {
		return j.ManifestKeyFile
	}
	return j.DefaultKeyFile
}

// ManifestKey reads the job's manifest key: manifest_key_file, else the
// default key file when it exists (nil when there is neither).
func (j *Job) ManifestKey() ([]byte, error) {
	if j.ManifestKeyFile == "" {
		if j.DefaultKeyFile == "" {
			return nil, nil
		}
		if _, err := os.Stat(j.DefaultKeyFile); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	p := j.manifestKeyPath()
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("job %s: manifest key: %w", j.Name, err)
	}
	key := bytes.TrimRight(data, "\r\n")
	if len(key) < minManifestKey {
		return nil, fmt.Errorf("job %s: manifest key %s: the key has %d bytes, expected at least %d (e.g. head -c 32 /dev/urandom | base64)", j.Name, p, len(key), minManifestKey)
	}
	return key, nil
}

// ManifestKeyForWriting is manifestKey for a run that writes manifests:
// when the job has no manifest_key_file and its default key file does not
// exist yet, it is created (32 random bytes, base64, mode 0600, in a 0700
// directory) and the logger says once where it is and that a copy must be
// kept off this host. Without either, manifests go unauthenticated.
func (j *Job) ManifestKeyForWriting(logger *slog.Logger) ([]byte, error) {
	if j.ManifestKeyFile == "" && j.DefaultKeyFile != "" {
		created, err := createKeyFile(j.DefaultKeyFile)
		if err != nil {
			return nil, fmt.Errorf("job %s: creating its manifest key: %w", j.Name, err)
		}
		if created {
			logger.Warn("created the job's manifest key: it authenticates every manifest of the job; keep a copy off this host (with the age identity, if any): "+
				"a restore on another machine needs it, or must be run with --trust-unauthenticated-manifest", "job", j.Name, "key_file", j.DefaultKeyFile)
		}
	}
	return j.ManifestKey()
}

// createKeyFile writes a new random key to path unless the file exists
// (it is never overwritten); created reports whether this call wrote it.
func createKeyFile(path string) (created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		f.Close()
		os.Remove(path)
		return false, err
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(raw[:]) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return false, err
	}
	return true, nil
}

// KeyStatus says, for `config check`, where the job's manifest key comes
// from; warn is set when its manifests would go unauthenticated.
func (j *Job) KeyStatus() (msg string, warn bool) {
	switch {
	case j.ManifestKeyFile != "":
		return "manifest key " + j.ManifestKeyFile, false
	case j.DefaultKeyFile == "":
		return "no manifest key: manifests are not authenticated (set manifest_key_file)", true
	}
	if _, err := os.Stat(j.DefaultKeyFile); err == nil {
		return "manifest key " + j.DefaultKeyFile + " (created by ops; keep a copy off this host)", false
	}
	dir := filepath.Dir(j.DefaultKeyFile)
	for {
		if st, err := os.Stat(dir); err == nil {
			if !st.IsDir() || unix.Access(dir, unix.W_OK) != nil {
				return fmt.Sprintf("no manifest key, and %s cannot be created (%s is not writable): manifests will not be authenticated (set manifest_key_file)", j.DefaultKeyFile, dir), true
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "manifest key " + j.DefaultKeyFile + " (created at the first backup)", false
}

// DefaultThreads is the threads of a job that sets none: it sizes the dump's
// reading connections, the restore's data-loading connections and the
// connections that digest the restored tables of verify --restore-test. The
// engine takes the number it is given and refuses less than 1: this is the
// one default.
const DefaultThreads = 2

// DefaultJob is the job `ops backup run` runs when the config names none:
// every database of the local server into the "local" target. Every job of
// the config starts from it too (cmd/ops: elementDefaults), so its values
// are the settings' defaults, each applied here once.
func DefaultJob() Job {
	return Job{
		Name:    "default",
		Threads: DefaultThreads, // 1 to 64 after Validate

		Compression: compress.Default,
		Target:      "local",
		Checksums:   true,
		Retention:   Retention{KeepLast: 7, KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12},
		MySQL:       conn.Config{LockWaitTimeout: conn.DefaultLockWaitTimeout, Timeout: conn.DefaultTimeout, TLS: conn.TLS{Mode: conn.DefaultTLSMode}},
		Timeout:     DefaultTimeout,
		Binlog:      BinlogConfig{FlushInterval: DefaultFlushInterval},
		Method:      MethodLogical,
		Physical:    PhysicalConfig{FullEvery: DefaultFullEvery, Binary: physical.DefaultBinary},
	}
}

// HasRestoreAccount reports whether restore_mysql names an account.
func (j *Job) HasRestoreAccount() bool {
	r := j.RestoreMySQL
	return r.User != "" || r.PasswordFile != "" || !r.Password.IsZero() || r.DefaultsFile != ""
}

// RestoreConn is how restore and verify --restore-test connect: the job's
// mysql: section when restore_mysql names no account, else restore_mysql,
// whose empty connection settings (host, port, socket, tls, timeouts) are
// the mysql: section's. The credentials are never mixed: user, password,
// password_file and defaults_file all come from restore_mysql.
func (j *Job) RestoreConn() conn.Config {
	if !j.HasRestoreAccount() {
		return j.MySQL
	}
	r, m := j.RestoreMySQL, j.MySQL
	if r.Host == "" && r.Socket == "" {
		r.Host, r.Socket = m.Host, m.Socket
		if r.Port == 0 {
			r.Port = m.Port
		}
	}
	if r.Timeout == 0 {
		r.Timeout = m.Timeout
	}
	if r.LockWaitTimeout == 0 {
		r.LockWaitTimeout = m.LockWaitTimeout
	}
	if r.TLS == (conn.TLS{}) {
		r.TLS = m.TLS
	}
	return r
}

// DefaultTimeout is a job's timeout when the config sets none.
const DefaultTimeout = 6 * time.Hour

var jobNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// Validate checks a job; the prefix is the key path of the job in the config.
func (j *Job) Validate(path string, targets map[string]storage.Target) error {
	if !jobNameRE.MatchString(j.Name) {
		return fielderr.Newf(path+".name", "%q is not a valid job name: expected lower-case letters, digits and '-'", j.Name)
	}
	if j.Threads < 1 || j.Threads > 64 {
		return fielderr.Newf(path+".threads", "%d is out of range: expected 1 to 64", j.Threads)
	}
	if _, err := compress.Parse(string(j.Compression)); err != nil {
		return fielderr.New(path+".compression", err.Error())
	}
	if err := j.Compression.CheckLevel(j.CompressionLevel); err != nil {
		return fielderr.New(path+".compression_level", err.Error())
	}
	if _, ok := targets[j.Target]; !ok {
		return fielderr.Newf(path+".target", "no storage target named %q (define it under storage.targets)", j.Target)
	}
	if err := j.MySQL.Validate(path + ".mysql"); err != nil {
		return err
	}
	if err := j.RestoreMySQL.Validate(path + ".restore_mysql"); err != nil {
		return err
	}
	if err := j.Notify.Validate(path + ".notify"); err != nil {
		return err
	}
	r := j.Retention
	for k, v := range map[string]int{"keep_last": r.KeepLast, "keep_daily": r.KeepDaily, "keep_weekly": r.KeepWeekly, "keep_monthly": r.KeepMonthly} {
		if v < 0 {
			return fielderr.Newf(path+".retention."+k, "%d: expected 0 or more", v)
		}
	}
	for i, r := range j.EncryptTo {
		if _, err := parseRecipient(r); err != nil {
			return fielderr.New(fmt.Sprintf("%s.encrypt_to[%d]", path, i), err.Error())
		}
	}
	if err := checkPrefix(j.Prefix); err != nil {
		return fielderr.New(path+".prefix", err.Error())
	}
	if j.ChunkRows < 0 {
		return fielderr.Newf(path+".chunk_rows", "%d: expected 0 (automatic) or more", j.ChunkRows)
	}
	if j.Timeout <= 0 {
		return fielderr.Newf(path+".timeout", "%s: expected a positive duration such as 90m or 6h", j.Timeout)
	}
	if err := j.Binlog.Validate(path + ".binlog"); err != nil {
		return err
	}
	return j.validateMethod(path)
}

// checkPrefix refuses a prefix under which backups could not be listed
// again or would land outside the job's place: a leading "/", an empty
// segment ("a//b"), "." or ".." segments, and control characters. The
// prefix is prepended as written (with or without a trailing "/").
func checkPrefix(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q: must not start with /", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q: control characters are not allowed", p)
		}
	}
	segs := strings.Split(strings.TrimSuffix(p, "/"), "/")
	for _, seg := range segs {
		switch seg {
		case "":
			return fmt.Errorf("%q: empty path segment (//): backups stored under it could not be listed", p)
		case ".", "..":
			return fmt.Errorf("%q: %q segments are not allowed", p, seg)
		}
	}
	return nil
}
