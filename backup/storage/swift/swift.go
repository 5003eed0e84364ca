package swift

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/internal/suggest"

	"github.com/ncw/swift/v2"
)

// Defaults of the Swift target.
const (
	DefaultSwiftSegmentSize = 64 << 20 // bytes; objects above it become Static Large Objects
	DefaultSwiftConcurrency = 4        // segment uploads in flight per Put
)

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
// the container and its segment container when missing (unless
// Options.ReadOnly: then a missing container is an error).
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
	// Authentication, /info and the container checks are retried like
	// every idempotent request: a target briefly unreachable is waited for
	// (within the retry budget), a wrong key is not.
	if err := o.Retry.Do(ctx, "authenticate", retry.IsTransient, func(int) error { return s.scrub(conn.Authenticate(ctx)) }); err != nil {
		return nil, s.authError(err)
	}
	s.limits = s.readLimits(ctx)
	if o.ReadOnly {
		if err := s.checkContainer(ctx); err != nil {
			return nil, s.scrub(err)
		}
		return s, nil
	}
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

func (s *Store) readLimits(ctx context.Context) swiftLimits {
	l := swiftLimits{SLO: true, MaxManifestSegments: 1000, MinSegmentSize: 1 << 20, MaxFileSize: 5<<30 + 2, MaxObjectNameLength: 1024, MaxDeletesPerRequest: 10000}
	var info swift.SwiftInfo
	err := s.opts.Retry.Do(ctx, "read /info", retry.IsTransient, func(int) error {
		var err error
		info, err = s.conn.QueryInfo(ctx)
		return s.scrub(err)
	})
	if err != nil {
		s.log.Warn("swift: cannot read /info, assuming default limits", "err", s.scrub(err),
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

// checkContainer is the read-only open's check: the container must exist
// (its segment container need not: a target without large objects has none).
func (s *Store) checkContainer(ctx context.Context) error {
	err := s.headContainer(ctx, s.container)
	if err == nil {
		return nil
	}
	if !swiftIsNotFound(err) {
		return fmt.Errorf("swift: checking container %s: %w", s.container, err)
	}
	names, lerr := s.conn.ContainerNamesAll(ctx, nil)
	if lerr != nil {
		s.log.Debug("swift: cannot list the account's containers for suggestions", "err", s.scrub(lerr))
	}
	return &storage.MissingError{Kind: "swift container", Name: s.container, Suggestions: suggest.Closest(s.container, names, 3)}
}

// headContainer is a HEAD of container c, retried on transient errors.
func (s *Store) headContainer(ctx context.Context, c string) error {
	return s.opts.Retry.Do(ctx, "head container "+c, retry.IsTransient, func(int) error {
		_, _, err := s.call(ctx, swift.RequestOpts{Container: c, Operation: "HEAD", NoResponse: true})
		return err
	})
}

func (s *Store) ensureContainer(ctx context.Context, c string) error {
	err := s.headContainer(ctx, c)
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

var (
	_ storage.Store   = (*Store)(nil)
	_ storage.Orphans = (*Store)(nil)
)
