package swift

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ncw/swift/v2"
	"golang.org/x/sync/semaphore"

	"github.com/opsteam/ops/internal/secret"
)

// Defaults of the Swift target.
const (
	DefaultSwiftSegmentSize = 64 << 20 // bytes; objects above it become Static Large Objects
	DefaultSwiftConcurrency = 4        // segment uploads in flight per Put
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
	// Retry is the policy of each segment upload, manifest PUT and cleanup
	// request (zero = 6 attempts, 500ms..30s).
	Retry retry.Policy
	// Logger receives retries (warn) and upload details (debug); nil = silent.
	Logger *slog.Logger
	// Getenv looks the environment up; nil = os.Getenv.
	Getenv func(string) string
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
	if o.Retry.Attempts <= 0 {
		o.Retry.Attempts = 6
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retry.Logger == nil {
		o.Retry.Logger = o.Logger
	}
	o.Retry = o.Retry.WithDefaults()
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

// swiftLimits are the server constraints read from /info.
type swiftLimits struct {
	SLO                  bool
	MaxManifestSegments  int
	MinSegmentSize       int64
	MaxFileSize          int64
	MaxObjectNameLength  int
	BulkDelete           bool
	MaxDeletesPerRequest int
}

// Store stores objects in an OpenStack Swift container. Objects up to
// the segment size are single PUTs verified by their MD5 ETag; larger
// streams become Static Large Objects whose segments, named
// "<name>/<upload id>/<%08d>" in the "<container>_segments" container, are
// uploaded in parallel with a known length and MD5, each retried on its
// own; the manifest PUT last makes the object visible. Safe for concurrent
// use.
//
// Memory: a Put holds at most Concurrency+1 segment buffers (one filling,
// the others uploading), from a pool of its own.
//
// Segment size: the stream length is not known in advance. The first
// segment size is segment_size, raised by an expected-size hint
// (Options.ExpectedSize or WithExpectedSize) so that an object of that
// size needs at most half of the server's max_manifest_segments. If a
// stream still runs long, later segments double each time the remaining
// manifest slots halve (segmentSizeAt). The memory budget stays (Concurrency+1)
// first-size segments, so fewer grown segments go up in parallel; a segment
// larger than the whole budget goes up alone. A stream beyond even that
// fails cleanly, naming the limit.
//
// Replacing an existing SLO deletes its old segments after the new manifest
// is in place; whatever a killed process leaves is found by storage.Orphans.
type Store struct {
	conn         *swift.Connection
	container    string
	segContainer string
	opts         Options
	limits       swiftLimits
	log          *slog.Logger

	newUploadID   func() string // replaced by tests
	cleanupSettle time.Duration // wait before the second cleanup pass
}

// New authenticates, reads the server's /info once and creates
// the container and its segment container when missing.
func New(ctx context.Context, o Options) (*Store, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	tr, err := swiftTransport(o)
	if err != nil {
		return nil, err
	}
	conn := &swift.Connection{
		UserName: o.User, ApiKey: o.Key.Reveal(), AuthUrl: o.AuthURL, AuthVersion: o.AuthVersion,
		Tenant: o.Tenant, Domain: o.Domain, TenantDomain: o.TenantDomain, Region: o.Region,
		ConnectTimeout: o.ConnectTimeout, Timeout: o.Timeout, Transport: tr,
		UserAgent: "ops-backup", Retries: 3,
	}
	s := &Store{
		conn: conn, container: o.Container, segContainer: o.Container + "_segments",
		opts: o, log: o.Logger, newUploadID: newSwiftUploadID, cleanupSettle: time.Second,
	}
	if err := conn.Authenticate(ctx); err != nil {
		return nil, s.authError(err)
	}
	s.limits = s.readLimits(ctx)
	for _, c := range []string{s.container, s.segContainer} {
		if err := s.ensureContainer(ctx, c); err != nil {
			return nil, s.scrub(err)
		}
	}
	o.SegmentSize = s.clampSegment(o.SegmentSize)
	s.opts.SegmentSize = o.SegmentSize
	s.log.Debug("swift target ready", "store", s.String(), "segment_size", o.SegmentSize,
		"max_manifest_segments", s.limits.MaxManifestSegments, "bulk_delete", s.limits.BulkDelete)
	return s, nil
}

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

// authError turns a failed authentication into a message that names the
// user and URL, never the key.
func (s *Store) authError(err error) error {
	u := swiftRedactURL(s.opts.AuthURL)
	if code := retry.HTTPStatus(err); code != 0 && code < 500 {
		return &AuthError{User: s.opts.User, URL: u, Status: code, Err: s.scrub(err)}
	}
	return s.scrub(fmt.Errorf("swift: authenticating user %s at %s: %w", s.opts.User, u, err))
}

// scrub makes sure an error never carries the key, whatever a server echoes.
func (s *Store) scrub(err error) error {
	if err == nil {
		return nil
	}
	if k := s.opts.Key.Reveal(); len(k) >= 3 && strings.Contains(err.Error(), k) {
		return &scrubbedError{msg: strings.ReplaceAll(err.Error(), k, secret.Redacted), err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func swiftRedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

func (s *Store) readLimits(ctx context.Context) swiftLimits {
	l := swiftLimits{SLO: true, MaxManifestSegments: 1000, MinSegmentSize: 1 << 20, MaxFileSize: 5<<30 + 2, MaxObjectNameLength: 1024, MaxDeletesPerRequest: 10000}
	info, err := s.conn.QueryInfo(ctx)
	if err != nil {
		s.log.Warn("swift: cannot read /info, assuming default limits", "err", err,
			"max_manifest_segments", l.MaxManifestSegments, "min_segment_size", l.MinSegmentSize)
		return l
	}
	raw, _ := json.Marshal(info)
	var v struct {
		Swift struct {
			MaxFileSize         int64 `json:"max_file_size"`
			MaxObjectNameLength int   `json:"max_object_name_length"`
		} `json:"swift"`
		SLO *struct {
			MaxManifestSegments int   `json:"max_manifest_segments"`
			MinSegmentSize      int64 `json:"min_segment_size"`
		} `json:"slo"`
		Bulk *struct {
			MaxDeletesPerRequest int `json:"max_deletes_per_request"`
		} `json:"bulk_delete"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		s.log.Warn("swift: cannot parse /info, assuming default limits", "err", err)
		return l
	}
	if v.Swift.MaxFileSize > 0 {
		l.MaxFileSize = v.Swift.MaxFileSize
	}
	if v.Swift.MaxObjectNameLength > 0 {
		l.MaxObjectNameLength = v.Swift.MaxObjectNameLength
	}
	l.SLO = v.SLO != nil
	if v.SLO != nil {
		if v.SLO.MaxManifestSegments > 0 {
			l.MaxManifestSegments = v.SLO.MaxManifestSegments
		}
		l.MinSegmentSize = max(v.SLO.MinSegmentSize, 1)
	}
	if v.Bulk != nil {
		l.BulkDelete = true
		if v.Bulk.MaxDeletesPerRequest > 0 {
			l.MaxDeletesPerRequest = v.Bulk.MaxDeletesPerRequest
		}
	}
	return l
}

func (s *Store) clampSegment(n int64) int64 {
	if n < s.limits.MinSegmentSize {
		s.log.Debug("swift: segment size raised to the server's min_segment_size", "from", n, "to", s.limits.MinSegmentSize)
		n = s.limits.MinSegmentSize
	}
	if n > s.limits.MaxFileSize {
		s.log.Warn("swift: segment size lowered to the server's max_file_size", "from", n, "to", s.limits.MaxFileSize)
		n = s.limits.MaxFileSize
	}
	return n
}

func (s *Store) String() string { return "swift:" + s.container }

// call runs a request against the storage URL (re-authenticating on 401
// when the body can be rewound) and wraps HTTP errors with their status
// and Retry-After.
func (s *Store) call(ctx context.Context, p swift.RequestOpts) (*http.Response, swift.Headers, error) {
	p.OnReAuth = func() (string, error) { return s.conn.StorageUrl, nil } // called with the auth lock held
	u, err := s.conn.GetStorageUrl(ctx)
	if err != nil {
		return nil, nil, s.scrub(err)
	}
	resp, h, err := s.conn.Call(ctx, u, p)
	if err != nil {
		return nil, h, s.scrub(wrapSwiftErr(err, h))
	}
	return resp, h, nil
}

// swiftStatusError adds the Retry-After of a response to a Swift error.
type swiftStatusError struct {
	status     int
	retryAfter time.Duration
	err        error
}

func (e *swiftStatusError) Error() string             { return e.err.Error() }
func (e *swiftStatusError) Unwrap() error             { return e.err }
func (e *swiftStatusError) HTTPStatus() int           { return e.status }
func (e *swiftStatusError) RetryAfter() time.Duration { return e.retryAfter }

func wrapSwiftErr(err error, h swift.Headers) error {
	code := retry.HTTPStatus(err)
	if code == 0 || h == nil {
		return err
	}
	ra := h["Retry-After"]
	if ra == "" {
		return err
	}
	var d time.Duration
	if n, perr := strconv.Atoi(strings.TrimSpace(ra)); perr == nil {
		d = time.Duration(n) * time.Second
	} else if t, perr := http.ParseTime(ra); perr == nil {
		d = time.Until(t)
	}
	if d <= 0 {
		return err
	}
	return &swiftStatusError{status: code, retryAfter: d, err: err}
}

func swiftIsNotFound(err error) bool { return retry.HTTPStatus(err) == http.StatusNotFound }

func (s *Store) ensureContainer(ctx context.Context, c string) error {
	_, _, err := s.call(ctx, swift.RequestOpts{Container: c, Operation: "HEAD", NoResponse: true})
	if err == nil {
		return nil
	}
	if !swiftIsNotFound(err) {
		return fmt.Errorf("swift: checking container %s: %w", c, err)
	}
	err = s.opts.Retry.Do(ctx, "create container "+c, retry.IsTransient, func(int) error {
		_, _, err := s.call(ctx, swift.RequestOpts{Container: c, Operation: "PUT", NoResponse: true,
			Headers: swift.Headers{"Content-Length": "0"}})
		return err
	})
	if err != nil {
		return fmt.Errorf("swift: creating container %s: %w", c, err)
	}
	s.log.Info("swift: created container", "container", c)
	return nil
}

// segmentRetryable: what a segment, manifest or cleanup request retries.
// Beyond IsTransient: 401 (the token expired; the next try
// re-authenticates), 409 (a conflicting concurrent write) and 422 (the data
// did not reach the server intact; it is still in memory).
func segmentRetryable(err error) bool {
	switch retry.HTTPStatus(err) {
	case 401, 409, 422:
		return true
	}
	return retry.IsTransient(err) || errors.Is(err, errEtagMismatch)
}

var errEtagMismatch = errors.New("the server's ETag differs from the MD5 sent")

func (s *Store) retry(ctx context.Context, what string, fn func() error) error {
	return s.opts.Retry.Do(ctx, what, segmentRetryable, func(attempt int) error {
		err := fn()
		if retry.HTTPStatus(err) == http.StatusUnauthorized {
			s.conn.UnAuthenticate()
		}
		return err
	})
}

// putBytes PUTs data with its length and MD5 (the server verifies it),
// retrying. A missing container is created on the way.
func (s *Store) putBytes(ctx context.Context, container, name string, data []byte, md5hex string, params url.Values, extra swift.Headers) (swift.Headers, error) {
	h := swift.Headers{"Content-Length": strconv.Itoa(len(data)), "Content-Type": "application/octet-stream"}
	if md5hex != "" {
		h["Etag"] = md5hex
	}
	for k, v := range extra {
		h[k] = v
	}
	var got swift.Headers
	created := false
	err := s.retry(ctx, "put "+container+"/"+name, func() error {
		_, rh, err := s.call(ctx, swift.RequestOpts{Container: container, ObjectName: name, Operation: "PUT",
			Headers: h, Parameters: params, Body: bytes.NewReader(data), NoResponse: true})
		if swiftIsNotFound(err) && !created {
			created = true
			if cerr := s.ensureContainer(ctx, container); cerr != nil {
				return cerr
			}
			_, rh, err = s.call(ctx, swift.RequestOpts{Container: container, ObjectName: name, Operation: "PUT",
				Headers: h, Parameters: params, Body: bytes.NewReader(data), NoResponse: true})
		}
		if err != nil {
			return err
		}
		if et := strings.Trim(rh["Etag"], `"`); md5hex != "" && et != "" && !strings.EqualFold(et, md5hex) {
			return fmt.Errorf("%w: sent %s, got %s", errEtagMismatch, md5hex, et)
		}
		got = rh
		return nil
	})
	return got, err
}

func newSwiftUploadID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// uploadIDRE matches the upload ids this store makes; Orphans never touches
// segments whose path does not follow the store's own scheme.
var uploadIDRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$`)

var segmentIndexRE = regexp.MustCompile(`^[0-9]{8}$`)

func (s *Store) checkName(name string) error {
	if name == "" || strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") || !utf8.ValidString(name) {
		return fmt.Errorf("swift: invalid object name %q", name)
	}
	// room for "/<upload id>/<index>" in the segment names
	if len(name)+len("/20060102T150405Z-000000000000/00000000") > s.limits.MaxObjectNameLength {
		return fmt.Errorf("swift: object name %q is too long (the server allows %d bytes, segments need 39 more)", name, s.limits.MaxObjectNameLength)
	}
	return nil
}

// baseSegmentSize is the first segment size of a Put: the configured size,
// raised so that an object of the expected size needs at most half the
// server's max_manifest_segments (leaving room for the growth below when
// the hint is too low).
func (s *Store) baseSegmentSize(ctx context.Context) int64 {
	size := s.opts.SegmentSize
	expected := s.opts.ExpectedSize
	if v, ok := ctx.Value(expectedSizeKey{}).(int64); ok {
		expected = v
	}
	if half := int64(s.limits.MaxManifestSegments / 2); expected > 0 && half > 0 {
		if need := (expected + half - 1) / half; need > size {
			const mib = 1 << 20
			if need > mib {
				need = (need + mib - 1) / mib * mib
			}
			size = need
		}
	}
	return s.clampSegment(size)
}

// segmentSizeAt implements the growth for streams longer than expected:
// segment idx of at most limit is base × 2^k, where k grows by one each time
// the remaining segment count halves (at limit/2, 3/4, 7/8, …), capped at
// the server's max_file_size. A 1000-segment limit so holds about 5000 base
// segments worth of data instead of 1000.
func segmentSizeAt(base, maxSize int64, limit, idx int) int64 {
	remaining := limit - idx
	size := base
	for k := 1; remaining > 0 && limit>>k >= remaining && size < maxSize; k++ {
		size *= 2
	}
	return min(size, maxSize)
}

// maxObjectSize is the largest stream a Put accepts with the given first
// segment size under the server's limits.
func (s *Store) maxObjectSize(base int64) int64 {
	var total int64
	for i := 0; i < s.limits.MaxManifestSegments; i++ {
		total += segmentSizeAt(base, s.limits.MaxFileSize, s.limits.MaxManifestSegments, i)
	}
	return total
}

// swiftUpload is the state of one Put of a large object.
type swiftUpload struct {
	s      *Store
	name   string
	uid    string
	ctx    context.Context
	cancel context.CancelCauseFunc
	sem    *semaphore.Weighted // memory: buffers filling, waiting or uploading
	budget int64
	slots  chan struct{} // uploads in flight
	wg     sync.WaitGroup

	mu         sync.Mutex
	free       map[int64][]*[]byte // buffer pool of this upload, by size
	allocated  int                 // buffers made
	err        error               // the first failure
	segs       []storage.Segment   // by index
	etags      []string
	dispatched []string // segment object names sent (or being sent)
	cut        bool     // an upload was cancelled mid-request
}

type swiftChunk struct {
	buf    *[]byte
	n      int
	weight int64
}

func (u *swiftUpload) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel(err)
}

func (u *swiftUpload) firstErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// acquire reserves memory for a segment buffer of the given size. The
// budget is (Concurrency+1) × the first segment size; a segment larger than
// the whole budget (after growth) takes all of it.
func (u *swiftUpload) acquire(size int64) (*swiftChunk, error) {
	w := min(size, u.budget)
	if err := u.sem.Acquire(u.ctx, w); err != nil {
		return nil, err
	}
	u.mu.Lock()
	var b *[]byte
	if l := u.free[size]; len(l) > 0 {
		b, u.free[size] = l[len(l)-1], l[:len(l)-1]
	} else {
		for k := range u.free {
			delete(u.free, k) // the segment size grew: let the smaller buffers go
		}
	}
	u.mu.Unlock()
	if b == nil {
		buf := make([]byte, size)
		b = &buf
		u.mu.Lock()
		u.allocated++
		u.mu.Unlock()
	}
	return &swiftChunk{buf: b, weight: w}, nil
}

// release returns a buffer to the pool: the buffers of an upload are
// reused, so its memory stays within the budget (the pool dies with it).
func (u *swiftUpload) release(c *swiftChunk) {
	u.mu.Lock()
	if u.free == nil {
		u.free = map[int64][]*[]byte{}
	}
	size := int64(cap(*c.buf))
	u.free[size] = append(u.free[size], c.buf)
	u.mu.Unlock()
	u.sem.Release(c.weight)
}

func (u *swiftUpload) segName(idx int) string { return fmt.Sprintf("%s/%s/%08d", u.name, u.uid, idx) }

// dispatch uploads chunk idx in the background.
func (u *swiftUpload) dispatch(c *swiftChunk, idx int) {
	name := u.segName(idx)
	u.mu.Lock()
	u.dispatched = append(u.dispatched, name)
	for len(u.segs) <= idx {
		u.segs = append(u.segs, storage.Segment{})
		u.etags = append(u.etags, "")
	}
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.release(c)
		data := (*c.buf)[:c.n]
		m := md5.Sum(data)
		sh := sha256.Sum256(data)
		md5hex := hex.EncodeToString(m[:])
		select {
		case u.slots <- struct{}{}:
			defer func() { <-u.slots }()
		case <-u.ctx.Done():
			return
		}
		start := time.Now()
		if _, err := u.s.putBytes(u.ctx, u.s.segContainer, name, data, md5hex, nil, nil); err != nil {
			if u.ctx.Err() == nil {
				u.fail(fmt.Errorf("swift: uploading %s: segment %d (%s/%s): %w", u.name, idx, u.s.segContainer, name, err))
			} else {
				u.mu.Lock()
				u.cut = true
				u.mu.Unlock()
			}
			return
		}
		u.s.log.Debug("swift: segment uploaded", "object", u.name, "segment", idx, "bytes", c.n,
			"seconds", time.Since(start).Seconds())
		u.mu.Lock()
		u.segs[idx] = storage.Segment{Name: u.s.segContainer + "/" + name, Size: int64(c.n), SHA256: hex.EncodeToString(sh[:]), MD5: md5hex}
		u.etags[idx] = md5hex
		u.mu.Unlock()
	}()
}

// Put implements storage.Store. See Store for the layout. The memory used is
// at most (Concurrency+1) segments. If the stream, a segment or the context
// fails, the uploads in flight are cancelled, the segments already stored
// are deleted (best effort) and nothing appears under name.
func (s *Store) Put(ctx context.Context, name string, r io.Reader) (storage.Object, error) {
	if err := s.checkName(name); err != nil {
		return storage.Object{}, err
	}
	base := s.baseSegmentSize(ctx)
	limit := s.limits.MaxManifestSegments
	uctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u := &swiftUpload{s: s, name: name, uid: s.newUploadID(), ctx: uctx, cancel: cancel,
		budget: int64(s.opts.Concurrency+1) * base, slots: make(chan struct{}, s.opts.Concurrency)}
	u.sem = semaphore.NewWeighted(u.budget)
	rd := storage.ContextReader(uctx, r)
	whole := sha256.New()
	var total int64
	var first *swiftChunk // segment 0, held until we know there is more
	grown := false

	abort := func(err error) (storage.Object, error) {
		u.fail(err)
		u.wg.Wait()
		if first != nil {
			u.release(first)
		}
		s.cleanupUpload(ctx, u)
		return storage.Object{}, u.firstErr()
	}
	ctxErr := func() error {
		if e := u.firstErr(); e != nil {
			return e
		}
		return fmt.Errorf("swift: uploading %s: %w", name, context.Cause(uctx))
	}

	for idx := 0; ; idx++ {
		if idx == limit {
			// The manifest is full: the stream must end here.
			var one [1]byte
			if n, err := io.ReadAtLeast(rd, one[:], 1); n > 0 {
				return abort(fmt.Errorf("swift: uploading %s: the object exceeds %d bytes, the most %d segments of at first %d bytes can hold; raise segment_size or give an expected size",
					name, s.maxObjectSize(base), limit, base))
			} else if err != io.EOF && err != io.ErrUnexpectedEOF {
				return abort(fmt.Errorf("swift: uploading %s: reading the stream: %w", name, err))
			}
			break
		}
		size := base
		if idx > 0 {
			size = segmentSizeAt(base, s.limits.MaxFileSize, limit, idx)
			if size > base && !grown {
				grown = true
				s.log.Warn("swift: object larger than expected, growing the segment size", "object", name,
					"segment", idx, "max_manifest_segments", limit, "segment_size", size)
			}
		}
		c, err := u.acquire(size)
		if err != nil {
			return abort(ctxErr())
		}
		buf := (*c.buf)[:size]
		n, err := io.ReadAtLeast(rd, buf, 1)
		if n > 0 && err == nil && first != nil {
			// More data after segment 0: this is a large object.
			if !s.limits.SLO {
				u.release(c)
				return abort(fmt.Errorf("swift: uploading %s: the stream is larger than segment_size (%d bytes) but the server does not support Static Large Objects", name, base))
			}
			u.dispatch(first, 0)
			first = nil
		}
		if err == nil && n < len(buf) {
			var m int
			m, err = io.ReadFull(rd, buf[n:])
			n += m
		}
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			u.release(c)
			if uctx.Err() != nil {
				return abort(ctxErr())
			}
			return abort(fmt.Errorf("swift: uploading %s: reading the stream: %w", name, err))
		}
		c.n = n
		whole.Write(buf[:n])
		total += int64(n)
		switch {
		case n == 0:
			u.release(c)
		case idx == 0:
			first = c
		default:
			u.dispatch(c, idx)
		}
		if eof {
			break
		}
	}
	if first != nil || total == 0 {
		// The whole stream fits in one segment: a single verified PUT.
		var data []byte
		if first != nil {
			data = (*first.buf)[:first.n]
			defer u.release(first)
		}
		return s.putSingle(ctx, name, data, hex.EncodeToString(whole.Sum(nil)))
	}
	u.wg.Wait()
	if err := u.firstErr(); err != nil {
		s.cleanupUpload(ctx, u)
		return storage.Object{}, err
	}
	if uctx.Err() != nil {
		return abort(ctxErr())
	}
	return s.putManifest(ctx, u, total, hex.EncodeToString(whole.Sum(nil)))
}

const metaSHA256 = "X-Object-Meta-Ops-Sha256"

func (s *Store) putSingle(ctx context.Context, name string, data []byte, sum string) (storage.Object, error) {
	old := s.oldSegments(ctx, name)
	m := md5.Sum(data)
	h, err := s.putBytes(ctx, s.container, name, data, hex.EncodeToString(m[:]), nil, swift.Headers{metaSHA256: sum})
	if err != nil {
		return storage.Object{}, fmt.Errorf("swift: uploading %s: %w", name, err)
	}
	s.deleteReplaced(ctx, name, old)
	return storage.Object{Name: name, Size: int64(len(data)), Modified: swiftLastModified(h), SHA256: sum}, nil
}

// sloEntry is one segment of a manifest PUT.
type sloEntry struct {
	Path string `json:"path"`
	Etag string `json:"etag"`
	Size int64  `json:"size_bytes"`
}

func (s *Store) putManifest(ctx context.Context, u *swiftUpload, total int64, sum string) (storage.Object, error) {
	entries := make([]sloEntry, len(u.segs))
	for i, seg := range u.segs {
		if seg.Name == "" {
			s.cleanupUpload(ctx, u)
			return storage.Object{}, fmt.Errorf("swift: uploading %s: segment %d missing (internal error)", u.name, i)
		}
		entries[i] = sloEntry{Path: seg.Name, Etag: seg.MD5, Size: seg.Size}
	}
	body, _ := json.Marshal(entries)
	old := s.oldSegments(ctx, u.name)
	// The SLO middleware checks every segment's size and ETag before it
	// stores the manifest.
	h, err := s.putBytes(ctx, s.container, u.name, body, "", url.Values{"multipart-manifest": {"put"}},
		swift.Headers{metaSHA256: sum})
	if err != nil {
		s.cleanupUpload(ctx, u)
		return storage.Object{}, fmt.Errorf("swift: uploading %s: manifest of %d segments: %w", u.name, len(entries), err)
	}
	s.deleteReplaced(ctx, u.name, old)
	s.log.Debug("swift: static large object stored", "object", u.name, "bytes", total, "segments", len(entries),
		"buffers", u.allocated)
	return storage.Object{Name: u.name, Size: total, Modified: swiftLastModified(h), SHA256: sum, Segments: u.segs}, nil
}

func swiftLastModified(h swift.Headers) time.Time {
	if t, err := http.ParseTime(h["Last-Modified"]); err == nil {
		return t
	}
	return time.Now().UTC().Truncate(time.Second)
}

// swiftCleanupCtx outlives a cancelled Put so that cleanup still runs.
func swiftCleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

// cleanupUpload deletes the segments of a failed upload: those sent and
// whatever the listing shows under the upload's prefix (a segment whose
// response was lost may still have been stored). Best effort: what is left
// is found by storage.Orphans.
func (s *Store) cleanupUpload(ctx context.Context, u *swiftUpload) {
	cctx, cancel := swiftCleanupCtx(ctx)
	defer cancel()
	u.mu.Lock()
	names := append([]string(nil), u.dispatched...)
	cut := u.cut
	u.mu.Unlock()
	prefix := u.name + "/" + u.uid + "/"
	deleted := 0
	for pass := 0; pass < 2; pass++ {
		if pass == 1 {
			// A PUT cancelled after its body was sent may still land on the
			// server after the first pass: look once more.
			if !cut || retry.Sleep(cctx, s.cleanupSettle) != nil {
				break
			}
			names = nil
		}
		if listed, err := s.listNames(cctx, s.segContainer, prefix); err == nil {
			names = append(names, listed...)
		}
		names = swiftDedupe(names)
		if len(names) == 0 {
			continue
		}
		if err := s.deleteMany(cctx, s.segContainer, names); err != nil {
			s.log.Warn("swift: could not delete the segments of a failed upload; `ops backup prune` removes them later",
				"object", u.name, "upload", u.uid, "err", err)
			return
		}
		deleted += len(names)
	}
	if deleted > 0 {
		s.log.Info("swift: deleted the segments of a failed upload", "object", u.name, "upload", u.uid)
	}
}

func swiftDedupe(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, v := range in {
		if i == 0 || v != in[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// oldSegments returns the segments of the SLO currently stored under name,
// so that they can be deleted once a new version replaces it.
func (s *Store) oldSegments(ctx context.Context, name string) []string {
	segs, _, err := s.manifestSegments(ctx, name)
	if err != nil && !swiftIsNotFound(err) {
		s.log.Warn("swift: cannot read the object being replaced; its segments may stay behind until prune", "object", name, "err", err)
	}
	return segs
}

func (s *Store) deleteReplaced(ctx context.Context, name string, old []string) {
	if len(old) == 0 {
		return
	}
	cctx, cancel := swiftCleanupCtx(ctx)
	defer cancel()
	if err := s.deletePaths(cctx, old); err != nil {
		s.log.Warn("swift: could not delete the segments of the replaced object; prune removes them later", "object", name, "err", err)
	}
}

// manifestSegments returns the segment paths ("container/object") of the
// SLO under name (none for a plain object) and whether it exists; a missing
// object gives a 404 error.
func (s *Store) manifestSegments(ctx context.Context, name string) ([]string, bool, error) {
	var h swift.Headers
	err := s.retry(ctx, "head "+name, func() error {
		var err error
		_, h, err = s.call(ctx, swift.RequestOpts{Container: s.container, ObjectName: name, Operation: "HEAD", NoResponse: true})
		if swiftIsNotFound(err) {
			return backoffStop{err}
		}
		return err
	})
	if err != nil {
		return nil, false, unwrapStop(err)
	}
	if !strings.EqualFold(h["X-Static-Large-Object"], "true") {
		return nil, true, nil
	}
	var list []struct {
		Name string `json:"name"`
	}
	err = s.retry(ctx, "get manifest "+name, func() error {
		resp, _, err := s.call(ctx, swift.RequestOpts{Container: s.container, ObjectName: name, Operation: "GET",
			Parameters: url.Values{"multipart-manifest": {"get"}}})
		if swiftIsNotFound(err) {
			return backoffStop{err}
		}
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		list = nil
		return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&list)
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading the manifest of %s: %w", name, unwrapStop(err))
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, strings.TrimPrefix(e.Name, "/"))
	}
	return out, true, nil
}

// backoffStop ends a retry loop early with an expected error.
type backoffStop struct{ err error }

func (b backoffStop) Error() string   { return b.err.Error() }
func (b backoffStop) Unwrap() error   { return b.err }
func (b backoffStop) HTTPStatus() int { return 0 }

func unwrapStop(err error) error {
	var b backoffStop
	if errors.As(err, &b) {
		return b.err
	}
	return err
}

// Open implements Store: a streaming GET (an SLO GET returns the
// concatenation of its segments). The reader checks the length, the MD5 of
// a plain object and the SHA-256 stored at upload, and fails at the end of
// the stream on a mismatch.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, h, err := s.call(ctx, swift.RequestOpts{Container: s.container, ObjectName: name, Operation: "GET"})
	if swiftIsNotFound(err) {
		return nil, fmt.Errorf("swift: opening %s: %w", name, storage.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("swift: opening %s: %w", name, err)
	}
	v := &swiftVerifyReader{rc: resp.Body, name: name, length: resp.ContentLength}
	if !h.IsLargeObject() {
		if et := strings.ToLower(strings.Trim(h["Etag"], `"`)); len(et) == 32 {
			v.md5, v.wantMD5 = md5.New(), et
		}
	}
	if sum := h[metaSHA256]; len(sum) == 64 {
		v.sha, v.wantSHA = sha256.New(), strings.ToLower(sum)
	}
	return v, nil
}

type swiftVerifyReader struct {
	rc               io.ReadCloser
	name             string
	length, n        int64
	md5, sha         hash.Hash
	wantMD5, wantSHA string
	done             bool
}

func (v *swiftVerifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.n += int64(n)
	for _, h := range []hash.Hash{v.md5, v.sha} {
		if h != nil {
			h.Write(p[:n])
		}
	}
	if err == io.EOF && !v.done {
		v.done = true
		switch {
		case v.length >= 0 && v.n != v.length:
			return n, fmt.Errorf("swift: reading %s: got %d bytes, expected %d: %w", v.name, v.n, v.length, io.ErrUnexpectedEOF)
		case v.md5 != nil && hex.EncodeToString(v.md5.Sum(nil)) != v.wantMD5:
			return n, fmt.Errorf("swift: reading %s: MD5 differs from the object's ETag: corrupted download", v.name)
		case v.sha != nil && hex.EncodeToString(v.sha.Sum(nil)) != v.wantSHA:
			return n, fmt.Errorf("swift: reading %s: SHA-256 differs from the one stored at upload: corrupted download", v.name)
		}
	}
	return n, err
}

func (v *swiftVerifyReader) Close() error { return v.rc.Close() }

// List implements Store: a paged listing of the container.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	objs, err := s.listObjects(ctx, s.container, prefix)
	if err != nil {
		return nil, fmt.Errorf("swift: listing %s: %w", s.container, err)
	}
	out := make([]storage.Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, storage.Object{Name: o.Name, Size: o.Bytes, Modified: o.LastModified})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Store) listObjects(ctx context.Context, container, prefix string) ([]swift.Object, error) {
	var out []swift.Object
	err := s.conn.ObjectsWalk(ctx, container, &swift.ObjectsOpts{Prefix: prefix, Limit: 1000},
		func(ctx context.Context, opts *swift.ObjectsOpts) (any, error) {
			objs, err := s.conn.Objects(ctx, container, opts)
			for _, o := range objs {
				if !o.PseudoDirectory {
					out = append(out, o)
				}
			}
			return objs, err
		})
	if errors.Is(err, swift.ContainerNotFound) {
		return nil, nil
	}
	return out, s.scrub(err)
}

func (s *Store) listNames(ctx context.Context, container, prefix string) ([]string, error) {
	objs, err := s.listObjects(ctx, container, prefix)
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Name
	}
	return names, err
}

// Delete implements storage.Store. For a Static Large Object the segments go first
// and the manifest last, like Swift's multipart-manifest=delete: an
// interrupted Delete leaves the object listed, so that repeating it (or the
// next prune) finishes the job, and never leaves unreferenced segments.
func (s *Store) Delete(ctx context.Context, names ...string) error {
	for _, name := range names {
		segs, exists, err := s.manifestSegments(ctx, name)
		if swiftIsNotFound(err) || (err == nil && !exists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("swift: deleting %s: %w", name, err)
		}
		if err := s.deletePaths(ctx, segs); err != nil {
			return fmt.Errorf("swift: deleting %s: segments: %w", name, err)
		}
		if err := s.deleteMany(ctx, s.container, []string{name}); err != nil {
			return fmt.Errorf("swift: deleting %s: %w", name, err)
		}
	}
	return nil
}

// deletePaths deletes "container/object" paths.
func (s *Store) deletePaths(ctx context.Context, paths []string) error {
	by := map[string][]string{}
	var order []string
	for _, p := range paths {
		c, o, ok := strings.Cut(p, "/")
		if !ok || o == "" {
			return fmt.Errorf("invalid segment path %q", p)
		}
		if _, seen := by[c]; !seen {
			order = append(order, c)
		}
		by[c] = append(by[c], o)
	}
	for _, c := range order {
		if err := s.deleteMany(ctx, c, by[c]); err != nil {
			return err
		}
	}
	return nil
}

// deleteMany deletes objects of one container; missing ones are fine. It
// uses bulk delete when the server advertises it, else parallel DELETEs.
func (s *Store) deleteMany(ctx context.Context, container string, names []string) error {
	if s.limits.BulkDelete && len(names) > 1 {
		for len(names) > 0 {
			n := min(len(names), s.limits.MaxDeletesPerRequest)
			if err := s.bulkDelete(ctx, container, names[:n]); err != nil {
				return err
			}
			names = names[n:]
		}
		return nil
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	for range min(s.opts.Concurrency, len(names)) {
		wg.Go(func() {
			for name := range next {
				err := s.retry(ctx, "delete "+container+"/"+name, func() error {
					_, _, err := s.call(ctx, swift.RequestOpts{Container: container, ObjectName: name, Operation: "DELETE", NoResponse: true})
					if swiftIsNotFound(err) {
						return nil
					}
					return err
				})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("deleting %s/%s: %w", container, name, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, n := range names {
		next <- n
	}
	close(next)
	wg.Wait()
	return firstErr
}

func (s *Store) bulkDelete(ctx context.Context, container string, names []string) error {
	var body bytes.Buffer
	for _, n := range names {
		body.WriteString((&url.URL{Path: "/" + container + "/" + n}).EscapedPath())
		body.WriteByte('\n')
	}
	data := body.Bytes()
	return s.retry(ctx, "bulk delete in "+container, func() error {
		resp, _, err := s.call(ctx, swift.RequestOpts{Operation: "DELETE", Parameters: url.Values{"bulk-delete": {"1"}},
			Headers: swift.Headers{"Accept": "application/json", "Content-Type": "text/plain", "Content-Length": strconv.Itoa(len(data))},
			Body:    bytes.NewReader(data)})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var res struct {
			Status string     `json:"Response Status"`
			Body   string     `json:"Response Body"`
			Errors [][]string `json:"Errors"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			return fmt.Errorf("bulk delete: reading the response: %w", err)
		}
		var bad []string
		for _, e := range res.Errors {
			if len(e) == 2 && !strings.HasPrefix(e[1], "404") {
				bad = append(bad, e[0]+": "+e[1])
			}
		}
		code, _, _ := strings.Cut(res.Status, " ")
		status, _ := strconv.Atoi(code)
		if len(bad) > 0 {
			return &swiftStatusError{status: status, err: fmt.Errorf("bulk delete: %s", strings.Join(bad, "; "))}
		}
		if len(res.Errors) == 0 && status != 0 && (status < 200 || status > 299) && status != 404 {
			return &swiftStatusError{status: status, err: fmt.Errorf("bulk delete: %s %s", res.Status, res.Body)}
		}
		return nil
	})
}

// Orphans implements Orphans: the segment sets under "<container>_segments/
// <prefix>" whose upload id no live manifest references and whose newest
// segment is older than olderThan (an upload still running keeps writing
// segments). Names are "<container>_segments/<object>/<upload id>/".
// Only segment names of this store's own scheme are considered.
func (s *Store) Orphans(ctx context.Context, prefix string, olderThan time.Duration) ([]string, error) {
	objs, err := s.listObjects(ctx, s.segContainer, prefix)
	if err != nil {
		return nil, fmt.Errorf("swift: listing %s: %w", s.segContainer, err)
	}
	type set struct {
		name, uid string
		newest    time.Time
	}
	sets := map[string]*set{}
	for _, o := range objs {
		name, uid, ok := splitSegmentName(o.Name)
		if !ok {
			continue
		}
		key := name + "/" + uid + "/"
		st := sets[key]
		if st == nil {
			st = &set{name: name, uid: uid}
			sets[key] = st
		}
		if o.LastModified.After(st.newest) {
			st.newest = o.LastModified
		}
	}
	cutoff := time.Now().Add(-olderThan)
	live := map[string]map[string]bool{}
	var out []string
	for key, st := range sets {
		if !st.newest.Before(cutoff) {
			continue
		}
		uids, ok := live[st.name]
		if !ok {
			if uids, err = s.liveUploads(ctx, st.name); err != nil {
				return nil, err
			}
			live[st.name] = uids
		}
		if !uids[st.uid] {
			out = append(out, s.segContainer+"/"+key)
		}
	}
	sort.Strings(out)
	return out, nil
}

// splitSegmentName parses "<name>/<upload id>/<%08d>".
func splitSegmentName(seg string) (name, uid string, ok bool) {
	i := strings.LastIndexByte(seg, '/')
	if i <= 0 || !segmentIndexRE.MatchString(seg[i+1:]) {
		return "", "", false
	}
	j := strings.LastIndexByte(seg[:i], '/')
	if j <= 0 || !uploadIDRE.MatchString(seg[j+1:i]) {
		return "", "", false
	}
	return seg[:j], seg[j+1 : i], true
}

// liveUploads returns the upload ids the manifest under name references.
func (s *Store) liveUploads(ctx context.Context, name string) (map[string]bool, error) {
	segs, _, err := s.manifestSegments(ctx, name)
	if err != nil && !swiftIsNotFound(err) {
		return nil, fmt.Errorf("swift: checking %s: %w", name, err)
	}
	uids := map[string]bool{}
	for _, p := range segs {
		if c, o, _ := strings.Cut(p, "/"); c == s.segContainer {
			if n, uid, ok := splitSegmentName(o); ok && n == name {
				uids[uid] = true
			}
		}
	}
	return uids, nil
}

// DeleteOrphans implements storage.Orphans. Each set is checked again against the
// live manifest first, so an upload that completed since Orphans listed it
// is kept.
func (s *Store) DeleteOrphans(ctx context.Context, names []string) error {
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, s.segContainer+"/")
		name, uid, ok2 := splitSegmentName(strings.TrimSuffix(rest, "/") + "/00000000")
		if !ok || !ok2 || !strings.HasSuffix(rest, "/") {
			return fmt.Errorf("swift: %q is not an orphan name of this store", n)
		}
		uids, err := s.liveUploads(ctx, name)
		if err != nil {
			return err
		}
		if uids[uid] {
			s.log.Info("swift: segments are referenced again, kept", "segments", n)
			continue
		}
		segs, err := s.listNames(ctx, s.segContainer, rest)
		if err != nil {
			return fmt.Errorf("swift: listing %s: %w", n, err)
		}
		if err := s.deleteMany(ctx, s.segContainer, segs); err != nil {
			return fmt.Errorf("swift: deleting %s: %w", n, err)
		}
		s.log.Info("swift: deleted orphaned segments", "segments", n, "count", len(segs))
	}
	return nil
}

var (
	_ storage.Store   = (*Store)(nil)
	_ storage.Orphans = (*Store)(nil)
)
