package swift

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/backup/storage/storagetest"

	"github.com/ncw/swift/v2"
	"github.com/ncw/swift/v2/swifttest"

	"github.com/opsteam/ops/internal/secret"
	"github.com/opsteam/ops/internal/testenv"
)

// Unit and fault-injection tests of Store against ncw/swift's
// in-memory server. Fault injection uses SetOverride, which replaces the
// response of one exact path after the server has handled the request (so
// a "failed" segment PUT has in fact been stored, like a lost response).
// Overrides are installed before the store makes any request (the server
// reads its override map without locking).

const swtContainer = "backups"

type swtEnv struct {
	srv   *swifttest.SwiftServer
	store *Store
	conn  *swift.Connection // a second, independent client for checks
	logs  *swtLogBuffer
	uids  atomic.Int32
}

type swtLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *swtLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *swtLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// swtUID is the upload id of the n-th Put of a test store (n from 1).
func swtUID(n int) string { return fmt.Sprintf("20260101T000000Z-%012d", n) }

// swtSegPath is the URL path of a segment in the test server.
func swtSegPath(name string, upload, idx int) string {
	return fmt.Sprintf("/v1/AUTH_swifttest/%s_segments/%s/%s/%08d", swtContainer, name, swtUID(upload), idx)
}

type swtSetup struct {
	overrides map[string]swifttest.HandlerOverrideFunc
	opts      func(*Options)
}

func newSwiftTest(t *testing.T, setup swtSetup) *swtEnv {
	t.Helper()
	srv, err := swifttest.NewSwiftServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	for p, fn := range setup.overrides {
		srv.SetOverride(p, fn)
	}
	e := &swtEnv{srv: srv, logs: &swtLogBuffer{}}
	authURL := swtRaceGuard(t, srv.AuthURL)
	o := Options{
		AuthURL: authURL, User: swifttest.TEST_ACCOUNT, Key: secret.New(swifttest.TEST_ACCOUNT),
		Container: swtContainer, SegmentSize: 1024, Concurrency: 4,
		Retry:  retry.Policy{Attempts: 5, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Getenv: func(string) string { return "" },
	}
	if setup.opts != nil {
		setup.opts(&o)
	}
	st, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	st.newUploadID = func() string { return swtUID(int(e.uids.Add(1))) }
	e.store = st
	e.conn = &swift.Connection{UserName: swifttest.TEST_ACCOUNT, ApiKey: swifttest.TEST_ACCOUNT, AuthUrl: authURL}
	if err := e.conn.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// names lists a container of the test server.
func (e *swtEnv) names(t *testing.T, container string) []string {
	t.Helper()
	names, err := e.conn.ObjectNamesAll(context.Background(), container, nil)
	if err != nil {
		t.Fatalf("listing %s: %v", container, err)
	}
	return names
}

// assertAbsent checks that nothing is visible under name and no segment is
// left behind.
func (e *swtEnv) assertAbsent(t *testing.T, name string) {
	t.Helper()
	if _, err := e.store.Open(context.Background(), name); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Open(%s) after a failed Put: err = %v, want ErrNotExist", name, err)
	}
	if n := e.names(t, swtContainer); len(n) != 0 {
		t.Errorf("objects visible after a failed Put: %q", n)
	}
	if n := e.names(t, swtContainer+"_segments"); len(n) != 0 {
		t.Errorf("segments left behind after a failed Put: %q", n)
	}
}

func swtRandom(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n:n]
}

// swtEndless is an endless stream of pseudo-random bytes.
type swtEndless struct {
	block []byte
	off   int
}

func (e *swtEndless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.block[e.off:])
		n += c
		e.off = (e.off + c) % len(e.block)
	}
	return n, nil
}

// swtCheckSegments verifies Object.Segments against the data and the expected
// segment sizes.
func swtCheckSegments(t *testing.T, obj storage.Object, data []byte, sizes []int) {
	t.Helper()
	if len(obj.Segments) != len(sizes) {
		t.Fatalf("%d segments, want %d", len(obj.Segments), len(sizes))
	}
	off := 0
	for i, seg := range obj.Segments {
		if seg.Size != int64(sizes[i]) {
			t.Errorf("segment %d: size %d, want %d", i, seg.Size, sizes[i])
		}
		part := data[off : off+int(seg.Size)]
		off += int(seg.Size)
		m := md5.Sum(part)
		if seg.SHA256 != storagetest.SHA256Hex(part) || seg.MD5 != hex.EncodeToString(m[:]) {
			t.Errorf("segment %d: checksums %s %s do not match its bytes", i, seg.SHA256, seg.MD5)
		}
		if want := fmt.Sprintf("%s_segments/%s/", swtContainer, obj.Name); !strings.HasPrefix(seg.Name, want) || !strings.HasSuffix(seg.Name, fmt.Sprintf("/%08d", i)) {
			t.Errorf("segment %d name %q", i, seg.Name)
		}
	}
	if off != len(data) {
		t.Errorf("segments cover %d bytes of %d", off, len(data))
	}
}

func swtSizes(n, size, last int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = size
	}
	if last > 0 {
		out[n-1] = last
	}
	return out
}

// swtPass sends the response the server recorded.
func swtPass(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// swtFailPUTs answers the first n PUTs of a path with status (n < 0: all), and
// counts the PUTs.
func swtFailPUTs(n int32, status int, hdr map[string]string) (swifttest.HandlerOverrideFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		if r.Method != http.MethodPut {
			swtPass(w, rec)
			return
		}
		if c := calls.Add(1); n < 0 || c <= n {
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
			http.Error(w, "injected failure", status)
			return
		}
		swtPass(w, rec)
	}, &calls
}

func TestSwiftSingleObjectRoundTrip(t *testing.T) {
	e := newSwiftTest(t, swtSetup{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		size int
	}{{"app/empty", 0}, {"app/small.sql.zst", 1000}, {"app/exact", 1024}} {
		data := swtRandom(tc.size, 1)
		obj, err := e.store.Put(ctx, tc.name, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Put(%s): %v", tc.name, err)
		}
		if obj.Name != tc.name || obj.Size != int64(tc.size) || obj.SHA256 != storagetest.SHA256Hex(data) || len(obj.Segments) != 0 || obj.Modified.IsZero() {
			t.Errorf("Put(%s) = %+v", tc.name, obj)
		}
		if got := storagetest.ReadAll(t, e.store, tc.name); !bytes.Equal(got, data) {
			t.Errorf("%s: content differs", tc.name)
		}
		_, h, err := e.conn.Object(ctx, swtContainer, tc.name)
		if err != nil || h.IsLargeObject() || h["X-Object-Meta-Ops-Sha256"] != storagetest.SHA256Hex(data) {
			t.Errorf("%s: headers %v, err %v", tc.name, h, err)
		}
	}
	if n := e.names(t, swtContainer+"_segments"); len(n) != 0 {
		t.Errorf("single objects left segments: %q", n)
	}
	objs, err := e.store.List(ctx, "app/")
	if err != nil || len(objs) != 3 || objs[0].Name != "app/empty" || objs[2].Name != "app/small.sql.zst" || objs[2].Size != 1000 || objs[2].Modified.IsZero() {
		t.Errorf("List = %+v, %v", objs, err)
	}
	if objs, _ := e.store.List(ctx, "other/"); len(objs) != 0 {
		t.Errorf("List(other/) = %+v", objs)
	}
	if _, err := e.store.Open(ctx, "app/missing"); !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), "app/missing") {
		t.Errorf("Open(missing) err = %v", err)
	}
	for _, bad := range []string{"", "/abs", "a\x00b", strings.Repeat("x", 1000)} {
		if _, err := e.store.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
	if s := e.store.String(); s != "swift:"+swtContainer {
		t.Errorf("String() = %q", s)
	}
}

func TestSwiftSLOManySegmentsReassembled(t *testing.T) {
	e := newSwiftTest(t, swtSetup{})
	ctx := context.Background()
	data := swtRandom(50*1024+512, 2)
	name := "app/20261128T020000Z/dump.sql.zst"
	obj, err := e.store.Put(ctx, name, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(data)) || obj.SHA256 != storagetest.SHA256Hex(data) {
		t.Errorf("object = %d bytes %s", obj.Size, obj.SHA256)
	}
	swtCheckSegments(t, obj, data, swtSizes(51, 1024, 512))
	_, h, err := e.conn.Object(ctx, swtContainer, name)
	if err != nil || h["X-Static-Large-Object"] != "True" {
		t.Fatalf("manifest headers %v, %v", h, err)
	}
	if got := storagetest.ReadAll(t, e.store, name); !bytes.Equal(got, data) {
		t.Fatal("SLO content differs from what was uploaded")
	}
	if n := e.names(t, swtContainer+"_segments"); len(n) != 51 {
		t.Errorf("%d segments stored, want 51", len(n))
	}
	// A reader that returns a few bytes at a time gives the same layout.
	obj2, err := e.store.Put(ctx, "app/trickle", &swtTrickle{data: data, step: 100})
	if err != nil {
		t.Fatal(err)
	}
	swtCheckSegments(t, obj2, data, swtSizes(51, 1024, 512))
	if got := storagetest.ReadAll(t, e.store, "app/trickle"); !bytes.Equal(got, data) {
		t.Fatal("trickled SLO differs")
	}
}

type swtTrickle struct {
	data []byte
	step int
}

func (r *swtTrickle) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestSwiftSegmentRetriedOn5xxStorms(t *testing.T) {
	name := "app/storm"
	f2, calls2 := swtFailPUTs(3, http.StatusServiceUnavailable, nil)
	f4, calls4 := swtFailPUTs(4, http.StatusInternalServerError, nil)
	f5, calls5 := swtFailPUTs(2, http.StatusConflict, nil)
	f6, calls6 := swtFailPUTs(1, http.StatusTooManyRequests, map[string]string{"Retry-After": "1"})
	e := newSwiftTest(t, swtSetup{overrides: map[string]swifttest.HandlerOverrideFunc{
		swtSegPath(name, 1, 2): f2, swtSegPath(name, 1, 4): f4, swtSegPath(name, 1, 5): f5, swtSegPath(name, 1, 6): f6,
	}})
	data := swtRandom(8*1024, 3)
	start := time.Now()
	obj, err := e.store.Put(context.Background(), name, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if c2, c4, c5, c6 := calls2.Load(), calls4.Load(), calls5.Load(), calls6.Load(); c2 != 4 || c4 != 5 || c5 != 3 || c6 != 2 {
		t.Errorf("PUT attempts: segment 2 %d (want 4), segment 4 %d (want 5), segment 5 %d (want 3), segment 6 %d (want 2)", c2, c4, c5, c6)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("Retry-After: 1 not honoured: Put took %v", d)
	}
	swtCheckSegments(t, obj, data, swtSizes(8, 1024, 0))
	if got := storagetest.ReadAll(t, e.store, name); !bytes.Equal(got, data) {
		t.Fatal("content differs after retries")
	}
	if !strings.Contains(e.logs.String(), "retrying store operation") {
		t.Error("retries were not logged")
	}
}

func TestSwiftSegmentTimeoutRetried(t *testing.T) {
	name := "app/slow"
	var calls atomic.Int32
	slow := func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		if r.Method == http.MethodPut && calls.Add(1) == 1 {
			select { // a proxy that stalls longer than the client's timeout
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}
		swtPass(w, rec)
	}
	e := newSwiftTest(t, swtSetup{
		overrides: map[string]swifttest.HandlerOverrideFunc{swtSegPath(name, 1, 1): slow},
		opts:      func(o *Options) { o.Timeout = 300 * time.Millisecond; o.ConnectTimeout = 300 * time.Millisecond },
	})
	data := swtRandom(3*1024, 4)
	if _, err := e.store.Put(context.Background(), name, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if c := calls.Load(); c != 2 {
		t.Errorf("segment 1 PUT %d times, want 2", c)
	}
	if got := storagetest.ReadAll(t, e.store, name); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestSwiftReauthenticatesMidUpload(t *testing.T) {
	name := "app/reauth"
	var auths atomic.Int32
	var e *swtEnv
	expire := func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		if r.Method == http.MethodPut {
			// Every token expires once segment 1 is stored (rec holds the
			// stored answer), before the client hears of it: cleared after
			// the answer, the next PUT could race the clearing and pass.
			e.srv.Lock()
			clear(e.srv.Sessions)
			e.srv.Unlock()
		}
		swtPass(w, rec)
	}
	reject, rejected := swtFailPUTs(1, http.StatusUnauthorized, nil)
	countAuth := func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		auths.Add(1)
		swtPass(w, rec)
	}
	e = newSwiftTest(t, swtSetup{overrides: map[string]swifttest.HandlerOverrideFunc{
		swtSegPath(name, 1, 1): expire,
		swtSegPath(name, 1, 4): reject, // a 401 from a proxy, once
		"/v1.0":                countAuth,
	}, opts: func(o *Options) { o.Concurrency = 1 }})
	before := auths.Load()
	data := swtRandom(6*1024+7, 5)
	obj, err := e.store.Put(context.Background(), name, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if n := auths.Load() - before; n < 2 {
		t.Errorf("%d re-authentications during the upload, want at least 2", n)
	}
	if rejected.Load() != 2 {
		t.Errorf("segment 4 PUT %d times, want 2", rejected.Load())
	}
	swtCheckSegments(t, obj, data, swtSizes(7, 1024, 7))
	if got := storagetest.ReadAll(t, e.store, name); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestSwiftSegmentFailingPermanently(t *testing.T) {
	for _, tc := range []struct {
		status   int
		attempts int32
	}{{http.StatusInternalServerError, 3}, {http.StatusForbidden, 1}} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			name := "app/doomed"
			fail, calls := swtFailPUTs(-1, tc.status, nil)
			e := newSwiftTest(t, swtSetup{
				overrides: map[string]swifttest.HandlerOverrideFunc{swtSegPath(name, 1, 3): fail},
				opts:      func(o *Options) { o.Retry.Attempts = 3 },
			})
			_, err := e.store.Put(context.Background(), name, bytes.NewReader(swtRandom(10*1024, 6)))
			if err == nil {
				t.Fatal("Put succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, name) || !strings.Contains(msg, "segment 3") || !strings.Contains(msg, fmt.Sprint(tc.status)) {
				t.Errorf("error does not name the object, segment and status: %v", err)
			}
			if retry.HTTPStatus(err) != tc.status {
				t.Errorf("HTTPStatus(err) = %d", retry.HTTPStatus(err))
			}
			if c := calls.Load(); c != tc.attempts {
				t.Errorf("segment 3 PUT %d times, want %d", c, tc.attempts)
			}
			e.assertAbsent(t, name)
		})
	}
}

type swtBrokenReader struct {
	data []byte
	err  error
}

func (r *swtBrokenReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestSwiftReaderErrorMidStream(t *testing.T) {
	e := newSwiftTest(t, swtSetup{})
	dumpErr := errors.New("dump failed: server has gone away")
	name := "app/broken.sql.zst"
	_, err := e.store.Put(context.Background(), name, &swtBrokenReader{data: swtRandom(3*1024+512, 7), err: dumpErr})
	if !errors.Is(err, dumpErr) || !strings.Contains(err.Error(), name) {
		t.Fatalf("err = %v, want the reader's error naming the object", err)
	}
	e.assertAbsent(t, name)
	// Also when the stream fails inside the first segment.
	_, err = e.store.Put(context.Background(), name, &swtBrokenReader{data: swtRandom(100, 7), err: dumpErr})
	if !errors.Is(err, dumpErr) {
		t.Fatalf("err = %v", err)
	}
	e.assertAbsent(t, name)
}

func TestSwiftContextCancelAbortsUpload(t *testing.T) {
	name := "app/cancelled"
	stalled := make(chan struct{})
	var once sync.Once
	stall := func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		if r.Method == http.MethodPut {
			once.Do(func() { close(stalled) })
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
		swtPass(w, rec)
	}
	e := newSwiftTest(t, swtSetup{overrides: map[string]swifttest.HandlerOverrideFunc{swtSegPath(name, 1, 2): stall}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stalled
		cancel()
	}()
	start := time.Now()
	_, err := e.store.Put(ctx, name, bytes.NewReader(swtRandom(20*1024, 8)))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), name) {
		t.Fatalf("err = %v, want context.Canceled naming the object", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Put returned %v after the cancel", d)
	}
	e.assertAbsent(t, name)
}

// swtInfo answers /info with the given slo limits (and bulk delete).
func swtInfo(maxSegments int, bulk bool) swifttest.HandlerOverrideFunc {
	return func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		info := map[string]any{
			"swift": map[string]any{"version": "test", "max_file_size": 5368709122},
			"slo":   map[string]any{"max_manifest_segments": maxSegments, "max_manifest_size": 2097152, "min_segment_size": 1},
		}
		if bulk {
			info["bulk_delete"] = map[string]any{"max_deletes_per_request": 3}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	}
}

func TestSwiftSegmentSizeGrowsUnderManifestLimit(t *testing.T) {
	e := newSwiftTest(t, swtSetup{overrides: map[string]swifttest.HandlerOverrideFunc{"/info": swtInfo(8, false)}})
	ctx := context.Background()
	// 8 segments at most: 4 of 1 KiB, 2 of 2 KiB, 1 of 4 KiB, 1 of 8 KiB (20 KiB).
	data := swtRandom(19*1024, 9)
	obj, err := e.store.Put(ctx, "app/grown", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	swtCheckSegments(t, obj, data, []int{1024, 1024, 1024, 1024, 2048, 2048, 4096, 7 * 1024})
	if got := storagetest.ReadAll(t, e.store, "app/grown"); !bytes.Equal(got, data) {
		t.Fatal("grown SLO differs")
	}
	if !strings.Contains(e.logs.String(), "growing the segment size") {
		t.Error("growth not logged")
	}
	// Exactly the capacity fits; one byte more does not, and leaves nothing.
	full := swtRandom(20*1024, 10)
	if _, err := e.store.Put(ctx, "app/full", bytes.NewReader(full)); err != nil {
		t.Fatalf("20 KiB: %v", err)
	}
	if err := e.store.Delete(ctx, "app/grown", "app/full"); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.Put(ctx, "app/toobig", bytes.NewReader(swtRandom(20*1024+1, 11)))
	if err == nil || !strings.Contains(err.Error(), "exceeds 20480 bytes") {
		t.Fatalf("err = %v", err)
	}
	e.assertAbsent(t, "app/toobig")
	// A size hint sets the first segment size: 16 KiB over at most half of 8
	// segments gives 4 segments of 4 KiB.
	obj, err = e.store.Put(WithExpectedSize(ctx, 16*1024), "app/hinted", bytes.NewReader(full[:16*1024]))
	if err != nil {
		t.Fatal(err)
	}
	swtCheckSegments(t, obj, full[:16*1024], swtSizes(4, 4096, 0))
}

func TestSegmentSizeSchedule(t *testing.T) {
	const base = 64 << 20
	var total int64
	var segs int
	for i := range 1000 {
		sz := segmentSizeAt(base, 5<<30, 1000, i)
		if i < 500 && sz != base || i >= 500 && i < 750 && sz != 2*base || sz > 5<<30 {
			t.Fatalf("segment %d: %d", i, sz)
		}
		total += sz
		segs++
	}
	// 64 MiB segments reach ~250 GiB instead of 62.5 GiB.
	if total < 250<<30 {
		t.Errorf("capacity %d GiB", total>>30)
	}
}

func TestSwiftDeleteRemovesSegments(t *testing.T) {
	for _, bulk := range []bool{false, true} {
		t.Run(fmt.Sprintf("bulk=%v", bulk), func(t *testing.T) {
			e := newSwiftTest(t, swtSetup{overrides: map[string]swifttest.HandlerOverrideFunc{"/info": swtInfo(1000, bulk)}})
			ctx := context.Background()
			if e.store.limits.BulkDelete != bulk {
				t.Fatalf("bulk delete = %v", e.store.limits.BulkDelete)
			}
			if _, err := e.store.Put(ctx, "app/big", bytes.NewReader(swtRandom(10*1024+1, 12))); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Put(ctx, "app/small", strings.NewReader("small")); err != nil {
				t.Fatal(err)
			}
			if n := e.names(t, swtContainer+"_segments"); len(n) != 11 {
				t.Fatalf("%d segments", len(n))
			}
			if err := e.store.Delete(ctx, "app/big", "app/missing", "app/small"); err != nil {
				t.Fatal(err)
			}
			if n := e.names(t, swtContainer); len(n) != 0 {
				t.Errorf("objects left: %q", n)
			}
			if n := e.names(t, swtContainer+"_segments"); len(n) != 0 {
				t.Errorf("segments left: %q", n)
			}
			if err := e.store.Delete(ctx, "app/big"); err != nil {
				t.Errorf("deleting again: %v", err)
			}
		})
	}
}

func TestSwiftOverwriteDeletesOldSegments(t *testing.T) {
	e := newSwiftTest(t, swtSetup{})
	ctx := context.Background()
	if _, err := e.store.Put(ctx, "app/x", bytes.NewReader(swtRandom(5*1024, 13))); err != nil {
		t.Fatal(err)
	}
	data := swtRandom(3*1024, 14)
	if _, err := e.store.Put(ctx, "app/x", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	segs := e.names(t, swtContainer+"_segments")
	if len(segs) != 3 {
		t.Fatalf("segments after overwrite: %q", segs)
	}
	for _, s := range segs {
		if !strings.Contains(s, swtUID(2)) {
			t.Errorf("segment %s of the replaced upload left behind", s)
		}
	}
	if got := storagetest.ReadAll(t, e.store, "app/x"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestSwiftOrphans(t *testing.T) {
	e := newSwiftTest(t, swtSetup{})
	ctx := context.Background()
	live := swtRandom(3*1024, 15)
	if _, err := e.store.Put(ctx, "app/live", bytes.NewReader(live)); err != nil {
		t.Fatal(err)
	}
	// Leftovers of killed processes: an aborted upload, an older upload of
	// the live object, and a segment of another tool's naming scheme.
	put := func(name string) {
		if err := e.conn.ObjectPutString(ctx, swtContainer+"_segments", name, "leftover", ""); err != nil {
			t.Fatal(err)
		}
	}
	dead := "20251231T235959Z-abcdefabcdef"
	put("app/dead/" + dead + "/00000000")
	put("app/dead/" + dead + "/00000001")
	put("app/live/20251230T000000Z-000000000abc/00000000")
	put("app/other/slo/1700000000.000000/1234/1024/00000000")
	put("db/dead/" + dead + "/00000000")

	if got, err := e.store.Orphans(ctx, "app/", time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("Orphans(1h) = %q, %v; want none (all are recent)", got, err)
	}
	got, err := e.store.Orphans(ctx, "app/", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		swtContainer + "_segments/app/dead/" + dead + "/",
		swtContainer + "_segments/app/live/20251230T000000Z-000000000abc/",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Orphans = %q, want %q", got, want)
	}
	if err := e.store.DeleteOrphans(ctx, got); err != nil {
		t.Fatal(err)
	}
	left := e.names(t, swtContainer+"_segments")
	if len(left) != 5 { // 3 live segments, the foreign one, db/
		t.Errorf("segments left: %q", left)
	}
	if got := storagetest.ReadAll(t, e.store, "app/live"); !bytes.Equal(got, live) {
		t.Fatal("live object damaged")
	}
	if err := e.store.DeleteOrphans(ctx, []string{"app/live/"}); err == nil {
		t.Error("DeleteOrphans accepted a name it did not produce")
	}
	// A live upload's segments are never reported.
	if got, _ := e.store.Orphans(ctx, "", 0); len(got) != 1 || !strings.Contains(got[0], "db/dead/") {
		t.Errorf("Orphans(\"\") = %q", got)
	}
}

func TestSwiftConcurrentSegmentsBounded(t *testing.T) {
	name := "app/parallel"
	var inflight, peak atomic.Int32
	slow := func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		if r.Method == http.MethodPut {
			n := inflight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(30 * time.Millisecond)
			inflight.Add(-1)
		}
		swtPass(w, rec)
	}
	ov := map[string]swifttest.HandlerOverrideFunc{}
	for i := range 16 {
		ov[swtSegPath(name, 1, i)] = slow
	}
	e := newSwiftTest(t, swtSetup{overrides: ov, opts: func(o *Options) { o.Concurrency = 3 }})
	data := swtRandom(16*1024, 16)
	if _, err := e.store.Put(context.Background(), name, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p < 2 || p > 3 {
		t.Errorf("peak segment uploads in flight = %d, want 2..3", p)
	}
	// Memory: at most Concurrency+1 segment buffers were ever made.
	if !regexp.MustCompile(`static large object stored.* segments=16 buffers=[1-4]\n`).MatchString(e.logs.String()) {
		t.Errorf("buffer use not within 4:\n%s", e.logs.String())
	}
}

func TestSwiftOpenDetectsCorruption(t *testing.T) {
	flip := func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		b := rec.Body.Bytes()
		if r.Method == http.MethodGet && len(b) > 10 {
			b = append([]byte(nil), b...)
			b[10] ^= 1
		}
		_, _ = w.Write(b)
	}
	e := newSwiftTest(t, swtSetup{overrides: map[string]swifttest.HandlerOverrideFunc{
		"/v1/AUTH_swifttest/" + swtContainer + "/app/plain": flip,
		"/v1/AUTH_swifttest/" + swtContainer + "/app/slo":   flip,
	}})
	ctx := context.Background()
	for _, tc := range []struct {
		name, want string
		size       int
	}{{"app/plain", "MD5", 500}, {"app/slo", "SHA-256", 3000}} {
		if _, err := e.store.Put(ctx, tc.name, bytes.NewReader(swtRandom(tc.size, 17))); err != nil {
			t.Fatal(err)
		}
		rc, err := e.store.Open(ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(rc)
		rc.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: reading a corrupted object: err = %v", tc.name, err)
		}
	}
}

func TestSwiftListPages(t *testing.T) {
	e := newSwiftTest(t, swtSetup{})
	ctx := context.Background()
	for i := range 1003 {
		if err := e.conn.ObjectPutString(ctx, swtContainer, fmt.Sprintf("app/%05d", i), "x", ""); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := e.store.List(ctx, "app/")
	if err != nil || len(objs) != 1003 || objs[1002].Name != "app/01002" {
		t.Fatalf("List: %d objects, %v", len(objs), err)
	}
}

func TestSwiftCreatesMissingContainers(t *testing.T) {
	e := newSwiftTest(t, swtSetup{})
	ctx := context.Background()
	for _, c := range []string{swtContainer, swtContainer + "_segments"} {
		if _, _, err := e.conn.Container(ctx, c); err != nil {
			t.Errorf("container %s: %v", c, err)
		}
	}
	// The segment container vanishes behind the store's back: Put recreates it.
	if err := e.conn.ContainerDelete(ctx, swtContainer+"_segments"); err != nil {
		t.Fatal(err)
	}
	data := swtRandom(2048+1, 18)
	if _, err := e.store.Put(ctx, "app/again", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.ReadAll(t, e.store, "app/again"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestSwiftAuthFailureHidesKey(t *testing.T) {
	srv, err := swifttest.NewSwiftServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var logs swtLogBuffer
	const key = "Sup3r-s3cret-k3y"
	_, err = New(context.Background(), Options{
		AuthURL: srv.AuthURL, User: swifttest.TEST_ACCOUNT, Key: secret.New(key), Container: "c",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Getenv: func(string) string { return "" },
	})
	want := fmt.Sprintf("swift: authentication failed for user swifttest at %s: 401 Unauthorized", srv.AuthURL)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("not a AuthError: %#v", err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), key) || strings.Contains(logs.String(), key) {
		t.Error("the key leaked into the error or the logs")
	}
	// Nothing listening: a clear error too.
	_, err = New(context.Background(), Options{
		AuthURL: "http://127.0.0.1:1/auth/v1.0", User: "u", Key: secret.New(key), Container: "c",
		ConnectTimeout: time.Second, Getenv: func(string) string { return "" },
	})
	if err == nil || !strings.Contains(err.Error(), "authenticating user u at http://127.0.0.1:1/auth/v1.0") || strings.Contains(err.Error(), key) {
		t.Errorf("unreachable server: err = %v", err)
	}
}

func TestOptionsResolve(t *testing.T) {
	env := map[string]string{
		"OS_AUTH_URL": "https://keystone.example/v3", "OS_USERNAME": "envuser", "OS_PASSWORD": "envpass",
		"OS_PROJECT_NAME": "proj", "OS_REGION_NAME": "RegionOne", "OS_USER_DOMAIN_NAME": "Default",
		"OS_PROJECT_DOMAIN_NAME": "ProjDomain", "ST_AUTH": "http://st/auth/v1.0", "ST_USER": "stuser", "ST_KEY": "stkey",
	}
	getenv := func(k string) string { return env[k] }
	o, err := Options{Container: "c", Getenv: getenv}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if o.AuthURL != "https://keystone.example/v3" || o.User != "envuser" || o.Key.Reveal() != "envpass" || o.Tenant != "proj" ||
		o.Region != "RegionOne" || o.Domain != "Default" || o.TenantDomain != "ProjDomain" {
		t.Errorf("from OS_*: %+v", o)
	}
	if o.SegmentSize != DefaultSwiftSegmentSize || o.Concurrency != DefaultSwiftConcurrency || o.Retry.Attempts != 6 {
		t.Errorf("defaults: %+v", o)
	}
	// Config fields win; the key file beats the environment.
	kf := filepath.Join(t.TempDir(), "swift.key")
	if err := os.WriteFile(kf, []byte("filekey\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err = Options{AuthURL: "http://cfg/auth/v1.0", User: "cfguser", KeyFile: kf, Tenant: "t", Region: "r", Container: "c", Getenv: getenv}.resolve()
	if err != nil || o.AuthURL != "http://cfg/auth/v1.0" || o.User != "cfguser" || o.Key.Reveal() != "filekey" || o.Tenant != "t" || o.Region != "r" {
		t.Errorf("config wins: %+v %v", o, err)
	}
	o, err = Options{Container: "c", Key: secret.New("cfgkey"), KeyFile: kf, Getenv: getenv}.resolve()
	if err != nil || o.Key.Reveal() != "cfgkey" {
		t.Errorf("key beats key_file: %v", err)
	}
	// ST_* when OS_* are absent.
	delete(env, "OS_AUTH_URL")
	delete(env, "OS_USERNAME")
	delete(env, "OS_PASSWORD")
	o, err = Options{Container: "c", Getenv: getenv}.resolve()
	if err != nil || o.AuthURL != "http://st/auth/v1.0" || o.User != "stuser" || o.Key.Reveal() != "stkey" {
		t.Errorf("from ST_*: %+v %v", o, err)
	}
	none := func(string) string { return "" }
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{AuthURL: "http://a/v1.0", User: "u", Key: secret.New("k")}, "no container"},
		{Options{User: "u", Key: secret.New("k"), Container: "c"}, "no auth_url"},
		{Options{AuthURL: "http://a/v1.0", Key: secret.New("k"), Container: "c"}, "no user"},
		{Options{AuthURL: "http://a/v1.0", User: "u", Container: "c"}, "no key"},
		{Options{AuthURL: "http://a/auth", User: "u", Key: secret.New("k"), Container: "c"}, "set auth_version"},
		{Options{AuthURL: "http://a/v1.0", User: "u", KeyFile: "/nonexistent/key", Container: "c"}, "key_file"},
		{Options{AuthURL: "http://a/v1.0", User: "u", Key: secret.New("k"), Container: "a/b"}, "invalid container"},
	} {
		tc.o.Getenv = none
		if _, err := tc.o.resolve(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestSwiftCAFile(t *testing.T) {
	if _, err := swiftTransport(Options{CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Error("missing ca_file accepted")
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	_ = os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := swiftTransport(Options{CAFile: bad}); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("bad ca_file: %v", err)
	}
	tr, err := swiftTransport(Options{})
	if err != nil || tr.TLSClientConfig.InsecureSkipVerify {
		t.Error("TLS must be verified")
	}
}

// ---- Integration tests against the local Swift all-in-one (OPS_IT=1). ----

func swtITOptions(t *testing.T, container string) Options {
	t.Helper()
	o := Options{
		AuthURL:   testenv.Getenv("OPS_IT_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
		User:      testenv.Getenv("OPS_IT_SWIFT_USER", "test:tester"),
		KeyFile:   os.Getenv("OPS_IT_SWIFT_KEY_FILE"),
		Container: container,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Getenv:    func(string) string { return "" },
	}
	if o.KeyFile == "" {
		o.Key = secret.New("testing")
	}
	return o
}

func swtITContainer(t *testing.T) string {
	return fmt.Sprintf("ops-it-%s-%x", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.Uint32())
}

// newSwtIT connects to the local Swift with a fresh container and removes
// both containers at the end of the test. A Swift that does not answer
// fails the test.
func newSwtIT(t *testing.T, mod func(*Options)) *Store {
	t.Helper()
	testenv.RequireIT(t)
	o := swtITOptions(t, swtITContainer(t))
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := New(ctx, o)
	if err != nil {
		t.Fatalf("Swift at %s is not usable (scripts/services.sh start swift): %v", o.AuthURL, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, c := range []string{s.segContainer, s.container} {
			names, _ := s.conn.ObjectNamesAll(ctx, c, nil)
			for _, n := range names {
				_ = s.conn.ObjectDelete(ctx, c, n)
			}
			if err := s.conn.ContainerDelete(ctx, c); err != nil && !errors.Is(err, swift.ContainerNotFound) {
				t.Errorf("cleanup: deleting container %s: %v", c, err)
			}
		}
	})
	return s
}

// swtITCount waits (briefly: container listings are updated asynchronously
// under load) for a container to hold want objects and returns the count.
func swtITCount(t *testing.T, s *Store, container string, want int) int {
	t.Helper()
	var n int
	for i := 0; i < 50; i++ {
		names, err := s.conn.ObjectNamesAll(context.Background(), container, nil)
		if err != nil {
			t.Fatalf("listing %s: %v", container, err)
		}
		if n = len(names); n == want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n
}

func TestSwiftITStaticLargeObject(t *testing.T) {
	s := newSwtIT(t, func(o *Options) { o.SegmentSize = 1 << 20 })
	ctx := context.Background()
	seg := max(s.limits.MinSegmentSize, 1<<20)
	if s.opts.SegmentSize != seg {
		t.Fatalf("segment size %d, want %d", s.opts.SegmentSize, seg)
	}
	data := swtRandom(int(3*seg+seg/2+123), 21)
	name := "app/20261128T020000Z/dump.sql.zst"
	obj, err := s.Put(ctx, name, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(data)) || obj.SHA256 != storagetest.SHA256Hex(data) || len(obj.Segments) != 4 {
		t.Fatalf("Put = %d bytes, %s, %d segments", obj.Size, obj.SHA256, len(obj.Segments))
	}
	swtCheckSegmentsIn(t, s.segContainer, obj, data, []int{int(seg), int(seg), int(seg), int(seg/2 + 123)})

	_, h, err := s.conn.Object(ctx, s.container, name)
	if err != nil || h["X-Static-Large-Object"] != "True" {
		t.Fatalf("HEAD: X-Static-Large-Object = %q, %v", h["X-Static-Large-Object"], err)
	}
	objs, err := s.List(ctx, "app/")
	if err != nil || len(objs) != 1 || objs[0].Name != name || objs[0].Size != int64(len(data)) {
		t.Errorf("List = %+v, %v (want the SLO's total size)", objs, err)
	}
	if got := storagetest.ReadAll(t, s, name); !bytes.Equal(got, data) {
		t.Fatal("Open: content differs")
	}

	// The stock client reads it back byte for byte.
	swiftCLI, err := exec.LookPath("swift")
	if err != nil {
		t.Fatalf("the swift CLI (python3-swiftclient) is needed: %v", err)
	}
	out := filepath.Join(t.TempDir(), "dump.sql.zst")
	cmd := exec.Command(swiftCLI, "-A", s.opts.AuthURL, "-U", s.opts.User, "download", s.container, name, "-o", out)
	cmd.Env = append(os.Environ(), "ST_KEY="+s.opts.Key.Reveal()) // not on the command line
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swift download: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil || storagetest.SHA256Hex(got) != storagetest.SHA256Hex(data) {
		t.Fatalf("swift download: sha256 %s, want %s (%v)", storagetest.SHA256Hex(got), storagetest.SHA256Hex(data), err)
	}

	if err := s.Delete(ctx, name, "app/missing"); err != nil {
		t.Fatal(err)
	}
	if n := swtITCount(t, s, s.container, 0); n != 0 {
		t.Errorf("%d objects left in %s", n, s.container)
	}
	if n := swtITCount(t, s, s.segContainer, 0); n != 0 {
		t.Errorf("%d segments left in %s", n, s.segContainer)
	}
	if _, err := s.Open(ctx, name); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Open after Delete: %v", err)
	}
}

func swtCheckSegmentsIn(t *testing.T, segContainer string, obj storage.Object, data []byte, sizes []int) {
	t.Helper()
	if len(obj.Segments) != len(sizes) {
		t.Fatalf("%d segments, want %d", len(obj.Segments), len(sizes))
	}
	off := 0
	for i, seg := range obj.Segments {
		part := data[off : off+sizes[i]]
		off += sizes[i]
		if seg.Size != int64(sizes[i]) || seg.SHA256 != storagetest.SHA256Hex(part) || !strings.HasPrefix(seg.Name, segContainer+"/"+obj.Name+"/") {
			t.Errorf("segment %d = %+v", i, seg)
		}
	}
}

func TestSwiftITFailuresLeaveNothing(t *testing.T) {
	s := newSwtIT(t, func(o *Options) { o.SegmentSize = 1 << 20 })
	ctx := context.Background()
	dumpErr := errors.New("dump failed")
	_, err := s.Put(ctx, "app/broken", &swtBrokenReader{data: swtRandom(5<<20+7, 22), err: dumpErr})
	if !errors.Is(err, dumpErr) {
		t.Fatalf("err = %v", err)
	}
	if n := swtITCount(t, s, s.container, 0); n != 0 {
		t.Errorf("%d objects visible after a failed Put", n)
	}
	if n := swtITCount(t, s, s.segContainer, 0); n != 0 {
		t.Errorf("%d segments left after a failed Put", n)
	}
	// A killed process leaves segments only: Orphans finds and removes them.
	uid := newSwiftUploadID()
	for i := range 2 {
		if err := s.conn.ObjectPutBytes(ctx, s.segContainer, fmt.Sprintf("app/killed/%s/%08d", uid, i), []byte("partial"), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "app/live", bytes.NewReader(swtRandom(2<<20+1, 23))); err != nil {
		t.Fatal(err)
	}
	orphans, err := s.Orphans(ctx, "app/", 0)
	if err != nil || len(orphans) != 1 || orphans[0] != s.segContainer+"/app/killed/"+uid+"/" {
		t.Fatalf("Orphans = %q, %v", orphans, err)
	}
	if err := s.DeleteOrphans(ctx, orphans); err != nil {
		t.Fatal(err)
	}
	if n := swtITCount(t, s, s.segContainer, 3); n != 3 {
		t.Errorf("%d segments left, want the live object's 3", n)
	}
}

func TestSwiftITWrongKey(t *testing.T) {
	testenv.RequireIT(t)
	o := swtITOptions(t, swtITContainer(t))
	o.KeyFile, o.Key = "", secret.New("definitely-wrong-key")
	_, err := New(context.Background(), o)
	want := fmt.Sprintf("swift: authentication failed for user %s at %s: 401 Unauthorized", o.User, o.AuthURL)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if strings.Contains(fmt.Sprintf("%+v", err), "definitely-wrong-key") {
		t.Error("the key leaked into the error")
	}
}

func TestSwiftITCreatesContainers(t *testing.T) {
	s := newSwtIT(t, nil)
	for _, c := range []string{s.container, s.segContainer} {
		if _, _, err := s.conn.Container(context.Background(), c); err != nil {
			t.Errorf("container %s was not created: %v", c, err)
		}
	}
	// Opening the store again finds them and creates nothing.
	o := swtITOptions(t, s.container)
	if _, err := New(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

func TestSwiftTLSIsVerified(t *testing.T) {
	srv, err := swifttest.NewSwiftServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// A TLS front for the auth endpoint (the storage URL it returns stays
	// the in-memory server's plain one).
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, srv.AuthURL, nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	front.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake
	front.StartTLS()
	defer front.Close()
	o := Options{
		AuthURL: front.URL + "/v1.0", User: swifttest.TEST_ACCOUNT, Key: secret.New(swifttest.TEST_ACCOUNT),
		Container: "c", Getenv: func(string) string { return "" },
	}
	if _, err := New(context.Background(), o); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an unknown CA was accepted: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	o.CAFile = ca
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	if _, err := s.Put(context.Background(), "x", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
}

func TestSwiftITOddNames(t *testing.T) {
	s := newSwtIT(t, func(o *Options) { o.SegmentSize = 1 << 20 })
	ctx := context.Background()
	data := swtRandom(2<<20+5, 24)
	for _, name := range []string{"app/ü ß/dump 1.sql", "app/a+b%20c?d#e/x&y=z"} {
		obj, err := s.Put(ctx, name, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if len(obj.Segments) != 3 {
			t.Errorf("%q: %d segments", name, len(obj.Segments))
		}
		if got := storagetest.ReadAll(t, s, name); !bytes.Equal(got, data) {
			t.Fatalf("%q: content differs", name)
		}
		if objs, err := s.List(ctx, name); err != nil || len(objs) != 1 || objs[0].Name != name {
			t.Errorf("%q: List = %+v, %v", name, objs, err)
		}
		if err := s.Delete(ctx, name); err != nil {
			t.Fatalf("%q: Delete: %v", name, err)
		}
	}
	if n := swtITCount(t, s, s.segContainer, 0); n != 0 {
		t.Errorf("%d segments left", n)
	}
}

// TestSwiftITKilledUpload kills a process in the middle of a Put (SIGKILL:
// no cleanup runs) and checks that nothing is visible under the name and
// that Orphans finds and removes what it left.
func TestSwiftITKilledUpload(t *testing.T) {
	if c := os.Getenv("OPS_SWIFT_KILL_HELPER"); c != "" {
		o := swtITOptions(t, c)
		o.SegmentSize = 1 << 20
		s, err := New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Put(context.Background(), "app/killed.sql.zst", &swtEndless{block: swtRandom(1<<20+3, 25)})
		t.Fatalf("the upload was supposed to be killed: %v", err)
	}
	s := newSwtIT(t, nil)
	ctx := context.Background()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSwiftITKilledUpload$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OPS_SWIFT_KILL_HELPER="+s.container)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for i := 0; ; i++ {
		names, _ := s.conn.ObjectNamesAll(ctx, s.segContainer, nil)
		if len(names) >= 3 {
			break
		}
		if i == 300 {
			t.Fatal("the helper uploaded no segments in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := s.Open(ctx, "app/killed.sql.zst"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("after the kill, Open = %v, want ErrNotExist", err)
	}
	if objs, _ := s.List(ctx, ""); len(objs) != 0 {
		t.Errorf("visible after the kill: %+v", objs)
	}
	orphans, err := s.Orphans(ctx, "app/", 0)
	if err != nil || len(orphans) != 1 || !strings.HasPrefix(orphans[0], s.segContainer+"/app/killed.sql.zst/") {
		t.Fatalf("Orphans = %q, %v", orphans, err)
	}
	if err := s.DeleteOrphans(ctx, orphans); err != nil {
		t.Fatal(err)
	}
	if n := swtITCount(t, s, s.segContainer, 0); n != 0 {
		t.Errorf("%d segments left after DeleteOrphans", n)
	}
}

// The conformance suite against the in-process Swift fake, with 1 KiB
// segments so that the large objects are Static Large Objects. swifttest
// keeps metadata across a PUT (see storagetest.Options); the real Swift
// runs the whole suite in TestConformanceSwiftAIO.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newSwiftTest(t, swtSetup{}).store },
		storagetest.Options{Large: 5000, KeepsMetadataOnPut: true})
}

// swtRaceGuard puts a proxy in front of the swifttest server and returns
// the auth URL through it. swifttest updates its byte counters partly with
// atomics outside its lock and partly with plain writes under it, which
// the race detector reports whenever an object is overwritten while other
// requests run. The proxy lets PUTs of objects not seen before run in
// parallel (what the store's concurrent segment uploads need) and runs
// every other request alone.
func swtRaceGuard(t *testing.T, authURL string) string {
	t.Helper()
	target, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.RWMutex
	var seenMu sync.Mutex
	seen := map[string]bool{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	var proxyHost string
	rp.ModifyResponse = func(resp *http.Response) error {
		if su := resp.Header.Get("X-Storage-Url"); su != "" {
			resp.Header.Set("X-Storage-Url", strings.Replace(su, target.Host, proxyHost, 1))
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenMu.Lock()
		fresh := r.Method == http.MethodPut && !seen[r.URL.Path] && r.URL.Query().Get("multipart-manifest") == ""
		seen[r.URL.Path] = true
		seenMu.Unlock()
		if fresh {
			mu.RLock()
			defer mu.RUnlock()
		} else {
			mu.Lock()
			defer mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	proxyHost = strings.TrimPrefix(srv.URL, "http://")
	return srv.URL + target.Path
}
