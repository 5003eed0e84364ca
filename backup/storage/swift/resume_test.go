package swift

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/backup/storage/storagetest"
	"github.com/opsteam/ops/internal/secret"
)

// rsvServer is a Swift-ish server for the read path: v1 auth, /info, a
// container HEAD and object GETs that honour Range and If-Match (each can
// be turned off, like servers and proxies that ignore them), and faults:
// a GET cut after some bytes (the connection closed mid-body), GETs
// refused outright, tokens expired.
type rsvServer struct {
	t   *testing.T
	srv *httptest.Server

	mu           sync.Mutex
	data         []byte
	etag, mod    string
	sha          string // X-Object-Meta-Ops-Sha256; "" = none
	large        bool   // answers like a Static Large Object (quoted ETag, no MD5 to check)
	token        string
	auths        int
	gets         []rsvGet
	cuts         []int // the n-th object GET is cut after cuts[n] body bytes (-1 or absent: not cut)
	stalls       []int // the n-th object GET stops sending after stalls[n] body bytes, the connection open
	down         bool  // every object GET answers 503
	ignoreRange  bool
	ignoreMatch  bool
	afterCut     func(s *rsvServer) // called (locked) after a GET was cut
	badRangeFrom int64              // >0: a ranged answer claims (and sends) from this byte instead
}

type rsvGet struct {
	Range, IfMatch, Token string
	Status                int
}

func newRSVServer(t *testing.T, data []byte) *rsvServer {
	s := &rsvServer{t: t, token: "tok-0"}
	s.setObject(data, "Mon, 07 Dec 2026 10:00:00 GMT")
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// setObject replaces the object (the caller holds mu, or no request runs).
func (s *rsvServer) setObject(data []byte, mod string) {
	m := md5.Sum(data)
	sum := sha256.Sum256(data)
	s.data, s.etag, s.mod, s.sha = data, hex.EncodeToString(m[:]), mod, hex.EncodeToString(sum[:])
	if s.large {
		s.etag = `"` + s.etag + `"`
	}
}

func (s *rsvServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == "/auth/v1.0":
		s.auths++
		s.token = fmt.Sprintf("tok-%d", s.auths)
		w.Header().Set("X-Storage-Url", s.srv.URL+"/v1/AUTH_t")
		w.Header().Set("X-Auth-Token", s.token)
		return
	case r.URL.Path == "/info":
		_, _ = io.WriteString(w, `{"swift": {"max_file_size": 5368709122}, "slo": {"max_manifest_segments": 1000}}`)
		return
	case r.Header.Get("X-Auth-Token") != s.token:
		http.Error(w, "token expired", http.StatusUnauthorized)
		return
	case r.URL.Path == "/v1/AUTH_t/c" && r.Method == http.MethodHead:
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/v1/AUTH_t/c/app/obj" && r.Method == http.MethodGet:
		s.get(w, r)
		return
	}
	http.NotFound(w, r)
}

func (s *rsvServer) get(w http.ResponseWriter, r *http.Request) {
	g := rsvGet{Range: r.Header.Get("Range"), IfMatch: r.Header.Get("If-Match"), Token: r.Header.Get("X-Auth-Token")}
	n := len(s.gets)
	record := func(status int) { g.Status = status; s.gets = append(s.gets, g) }
	if s.down {
		record(503)
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if g.IfMatch != "" && !s.ignoreMatch && g.IfMatch != s.etag {
		record(412)
		http.Error(w, "precondition failed", http.StatusPreconditionFailed)
		return
	}
	body, status := s.data, http.StatusOK
	h := w.Header()
	if from, ok := strings.CutPrefix(g.Range, "bytes="); ok && !s.ignoreRange {
		off, err := strconv.ParseInt(strings.TrimSuffix(from, "-"), 10, 64)
		if err != nil || !strings.HasSuffix(from, "-") || off >= int64(len(s.data)) {
			s.t.Errorf("unexpected Range %q", g.Range)
			record(416)
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if s.badRangeFrom > 0 {
			off = s.badRangeFrom
		}
		body, status = s.data[off:], http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, len(s.data)-1, len(s.data)))
	}
	h.Set("Etag", s.etag)
	h.Set("Last-Modified", s.mod)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if s.large {
		h.Set("X-Static-Large-Object", "True")
	}
	if s.sha != "" {
		h.Set(metaSHA256, s.sha)
	}
	record(status)
	w.WriteHeader(status)
	if n < len(s.stalls) && s.stalls[n] >= 0 {
		_, _ = w.Write(body[:s.stalls[n]])
		w.(http.Flusher).Flush()
		s.mu.Unlock() // other requests go on while this one hangs
		<-r.Context().Done()
		s.mu.Lock()
		return
	}
	if n < len(s.cuts) && s.cuts[n] >= 0 {
		_, _ = w.Write(body[:s.cuts[n]])
		w.(http.Flusher).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		if s.afterCut != nil {
			s.afterCut(s)
		}
		return
	}
	_, _ = w.Write(body)
}

func (s *rsvServer) log() []rsvGet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rsvGet(nil), s.gets...)
}

// rsvPolicy retries fast; the budget is generous (reached only by the
// budget test, which sets its own).
var rsvPolicy = retry.Policy{Budget: time.Minute, Base: time.Millisecond, Max: 4 * time.Millisecond}

// open returns the store, wrapped as backends.Open wraps it.
func (s *rsvServer) open(t *testing.T, p retry.Policy) storage.Store {
	t.Helper()
	st, err := New(context.Background(), Options{
		AuthURL: s.srv.URL + "/auth/v1.0", User: "t:u", Key: secret.New("k"), Container: "c",
		ReadOnly: true, Retry: p, Getenv: func(string) string { return "" },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return retry.Wrap(st, p)
}

func rsvRead(s storage.Store) ([]byte, error) {
	rc, err := s.Open(context.Background(), "app/obj")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// A download cut twice mid-body goes on with "Range: bytes=N-" at exactly
// the byte reached, each time with If-Match on the object's ETag, and
// returns the object's bytes, for a plain object (MD5 checked end to end)
// and a large one (SHA-256 checked end to end).
func TestSwiftReadResumesWithRange(t *testing.T) {
	for _, large := range []bool{false, true} {
		t.Run(fmt.Sprintf("large=%v", large), func(t *testing.T) {
			data := swtRandom(200_000, 3)
			srv := newRSVServer(t, nil)
			srv.large = large
			srv.setObject(data, "Mon, 07 Dec 2026 10:00:00 GMT")
			srv.cuts = []int{30_000, 70_001}
			got, err := rsvRead(srv.open(t, rsvPolicy))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the object's %d", len(got), len(data))
			}
			want := []rsvGet{
				{Range: "", IfMatch: "", Status: 200},
				{Range: "bytes=30000-", IfMatch: srv.etag, Status: 206},
				{Range: "bytes=100001-", IfMatch: srv.etag, Status: 206},
			}
			if log := rsvStrip(srv.log()); fmt.Sprint(log) != fmt.Sprint(want) {
				t.Errorf("GETs:\n got %+v\nwant %+v", log, want)
			}
		})
	}
}

func rsvStrip(gets []rsvGet) []rsvGet {
	for i := range gets {
		gets[i].Token = ""
	}
	return gets
}

// A server (or proxy) that ignores Range answers 200 with the whole
// object: the bytes already read are skipped, the result is still exact.
func TestSwiftReadResumesWhenRangeIgnored(t *testing.T) {
	data := swtRandom(100_000, 4)
	srv := newRSVServer(t, data)
	srv.ignoreRange, srv.ignoreMatch = true, true
	srv.cuts = []int{40_000}
	got, err := rsvRead(srv.open(t, rsvPolicy))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (equal: %v), err %v", len(got), bytes.Equal(got, data), err)
	}
	if log := srv.log(); len(log) != 2 || log[1].Range != "bytes=40000-" || log[1].Status != 200 {
		t.Errorf("GETs: %+v", log)
	}
}

// The object replaced between the cut and the resumption: Swift answers
// 412 to the If-Match, and the read fails (not retried) saying so.
func TestSwiftReadResumeFailsWhenObjectReplaced(t *testing.T) {
	for _, ignoreMatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoreIfMatch=%v", ignoreMatch), func(t *testing.T) {
			data := swtRandom(100_000, 5)
			srv := newRSVServer(t, data)
			srv.ignoreMatch = ignoreMatch // then only the ETag of the answer tells
			srv.cuts = []int{50_000}
			srv.afterCut = func(s *rsvServer) { s.setObject(swtRandom(100_000, 6), "Mon, 07 Dec 2026 11:00:00 GMT") }
			oldTag := srv.etag
			_, err := rsvRead(srv.open(t, rsvPolicy))
			if !errors.Is(err, storage.ErrChanged) || !strings.Contains(err.Error(), "app/obj") ||
				!strings.Contains(err.Error(), "replaced") {
				t.Fatalf("read of a replaced object: err = %v, want storage.ErrChanged naming the object", err)
			}
			log := srv.log()
			if len(log) != 2 || log[1].IfMatch != oldTag || log[1].Range != "bytes=50000-" {
				t.Errorf("GETs: %+v (want one resumption, with If-Match %s)", log, oldTag)
			}
			if want := map[bool]int{false: 412, true: 206}[ignoreMatch]; log[len(log)-1].Status != want {
				t.Errorf("last GET answered %d, want %d", log[len(log)-1].Status, want)
			}
		})
	}
}

// A resumed answer that does not start at the byte asked for is refused:
// splicing it would corrupt the stream.
func TestSwiftReadResumeChecksContentRange(t *testing.T) {
	data := swtRandom(100_000, 7)
	srv := newRSVServer(t, data)
	srv.cuts = []int{20_000}
	srv.badRangeFrom = 20_001
	_, err := rsvRead(srv.open(t, rsvPolicy))
	if err == nil || !strings.Contains(err.Error(), `Content-Range "bytes 20001-99999/100000"`) {
		t.Fatalf("err = %v, want the Content-Range refused", err)
	}
}

// The token expires while the connection is down: the resumption is
// answered 401, the store authenticates again once and goes on.
func TestSwiftReadResumeReauthenticates(t *testing.T) {
	data := swtRandom(100_000, 8)
	srv := newRSVServer(t, data)
	srv.cuts = []int{60_000}
	srv.afterCut = func(s *rsvServer) { s.token = "expired" }
	got, err := rsvRead(srv.open(t, rsvPolicy))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (equal: %v), err %v", len(got), bytes.Equal(got, data), err)
	}
	srv.mu.Lock()
	auths := srv.auths
	srv.mu.Unlock()
	log := srv.log()
	if auths != 2 || len(log) != 2 || log[1].Token != "tok-2" || log[1].Range != "bytes=60000-" {
		t.Errorf("%d authentications, GETs %+v; want 2, the resumption with the new token", auths, log)
	}
}

// A download that stalls (the network black-holed, nothing closed) is
// given up after the store's Timeout and resumed like a broken one.
func TestSwiftReadResumesAfterStall(t *testing.T) {
	data := swtRandom(100_000, 11)
	srv := newRSVServer(t, data)
	srv.stalls = []int{45_000}
	st, err := New(context.Background(), Options{
		AuthURL: srv.srv.URL + "/auth/v1.0", User: "t:u", Key: secret.New("k"), Container: "c",
		ReadOnly: true, Retry: rsvPolicy, Getenv: func(string) string { return "" },
		Timeout: 300 * time.Millisecond, // the idle timeout of a transfer (60s by default)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rsvRead(retry.Wrap(st, rsvPolicy))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (equal: %v), err %v", len(got), bytes.Equal(got, data), err)
	}
	if log := srv.log(); len(log) != 2 || log[1].Range != "bytes=45000-" {
		t.Errorf("GETs: %+v", log)
	}
}

// Storage down for longer than the budget: the read fails, naming the
// object and the budget, after retrying until the budget was spent.
func TestSwiftReadResumeBudgetExhausted(t *testing.T) {
	data := swtRandom(100_000, 9)
	srv := newRSVServer(t, data)
	srv.cuts = []int{10_000}
	srv.afterCut = func(s *rsvServer) { s.down = true }
	p := retry.Policy{Budget: 150 * time.Millisecond, Base: time.Millisecond, Max: 10 * time.Millisecond}
	got, err := rsvRead(srv.open(t, p))
	var g *retry.GaveUpError
	if !errors.As(err, &g) || g.Budget != p.Budget || g.Elapsed < p.Budget ||
		!strings.Contains(err.Error(), "read app/obj") || !strings.Contains(err.Error(), "retry budget is 150ms") {
		t.Fatalf("err = %v, want the budget named and spent", err)
	}
	if len(got) != 10_000 || len(srv.log()) < 3 {
		t.Errorf("%d bytes, %d GETs; want the 10000 before the cut and several tries", len(got), len(srv.log()))
	}
	t.Logf("%v", err)
}

// A budget of 0 (storage.retry_budget: 0) does not retry: the cut fails
// the read.
func TestSwiftReadNoBudgetNoRetry(t *testing.T) {
	srv := newRSVServer(t, swtRandom(100_000, 10))
	srv.cuts = []int{10_000}
	_, err := rsvRead(srv.open(t, retry.FromBudget(0, nil)))
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(srv.log()) != 1 {
		t.Fatalf("err = %v after %d GETs, want the cut's error after one", err, len(srv.log()))
	}
}

// The conformance suite still passes through the retrying wrapper.
func TestConformanceWrapped(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return retry.Wrap(newSwiftTest(t, swtSetup{}).store, rsvPolicy) },
		storagetest.Options{Large: 5000, KeepsMetadataOnPut: true})
}
