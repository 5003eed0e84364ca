package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/internal/secret"
)

// Limits of the S3 protocol.
const (
	MinPartSize     = 5 << 20 // every part but the last
	MaxPartSize     = 5 << 30 // any part
	MaxParts        = 10000   // parts of one multipart upload
	DefaultPartSize = 8 << 20 // part_size when not set: 5 buffers stay within a 128 MiB process
	// DefaultConcurrency is the number of part uploads in flight per Put.
	DefaultConcurrency = 4
	// DefaultRegion is the region when none is configured.
	DefaultRegion = "us-east-1"
)

// Options configure a Store: the target's fields, resolved, plus tuning.
// An empty access key or secret is taken from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, an empty region from AWS_REGION; fields that are
// set always win.
type Options struct {
	Endpoint            string // scheme://host[:port]; empty = AWS's endpoint for the region
	Region              string // empty = us-east-1
	Bucket              string
	AccessKeyID         string
	SecretAccessKey     secret.Secret
	SecretAccessKeyFile string // read when SecretAccessKey is empty (trailing newline removed)
	PathStyle           bool   // http://host/BUCKET/KEY instead of http://BUCKET.host/KEY
	StorageClass        string // empty = the bucket's default
	CAFile              string // PEM CA bundle that replaces the system roots; TLS is always verified

	// PartSize is the first part size of a multipart upload (0 =
	// DefaultPartSize); streams that fit in one part are a single PUT.
	// Later parts grow so that a stream never needs more than MaxParts.
	PartSize int64
	// Concurrency is the number of part uploads in flight (0 = 4). A Put
	// buffers at most Concurrency+1 first-size parts in memory.
	Concurrency int
	// ConnectTimeout bounds connecting and waiting for response headers
	// (0 = 10s); Timeout bounds any pause in a transfer (0 = 60s).
	ConnectTimeout time.Duration
	Timeout        time.Duration
	// Retry is the policy of each idempotent request the store makes on
	// its own: bucket checks, part uploads, single PUTs, completing and
	// aborting an upload. Reads, listings and deletes are retried (and
	// reads resumed) by retry.Wrap.
	Retry retry.Policy
	// Logger receives retries (warn) and upload details (debug); nil = silent.
	Logger *slog.Logger
	// Getenv looks the environment up; nil = os.Getenv.
	Getenv func(string) string
	// ReadOnly: New creates no bucket; a missing bucket is a
	// *storage.MissingError naming it, with the account's closest names.
	ReadOnly bool
	// SpoolDir holds, one at a time, the grown parts of a very long stream
	// that are larger than the memory budget (Concurrency+1 first-size
	// parts); empty = os.TempDir().
	SpoolDir string

	// spoolAbove overrides the size above which a part is spooled (tests).
	spoolAbove int64
}

// OptionsFromTarget copies the S3 fields of a storage target.
func OptionsFromTarget(t storage.Target) Options {
	return Options{
		Endpoint: t.Endpoint, Region: t.Region, Bucket: t.Bucket, AccessKeyID: t.AccessKeyID,
		SecretAccessKey: t.SecretAccessKey, SecretAccessKeyFile: t.SecretAccessKeyFile,
		PathStyle: t.PathStyle, StorageClass: t.StorageClass, CAFile: t.CAFile, PartSize: int64(t.PartSize),
	}
}

// resolve fills empty fields from the environment and the secret file and
// applies defaults.
func (o Options) resolve() (Options, error) {
	env := o.Getenv
	if env == nil {
		env = os.Getenv
	}
	if o.AccessKeyID == "" {
		o.AccessKeyID = env("AWS_ACCESS_KEY_ID")
	}
	if o.Region == "" {
		o.Region = env("AWS_REGION")
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.SecretAccessKey.IsZero() && o.SecretAccessKeyFile != "" {
		b, err := os.ReadFile(o.SecretAccessKeyFile)
		if err != nil {
			return o, fmt.Errorf("s3 secret_access_key_file: %w", err)
		}
		k := strings.TrimRight(string(b), "\r\n")
		if k == "" {
			return o, fmt.Errorf("s3 secret_access_key_file %s is empty", o.SecretAccessKeyFile)
		}
		o.SecretAccessKey = secret.New(k)
	}
	if o.SecretAccessKey.IsZero() {
		o.SecretAccessKey = secret.New(env("AWS_SECRET_ACCESS_KEY"))
	}
	if err := CheckBucketName(o.Bucket); err != nil {
		return o, err
	}
	if o.Endpoint != "" {
		if err := CheckEndpoint(o.Endpoint); err != nil {
			return o, fmt.Errorf("s3 endpoint: %w", err)
		}
	}
	switch {
	case o.AccessKeyID == "":
		return o, errors.New("s3: no access_key_id configured (nor AWS_ACCESS_KEY_ID)")
	case o.SecretAccessKey.IsZero():
		return o, errors.New("s3: no secret access key configured (secret_access_key_file, OPS_STORAGE_TARGETS_<NAME>_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY)")
	case o.PartSize != 0 && (o.PartSize < MinPartSize || o.PartSize > MaxPartSize):
		return o, fmt.Errorf("s3: part size %d: expected 5MiB to 5GiB", o.PartSize)
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Retry = o.Retry.ForStore(o.Logger)
	return o, nil
}

// CheckBucketName checks the S3 rules for a bucket name: 3 to 63
// lowercase letters, digits, dots and hyphens, beginning and ending with a
// letter or digit.
func CheckBucketName(b string) error {
	if b == "" {
		return errors.New("s3: no bucket configured")
	}
	ok := len(b) >= 3 && len(b) <= 63
	for i := 0; ok && i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		ok = alnum || (c == '.' || c == '-') && i > 0 && i < len(b)-1
	}
	if !ok || strings.Contains(b, "..") {
		return fmt.Errorf("s3: invalid bucket name %q: expected 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", b)
	}
	return nil
}

// CheckEndpoint checks an endpoint: http:// or https://, a host and an
// optional port, nothing else.
func CheckEndpoint(e string) error {
	u, err := url.Parse(e)
	if err != nil {
		return fmt.Errorf("%q: %w", e, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: expected scheme://host[:port] with scheme http or https", e)
	}
	return nil
}

// testDial, when set (tests only), replaces the dialer: names such as
// BUCKET.s3.test reach a local fake.
var testDial func(ctx context.Context, network, addr string) (net.Conn, error)

func transport(o Options) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3 ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3 ca_file %s: no PEM certificates", o.CAFile)
		}
		tc.RootCAs = pool
	}
	dial := (&net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	if testDial != nil {
		dial = testDial
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConnsPerHost:   2*o.Concurrency + 4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: 5 * time.Second,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        64 << 10,
	}, nil
}
