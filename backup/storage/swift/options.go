package swift

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
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/internal/secret"
)

// Options configure a Store: the target's fields (see Target),
// resolved, plus tuning. Empty credential fields are taken from the standard
// OpenStack environment (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD,
// OS_TENANT_NAME or OS_PROJECT_NAME, OS_REGION_NAME, OS_USER_DOMAIN_NAME,
// OS_PROJECT_DOMAIN_NAME, ST_AUTH, ST_USER, ST_KEY, ST_AUTH_VERSION); fields
// that are set always win.
type Options struct {
	AuthURL      string
	User         string
	Key          secret.Secret
	KeyFile      string // read when Key is empty (trailing newline removed)
	AuthVersion  int    // 0 = detect from AuthURL (v1/v2/v3 in the URL)
	Tenant       string
	Domain       string
	TenantDomain string
	Region       string
	Container    string
	CAFile       string // PEM CA bundle that replaces the system roots; TLS is always verified

	// SegmentSize is the size of the Static Large Object segments; streams
	// that fit in one segment are stored as a single object. 0 = 64 MiB.
	// Raised to the server's min_segment_size, capped at max_file_size.
	SegmentSize int64
	// Concurrency is the number of segment uploads in flight per Put (0 = 4).
	// A Put buffers at most Concurrency+1 segments in memory.
	Concurrency int
	// ExpectedSize is an optional hint of the size of the objects to come
	// (see also WithExpectedSize): the segment size is raised so that such an
	// object uses at most half of the server's max_manifest_segments.
	ExpectedSize int64
	// ConnectTimeout bounds connecting and waiting for response headers;
	// Timeout bounds any pause in a transfer (0 = 10s and 60s).
	ConnectTimeout time.Duration
	Timeout        time.Duration
	// Retry is the policy of each segment upload, manifest PUT, cleanup
	// request, authentication and container check (zero = 6 attempts,
	// 500ms..30s). Reads are retried and resumed by retry.Wrap.
	Retry retry.Policy
	// Logger receives retries (warn) and upload details (debug); nil = silent.
	Logger *slog.Logger
	// Getenv looks the environment up; nil = os.Getenv.
	Getenv func(string) string
	// ReadOnly: New creates no container; a missing container is a
	// *storage.MissingError naming it, with the account's closest names.
	ReadOnly bool
}

// OptionsFromTarget copies the Swift fields of a storage target.
func OptionsFromTarget(t storage.Target) Options {
	return Options{
		AuthURL: t.AuthURL, User: t.User, Key: t.Key, KeyFile: t.KeyFile, AuthVersion: t.AuthVersion,
		Tenant: t.Tenant, Domain: t.Domain, TenantDomain: t.TenantDomain, Region: t.Region,
		Container: t.Container, SegmentSize: int64(t.SegmentSize), CAFile: t.CAFile,
	}
}

type expectedSizeKey struct{}

// WithExpectedSize attaches a size hint for the next Put on a Store
// (e.g. the size of the job's previous backup); it overrides
// Options.ExpectedSize.
func WithExpectedSize(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, expectedSizeKey{}, n)
}

// resolve fills empty fields from the environment and the key file and
// applies defaults.
func (o Options) resolve() (Options, error) {
	env := o.Getenv
	if env == nil {
		env = os.Getenv
	}
	first := func(cur string, names ...string) string {
		for _, n := range names {
			if cur != "" {
				break
			}
			cur = env(n)
		}
		return cur
	}
	o.AuthURL = first(o.AuthURL, "OS_AUTH_URL", "ST_AUTH")
	o.User = first(o.User, "OS_USERNAME", "ST_USER")
	o.Tenant = first(o.Tenant, "OS_TENANT_NAME", "OS_PROJECT_NAME")
	o.Region = first(o.Region, "OS_REGION_NAME")
	o.Domain = first(o.Domain, "OS_USER_DOMAIN_NAME")
	o.TenantDomain = first(o.TenantDomain, "OS_PROJECT_DOMAIN_NAME")
	if o.AuthVersion == 0 {
		if v := env("ST_AUTH_VERSION"); v != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
			if err != nil || n < 1 || n > 3 {
				return o, fmt.Errorf("swift: ST_AUTH_VERSION=%q: expected 1, 2 or 3", v)
			}
			o.AuthVersion = n
		}
	}
	if o.Key.IsZero() && o.KeyFile != "" {
		b, err := os.ReadFile(o.KeyFile)
		if err != nil {
			return o, fmt.Errorf("swift key_file: %w", err)
		}
		k := strings.TrimRight(string(b), "\r\n")
		if k == "" {
			return o, fmt.Errorf("swift key_file %s is empty", o.KeyFile)
		}
		o.Key = secret.New(k)
	}
	if o.Key.IsZero() {
		o.Key = secret.New(first("", "OS_PASSWORD", "ST_KEY"))
	}
	switch {
	case o.Container == "":
		return o, errors.New("swift: no container configured")
	case strings.Contains(o.Container, "/") || len(o.Container)+len("_segments") > 256:
		return o, fmt.Errorf("swift: invalid container name %q", o.Container)
	case o.AuthURL == "":
		return o, errors.New("swift: no auth_url configured (nor OS_AUTH_URL / ST_AUTH)")
	case o.User == "":
		return o, errors.New("swift: no user configured (nor OS_USERNAME / ST_USER)")
	case o.Key.IsZero():
		return o, errors.New("swift: no key configured (key, key_file, OS_PASSWORD or ST_KEY)")
	case o.AuthVersion < 0 || o.AuthVersion > 3:
		return o, fmt.Errorf("swift: auth_version %d: expected 0 (detect), 1, 2 or 3", o.AuthVersion)
	case o.AuthVersion == 0 && !authVersionRE.MatchString(o.AuthURL):
		return o, fmt.Errorf("swift: cannot tell the auth version from auth_url %s: set auth_version", swiftRedactURL(o.AuthURL))
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSwiftSegmentSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultSwiftConcurrency
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
	warnCleartextAuth(o.Logger, o.AuthURL)
	o.Retry = o.Retry.ForStore(o.Logger)
	return o, nil
}

var authVersionRE = regexp.MustCompile(`v[123]`)

// AuthError is a failed authentication. It names the user and the URL,
// never the key.
type AuthError struct {
	User, URL string
	Status    int // HTTP status, e.g. 401
	Err       error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("swift: authentication failed for user %s at %s: %d %s", e.User, e.URL, e.Status, http.StatusText(e.Status))
}

func (e *AuthError) Unwrap() error { return e.Err }

func swiftTransport(o Options) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("swift ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("swift ca_file %s: no PEM certificates", o.CAFile)
		}
		tc.RootCAs = pool
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		MaxIdleConnsPerHost:   2*o.Concurrency + 4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: 5 * time.Second,
		WriteBufferSize:       256 << 10, // segments are large: fewer, larger writes
		ReadBufferSize:        64 << 10,
	}, nil
}

// warnCleartextAuth logs a warning when the auth URL is http:// to another
// machine: the user, the key and the token it returns cross the network
// unencrypted. Loopback (a local TLS proxy, the test cluster) is not
// warned about.
func warnCleartextAuth(log *slog.Logger, raw string) {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "http") || isLoopbackHost(u.Hostname()) {
		return
	}
	log.Warn("swift auth_url uses http://: the user, key and token are sent unencrypted; use https://",
		"auth_url", swiftRedactURL(raw))
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func swiftRedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}
