package tlscheck

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The policy cache (RFC 8461 §5.1): fetched once, reused until max_age,
// fetched again when the TXT id changes, kept when the TXT record vanishes
// or a fetch fails while it is fresh.
func TestSTSCache(t *testing.T) {
	pki := newPKI(t, "STSCache")
	fail := false
	dial, reqs := stsServer(t, pki, "mta-sts.example.org", func(w http.ResponseWriter, r *http.Request) {
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("version: STSv1\nmode: testing\nmx: mx1.example.org\nmax_age: 3600\n"))
	})
	id1 := &Resolver{Addr: startDNS(t, []string{`_mta-sts.example.org. 60 IN TXT "v=STSv1; id=one"`}), Timeout: 2 * time.Second}
	id2 := &Resolver{Addr: startDNS(t, []string{`_mta-sts.example.org. 60 IN TXT "v=STSv1; id=two"`}), Timeout: 2 * time.Second}
	gone := &Resolver{Addr: startDNS(t, nil), Timeout: 2 * time.Second}
	now := testNow
	dir := filepath.Join(t.TempDir(), "state", "mta-sts")
	cache := &STSCache{Dir: dir, Now: func() time.Time { return now }}
	fetch := func(res *Resolver) (*STSPolicy, error) {
		return FetchSTS(t.Context(), "example.org", STSOptions{Resolver: res, RootCAs: pki.pool, DialContext: dial, Timeout: 5 * time.Second, Cache: cache})
	}
	step := func(name string, res *Resolver, wantReqs int, wantID string, wantCached bool) {
		t.Helper()
		p, err := fetch(res)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(*reqs) != wantReqs || p.ID != wantID || p.Cached != wantCached || p.Mode != "testing" {
			t.Errorf("%s: %d fetches, id %q cached %v, want %d, %q, %v", name, len(*reqs), p.ID, p.Cached, wantReqs, wantID, wantCached)
		}
	}
	step("first run fetches", id1, 1, "one", false)
	if _, err := os.Stat(filepath.Join(dir, "example.org.json")); err != nil {
		t.Fatalf("no cache file: %v", err)
	}
	step("second run uses the cache", id1, 1, "one", true)
	now = now.Add(59 * time.Minute)
	step("still fresh", id1, 1, "one", true)
	step("TXT record gone: the fresh policy applies", gone, 1, "one", true)
	step("new id: fetched again", id2, 2, "two", false)
	fail = true
	step("fetch fails for a new id: the fresh policy applies", id1, 3, "two", true)
	fail = false
	now = now.Add(61 * time.Minute)
	step("max_age passed: fetched again", id2, 4, "two", false)
	now = now.Add(2 * time.Hour)
	if _, err := fetch(gone); !errors.Is(err, ErrNoSTS) {
		t.Errorf("expired policy and no TXT record: err %v, want ErrNoSTS", err)
	}
	// A corrupt file is no entry.
	if err := os.WriteFile(filepath.Join(dir, "example.org.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	now = testNow
	step("corrupt cache file: fetched", id1, 5, "one", false)
}
