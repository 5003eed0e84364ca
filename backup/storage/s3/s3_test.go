package s3

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/backup/storage/storagetest"
	"github.com/opsteam/ops/internal/secret"
)

const testSecret = "s3cr3t-Key-Value"

// fastRetry retries quickly, for tests.
var fastRetry = retry.Policy{Attempts: 4, Base: time.Millisecond, Max: 2 * time.Millisecond}

func fakeOptions(endpoint, bucket string) Options {
	return Options{Endpoint: endpoint, Bucket: bucket, AccessKeyID: "AKIDTEST", SecretAccessKey: secret.New(testSecret),
		PathStyle: true, Retry: fastRetry, Getenv: func(string) string { return "" }}
}

// newFakeStore is a store on a fresh fake with an existing bucket "ops-b"
// and 64 KiB parts (below the protocol's minimum, which the fake does not
// enforce), so that multipart uploads stay small.
func newFakeStore(t *testing.T, mod func(*Options)) (*Store, *fakeS3) {
	t.Helper()
	f, srv := newFakeS3(t)
	f.addBucket("ops-b")
	o := fakeOptions(srv.URL, "ops-b")
	if mod != nil {
		mod(&o)
	}
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s.opts.PartSize = 64 << 10
	return s, f
}

func TestConformanceFake(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := newFakeStore(t, nil)
		return retry.Wrap(s, s.opts.Retry)
	}, storagetest.Options{Large: 3<<16 + 100})
}

func TestPartSizeStaysUnderThePartLimit(t *testing.T) {
	base := int64(DefaultPartSize)
	for _, c := range []struct {
		idx  int
		want int64
	}{{0, base}, {4999, base}, {5000, 2 * base}, {5499, 2 * base}, {5500, 4 * base}, {7000, 32 * base}, {9999, MaxPartSize}} {
		if got := partSizeAt(base, c.idx); got != c.want {
			t.Errorf("partSizeAt(%d, %d) = %d, want %d", base, c.idx, got, c.want)
		}
	}
	var total int64
	prev := int64(0)
	for i := range MaxParts {
		n := partSizeAt(base, i)
		if n < prev || n > MaxPartSize || n < MinPartSize {
			t.Fatalf("part %d: size %d after %d (limits %d..%d)", i, n, prev, MinPartSize, MaxPartSize)
		}
		prev, total = n, total+n
	}
	if total < 5<<40 {
		t.Errorf("10000 parts from %d bytes hold %d bytes, want at least 5 TiB (the largest S3 object)", base, total)
	}
}

// Parts go up at most Concurrency at a time, each with its Content-MD5
// and without the SDK's checksum trailers (the fake rejects those, as
// Swift's s3api does).
func TestMultipartBoundedAndPlainMD5(t *testing.T) {
	var trailers, noMD5 atomic.Int32
	s, f := newFakeStore(t, func(o *Options) { o.Concurrency = 2 })
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			time.Sleep(2 * time.Millisecond) // let uploads overlap
			// the body is covered by its Content-MD5, a signed header, not hashed again for the signature
			if r.Header.Get("Content-MD5") == "" || r.Header.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD" ||
				!strings.Contains(r.Header.Get("Authorization"), "content-md5") {
				noMD5.Add(1)
			}
		}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") || strings.EqualFold(k, "x-amz-trailer") {
				trailers.Add(1)
			}
		}
		return false
	})
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: 16 parts
	obj, err := s.Put(context.Background(), "job/x", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(data)) || obj.SHA256 != storagetest.SHA256Hex(data) {
		t.Errorf("Put = %+v", obj)
	}
	if f.maxInFlight > 2 || f.maxInFlight < 1 || len(f.partSizes) != 16 {
		t.Errorf("%d parts, at most %d in flight; want 16 parts, at most 2 at once", len(f.partSizes), f.maxInFlight)
	}
	if trailers.Load() != 0 || noMD5.Load() != 0 {
		t.Errorf("%d requests with checksum headers, %d parts without a signed Content-MD5 and an unsigned payload", trailers.Load(), noMD5.Load())
	}
}

// A part that fails for good fails the Put, which aborts the upload:
// nothing is listed and no upload is left.
func TestFailedPartAbortsUpload(t *testing.T) {
	s, f := newFakeStore(t, nil)
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("partNumber") == "3" {
			s3err(w, http.StatusForbidden, "AccessDenied")
			return true
		}
		return false
	})
	_, err := s.Put(context.Background(), "job/y", bytes.NewReader(make([]byte, 500<<10)))
	if err == nil || retry.HTTPStatus(err) != http.StatusForbidden {
		t.Fatalf("Put = %v, want the 403 of part 3", err)
	}
	if n := f.uploadCount(); n != 0 {
		t.Errorf("%d multipart uploads left after a failed Put, want 0 (aborted)", n)
	}
	if objs, _ := s.List(context.Background(), ""); len(objs) != 0 {
		t.Errorf("objects listed after a failed Put: %v", objs)
	}
}

// A part that fails transiently, or whose bytes arrive damaged, is sent
// again from memory.
func TestPartRetried(t *testing.T) {
	s, f := newFakeStore(t, nil)
	var failed atomic.Int32
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		switch n := r.URL.Query().Get("partNumber"); {
		case n == "2" && failed.Add(1) == 1:
			s3err(w, http.StatusServiceUnavailable, "SlowDown")
			return true
		case n == "4" && failed.Add(1) <= 3:
			s3err(w, http.StatusBadRequest, "BadDigest")
			return true
		}
		return false
	})
	data := bytes.Repeat([]byte{7}, 300<<10)
	if _, err := s.Put(context.Background(), "job/z", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := f.object("ops-b", "job/z"); got == nil || !bytes.Equal(got.data, data) {
		t.Error("object missing or different after retried parts")
	}
}

// A lost answer to CompleteMultipartUpload: the retry finds the upload
// gone and the object there, which is success.
func TestCompleteAnswerLost(t *testing.T) {
	s, f := newFakeStore(t, nil)
	var once atomic.Bool
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") && once.CompareAndSwap(false, true) {
			f.ServeHTTP(httptest.NewRecorder(), r) // completed...
			s3err(w, http.StatusInternalServerError, "InternalError")
			return true // ...but the client hears 500
		}
		return false
	})
	data := bytes.Repeat([]byte{9}, 200<<10)
	if _, err := s.Put(context.Background(), "job/c", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := f.object("ops-b", "job/c"); got == nil || !bytes.Equal(got.data, data) {
		t.Error("object missing after a lost completion answer")
	}
}

// cutAfter makes the first GET of an object under job/ send only n bytes
// of its body, run between, then drop the connection; later GETs must
// carry a Range and an If-Match.
func cutAfter(f *fakeS3, n int, between func()) *atomic.Int32 {
	var gets atomic.Int32
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/job/") {
			return false
		}
		if gets.Add(1) > 1 {
			if r.Header.Get("Range") == "" || r.Header.Get("If-Match") == "" {
				http.Error(w, "resumed GET without Range or If-Match", http.StatusBadRequest)
				return true
			}
			return false
		}
		bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		rec := httptest.NewRecorder()
		f.getObject(rec, r, bucket, key)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes()[:n])
		w.(http.Flusher).Flush()
		if between != nil {
			between()
		}
		panic(http.ErrAbortHandler)
	})
	return &gets
}

// A download cut in the middle is resumed at the byte it reached, through
// retry.Wrap as the commands read, and the bytes are the object's.
func TestReadResumesWithRange(t *testing.T) {
	s, f := newFakeStore(t, nil)
	data := bytes.Repeat([]byte("abcdefgh"), 40000)
	if _, err := s.Put(context.Background(), "job/r", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	gets := cutAfter(f, 100000, nil)
	st := retry.Wrap(s, fastRetry)
	rc, err := st.Open(context.Background(), "job/r")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) || gets.Load() != 2 {
		t.Errorf("read %d bytes in %d GETs, want %d bytes in 2", len(got), gets.Load(), len(data))
	}
}

// An object replaced while it is read fails the resumed read with
// storage.ErrChanged, without retrying.
func TestReadResumeOfReplacedObject(t *testing.T) {
	s, f := newFakeStore(t, nil)
	if _, err := s.Put(context.Background(), "job/r", bytes.NewReader(bytes.Repeat([]byte("a"), 200000))); err != nil {
		t.Fatal(err)
	}
	cutAfter(f, 5000, func() {
		f.mu.Lock()
		f.buckets["ops-b"]["job/r"] = &fakeObj{data: []byte("new"), etag: `"other"`, modified: time.Now()}
		f.mu.Unlock()
	})
	rc, err := retry.Wrap(s, fastRetry).Open(context.Background(), "job/r")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, storage.ErrChanged) {
		t.Fatalf("read of a replaced object = %v, want storage.ErrChanged", err)
	}
}

// Read-only opens never create a bucket: a missing one is an error that
// names it and the closest existing names. A backup run creates it.
func TestReadOnlyMissingBucket(t *testing.T) {
	f, srv := newFakeS3(t)
	f.addBucket("ops-backups")
	o := fakeOptions(srv.URL, "ops-backup")
	o.ReadOnly = true
	_, err := New(context.Background(), o)
	var me *storage.MissingError
	if !errors.As(err, &me) || me.Name != "ops-backup" || len(me.Suggestions) != 1 || me.Suggestions[0] != "ops-backups" {
		t.Fatalf("New(read-only, missing bucket) = %v, want a MissingError suggesting ops-backups", err)
	}
	if !strings.Contains(err.Error(), `s3 bucket "ops-backup" does not exist (did you mean "ops-backups"?)`) {
		t.Errorf("message: %v", err)
	}
	if len(f.buckets) != 1 {
		t.Errorf("a read-only open created a bucket: %v", f.buckets)
	}
	o.ReadOnly = false
	if _, err := New(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.buckets["ops-backup"]; !ok {
		t.Error("a read-write open did not create the missing bucket")
	}
}

// Neither errors nor printed options ever carry the secret, even when a
// server echoes it.
func TestSecretNeverPrinted(t *testing.T) {
	f, srv := newFakeS3(t)
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		s3err(w, http.StatusForbidden, "AccessDenied-"+testSecret)
		return true
	})
	o := fakeOptions(srv.URL, "ops-b")
	_, err := New(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "access to bucket ops-b denied for access key AKIDTEST") {
		t.Fatalf("New = %v, want access denied naming the bucket and key id", err)
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", o, o, o)} {
		if strings.Contains(s, testSecret) {
			t.Errorf("the secret is printed: %s", s)
		}
	}
}

func TestSecretFromFileAndEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Options{Bucket: "bbb", AccessKeyID: "k", SecretAccessKeyFile: file, Getenv: func(string) string { return "" }}.resolve()
	if err != nil || o.SecretAccessKey.Reveal() != "from-file" || o.Region != DefaultRegion || o.PartSize != DefaultPartSize {
		t.Errorf("resolve with a secret file = %v, secret %q, region %q, part %d", err, o.SecretAccessKey.Reveal(), o.Region, o.PartSize)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "from-env", "AWS_REGION": "eu-de"}
	o, err = Options{Bucket: "bbb", Getenv: func(k string) string { return env[k] }}.resolve()
	if err != nil || o.SecretAccessKey.Reveal() != "from-env" || o.AccessKeyID != "id" || o.Region != "eu-de" {
		t.Errorf("resolve from the environment = %v, %+v", err, o)
	}
	if _, err := (Options{Bucket: "bbb", AccessKeyID: "k", Getenv: func(string) string { return "" }}).resolve(); err == nil || !strings.Contains(err.Error(), "no secret access key") {
		t.Errorf("resolve without a secret = %v", err)
	}
}

func TestStorageClassSent(t *testing.T) {
	s, f := newFakeStore(t, func(o *Options) { o.StorageClass = "STANDARD_IA" })
	for _, n := range []int{10, 200 << 10} {
		if _, err := s.Put(context.Background(), fmt.Sprintf("job/%d", n), bytes.NewReader(make([]byte, n))); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.storageClasses) != 2 || f.storageClasses[0] != "STANDARD_IA" || f.storageClasses[1] != "STANDARD_IA" {
		t.Errorf("storage classes sent: %q, want STANDARD_IA for the PUT and the multipart upload", f.storageClasses)
	}
}

// ca_file replaces the system roots: the test server's certificate is
// trusted with it and refused without it.
func TestCAFile(t *testing.T) {
	f := &fakeS3{buckets: map[string]map[string]*fakeObj{"ops-b": {}}, uploads: map[string]*fakeUpload{}}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	o := fakeOptions(srv.URL, "ops-b")
	o.Retry = retry.Policy{Attempts: 1}
	if _, err := New(context.Background(), o); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("New without ca_file = %v, want a certificate error", err)
	}
	o.CAFile = ca
	if _, err := New(context.Background(), o); err != nil {
		t.Errorf("New with ca_file: %v", err)
	}
}

// Orphans lists this prefix's uploads older than the grace period, and
// DeleteOrphans aborts them.
func TestOrphansAbortsOldUploads(t *testing.T) {
	s, f := newFakeStore(t, nil)
	f.mu.Lock()
	f.uploads["old1"] = &fakeUpload{bucket: "ops-b", key: "job/a (x)/1", initiated: time.Now().Add(-2 * time.Hour), parts: map[int][]byte{}}
	f.uploads["new1"] = &fakeUpload{bucket: "ops-b", key: "job/b", initiated: time.Now(), parts: map[int][]byte{}}
	f.uploads["other"] = &fakeUpload{bucket: "ops-b", key: "otherjob/c", initiated: time.Now().Add(-2 * time.Hour), parts: map[int][]byte{}}
	f.mu.Unlock()
	got, err := s.Orphans(context.Background(), "job/", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := "job/a (x)/1 (multipart upload old1)"; len(got) != 1 || got[0] != want {
		t.Fatalf("Orphans = %q, want [%q]", got, want)
	}
	if err := s.DeleteOrphans(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if n := f.uploadCount(); n != 2 {
		t.Errorf("%d uploads left, want 2 (the recent one and the other job's)", n)
	}
	if err := s.DeleteOrphans(context.Background(), []string{"job/x"}); err == nil {
		t.Error("DeleteOrphans accepted a name Orphans never gives")
	}
}

// A proxy that drops If-Match: the resumed answer's ETag is compared too,
// and a replaced object of the same size still fails with
// storage.ErrChanged.
func TestReadResumeChecksETagWithoutIfMatch(t *testing.T) {
	s, f := newFakeStore(t, nil)
	if _, err := s.Put(context.Background(), "job/r", bytes.NewReader(bytes.Repeat([]byte("a"), 200000))); err != nil {
		t.Fatal(err)
	}
	cutAfter(f, 5000, func() {
		f.mu.Lock()
		f.buckets["ops-b"]["job/r"] = &fakeObj{data: bytes.Repeat([]byte("b"), 200000), etag: `"other"`, modified: time.Now()}
		f.mu.Unlock()
	})
	cut := f.hook
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if cut(w, r) {
			return true
		}
		r.Header.Del("If-Match")
		return false
	})
	rc, err := retry.Wrap(s, fastRetry).Open(context.Background(), "job/r")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, storage.ErrChanged) {
		t.Fatalf("read of an object replaced behind a proxy that drops If-Match = %v, want storage.ErrChanged", err)
	}
}

// Objects below, at and just above the part size: one PUT up to the part
// size, a multipart upload of two parts beyond it; all read back intact.
func TestPutSizesAroundThePart(t *testing.T) {
	s, f := newFakeStore(t, nil)
	s.opts.PartSize = 1 << 20
	for _, n := range []int{smallObject - 1, smallObject, smallObject + 1, 600 << 10, 1 << 20, 1<<20 + 1} {
		f.mu.Lock()
		f.partSizes = nil
		f.mu.Unlock()
		data := bytes.Repeat([]byte{byte(n)}, n)
		name := fmt.Sprintf("job/s%d", n)
		obj, err := s.Put(context.Background(), name, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		wantParts := 0
		if n > 1<<20 {
			wantParts = 2
		}
		if got := f.object("ops-b", name); got == nil || !bytes.Equal(got.data, data) || obj.SHA256 != storagetest.SHA256Hex(data) {
			t.Errorf("%d bytes: stored object differs", n)
		}
		if len(f.partSizes) != wantParts {
			t.Errorf("%d bytes: %d parts, want %d", n, len(f.partSizes), wantParts)
		}
	}
}

// path_style: false puts the bucket in the host name (virtual-hosted
// style, AWS's default); true puts it in the path.
func TestPathStyle(t *testing.T) {
	f, srv := newFakeS3(t)
	f.addBucket("ops-b")
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	testDial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
	}
	t.Cleanup(func() { testDial = nil })
	for _, pathStyle := range []bool{false, true} {
		var hosts, paths []string
		f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			hosts, paths = append(hosts, r.Host), append(paths, r.URL.Path)
			return false
		})
		o := fakeOptions("http://s3.test:"+port, "ops-b")
		o.PathStyle = pathStyle
		s, err := New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(context.Background(), "job/p", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		last := len(hosts) - 1
		wantHost, wantPath := "ops-b.s3.test:"+port, "/job/p"
		if pathStyle {
			wantHost, wantPath = "s3.test:"+port, "/ops-b/job/p"
		}
		if last < 0 || hosts[last] != wantHost || paths[last] != wantPath {
			t.Errorf("path_style %v: requests to %q %q, want %s%s", pathStyle, hosts, paths, wantHost, wantPath)
		}
	}
}

// A server that stops sending mid-body without closing the connection:
// after Timeout without a byte the read counts as broken and is resumed.
func TestStalledReadResumed(t *testing.T) {
	s, f := newFakeStore(t, nil)
	data := bytes.Repeat([]byte("0123456789"), 30000)
	if _, err := s.Put(context.Background(), "job/stall", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s.opts.Timeout = 100 * time.Millisecond // for the reads only (the transport keeps its 60 s)
	var gets atomic.Int32
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || r.URL.Path != "/ops-b/job/stall" || gets.Add(1) > 1 {
			return false
		}
		rec := httptest.NewRecorder()
		f.getObject(rec, r, "ops-b", "job/stall")
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes()[:70000])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // hang until the client gives up on this connection
		return true
	})
	rc, err := retry.Wrap(s, fastRetry).Open(context.Background(), "job/stall")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) || gets.Load() < 2 {
		t.Fatalf("stalled read: %v, %d bytes in %d GETs, want %d bytes in 2 or more", err, len(got), gets.Load(), len(data))
	}
}

// A part larger than the memory budget (only grown parts, past ~60 GiB into
// a stream: here forced with spoolAbove) goes through a temporary file: the
// object is whole, a retried part is sent again from the file, and no file
// is left behind.
func TestGrownPartsSpooledToDisk(t *testing.T) {
	dir := t.TempDir()
	s, f := newFakeStore(t, func(o *Options) { o.SpoolDir = dir })
	s.opts.spoolAbove = 1 // every part after the first
	var failed atomic.Int32
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("partNumber") == "3" && failed.Add(1) == 1 {
			s3err(w, http.StatusServiceUnavailable, "SlowDown")
			return true
		}
		return false
	})
	data := make([]byte, 300<<10+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	obj, err := s.Put(context.Background(), "job/spooled", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.object("ops-b", "job/spooled"); got == nil || !bytes.Equal(got.data, data) || obj.Size != int64(len(data)) {
		t.Fatal("spooled object missing or different")
	}
	if failed.Load() < 2 {
		t.Errorf("part 3 sent %d times, want it retried from its file", failed.Load())
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
	// a failed spooled upload removes its files too
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("partNumber") == "4" {
			s3err(w, http.StatusForbidden, "AccessDenied")
			return true
		}
		return false
	})
	if _, err := s.Put(context.Background(), "job/spooled2", bytes.NewReader(data)); err == nil {
		t.Fatal("Put succeeded despite a refused part")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("spool files left after a failed Put: %v", left)
	}
	// the parts did go through SpoolDir: without one there is no upload
	f.setHook(nil)
	s.opts.SpoolDir = filepath.Join(dir, "missing")
	if _, err := s.Put(context.Background(), "job/spooled3", bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "temporary file") {
		t.Errorf("Put with a missing SpoolDir = %v, want the spool error", err)
	}
}
