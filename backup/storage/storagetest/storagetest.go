package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/storage"
)

// Options describe the store under test.
type Options struct {
	// Large is a size that makes the store split an object into segments
	// (Swift: a few times its segment size); 0 = 256 KiB.
	Large int
	// Prefix is prepended to every name, so that a shared container is
	// not disturbed (a random one is added below it).
	Prefix string
	// KeepsMetadataOnPut marks a fake that keeps an object's metadata when
	// it is overwritten (ncw/swift's swifttest: a segmented object replaced
	// by a small one still claims to be a Static Large Object). Real
	// stores never do; the overwrite of a segmented object by a small one
	// is then left out, every other overwrite is still tested.
	KeepsMetadataOnPut bool
}

// Run runs every conformance test on the store returned by open (called
// once per test).
func Run(t *testing.T, open func(t *testing.T) storage.Store, o Options) {
	if o.Large == 0 {
		o.Large = 256 << 10
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store, p string, o Options)
	}{
		{"PutOpenRoundTrip", testRoundTrip},
		{"ListPrefixAndOrder", testList},
		{"OpenMissing", testOpenMissing},
		{"FailedPutLeavesNothing", testFailedPut},
		{"CancelledPutLeavesNothing", testCancelledPut},
		{"OverwriteReplaces", testOverwrite},
		{"Delete", testDelete},
		{"NoOrphansAfterCleanPuts", testNoOrphans},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			p := fmt.Sprintf("%sconf-%08x/", o.Prefix, rand.Uint32())
			t.Cleanup(func() { cleanup(t, s, p) })
			tc.fn(t, s, p, o)
		})
	}
}

func cleanup(t *testing.T, s storage.Store, prefix string) {
	ctx := context.Background()
	objs, err := s.List(ctx, prefix)
	if err != nil {
		t.Logf("cleanup: listing %s: %v", prefix, err)
		return
	}
	for _, ob := range objs {
		if err := s.Delete(ctx, ob.Name); err != nil {
			t.Logf("cleanup: deleting %s: %v", ob.Name, err)
		}
	}
}

func random(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// SHA256Hex is the hex SHA-256 of b, as Object.SHA256 holds it.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ReadAll opens an object and reads it whole, failing the test on error.
func ReadAll(t *testing.T, s storage.Store, name string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return b
}

func names(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	objs, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%s): %v", prefix, err)
	}
	out := make([]string, len(objs))
	for i, ob := range objs {
		out[i] = ob.Name
	}
	return out
}

func assertAbsent(t *testing.T, s storage.Store, name string) {
	t.Helper()
	if rc, err := s.Open(context.Background(), name); !errors.Is(err, storage.ErrNotExist) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Open(%s) = %v, want an error matching storage.ErrNotExist", name, err)
	}
}

// Put returns the name, size and SHA-256 of what it stored, and Open gives
// the same bytes back, for an empty, a small and a segmented object.
func testRoundTrip(t *testing.T, s storage.Store, p string, o Options) {
	for i, n := range []int{0, 1, 4099, o.Large + 17} {
		name := fmt.Sprintf("%sobj-%d", p, i)
		data := random(n, uint64(n))
		obj, err := s.Put(context.Background(), name, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Put(%s, %d bytes): %v", name, n, err)
		}
		if obj.Name != name || obj.Size != int64(n) || obj.SHA256 != SHA256Hex(data) {
			t.Errorf("Put(%s) = {%s %d %s}, want {%s %d %s}", name, obj.Name, obj.Size, obj.SHA256, name, n, SHA256Hex(data))
		}
		if got := ReadAll(t, s, name); !bytes.Equal(got, data) {
			t.Errorf("Open(%s): %d bytes (sha %s), want %d (sha %s)", name, len(got), SHA256Hex(got), n, SHA256Hex(data))
		}
	}
}

// List returns exactly the objects under a prefix, in name order, with
// their sizes; "a/" does not match "ab/".
func testList(t *testing.T, s storage.Store, p string, _ Options) {
	ctx := context.Background()
	sizes := map[string]int{"a/2": 2, "a/10": 10, "a/1": 1, "ab/1": 3, "b/x/1": 4}
	for n, size := range sizes {
		if _, err := s.Put(ctx, p+n, bytes.NewReader(random(size, 1))); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := s.List(ctx, p+"a/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ob := range objs {
		got = append(got, ob.Name)
		if want := int64(sizes[ob.Name[len(p):]]); ob.Size != want {
			t.Errorf("List: %s has size %d, want %d", ob.Name, ob.Size, want)
		}
	}
	want := []string{p + "a/1", p + "a/10", p + "a/2"}
	if !slices.Equal(got, want) {
		t.Errorf("List(%sa/) = %q, want %q", p, got, want)
	}
	if all := names(t, s, p); len(all) != len(sizes) || !slices.IsSorted(all) {
		t.Errorf("List(%s) = %q, want %d names in order", p, all, len(sizes))
	}
	if none := names(t, s, p+"nothing/"); len(none) != 0 {
		t.Errorf("List of an empty prefix = %q", none)
	}
}

func testOpenMissing(t *testing.T, s storage.Store, p string, _ Options) {
	assertAbsent(t, s, p+"missing")
}

// failingReader returns n bytes of data, then an error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(b []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(b, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A reader that fails (early, or after several segments) makes Put fail
// and leaves nothing visible under the name or the prefix.
func testFailedPut(t *testing.T, s storage.Store, p string, o Options) {
	boom := errors.New("disk on fire")
	for i, n := range []int{10, o.Large + 5} {
		name := fmt.Sprintf("%sfailed-%d", p, i)
		_, err := s.Put(context.Background(), name, &failingReader{data: random(n, 7), err: boom})
		if err == nil {
			t.Fatalf("Put(%s) with a failing reader succeeded", name)
		}
		if !errors.Is(err, boom) {
			t.Errorf("Put(%s) = %v, want it to wrap the reader's error", name, err)
		}
		assertAbsent(t, s, name)
	}
	if got := names(t, s, p); len(got) != 0 {
		t.Errorf("objects visible after failed Puts: %q", got)
	}
}

// Cancelling the context mid-stream makes Put fail with the cancellation
// and leaves nothing.
func testCancelledPut(t *testing.T, s storage.Store, p string, o Options) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(random(o.Large/2, 3))
		cancel()
		// Keep the writer open: only the cancellation may end the Put.
		time.Sleep(50 * time.Millisecond)
		pw.CloseWithError(errors.New("writer gave up"))
	}()
	name := p + "cancelled"
	if _, err := s.Put(ctx, name, pr); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	assertAbsent(t, s, name)
	if got := names(t, s, p); len(got) != 0 {
		t.Errorf("objects visible after a cancelled Put: %q", got)
	}
}

// A second Put under a name replaces the first, whole: small by large,
// large by large, large by small.
func testOverwrite(t *testing.T, s storage.Store, p string, o Options) {
	ctx := context.Background()
	small, large := func(seed uint64) []byte { return random(300, seed) }, func(seed uint64) []byte { return random(o.Large+100, seed) }
	cases := [][2][]byte{{small(1), large(2)}, {large(3), large(4)}}
	if !o.KeepsMetadataOnPut {
		cases = append(cases, [2][]byte{large(5), small(6)})
	}
	for i, c := range cases {
		name := fmt.Sprintf("%sx%d", p, i)
		for _, d := range c {
			if _, err := s.Put(ctx, name, bytes.NewReader(d)); err != nil {
				t.Fatal(err)
			}
		}
		if got := ReadAll(t, s, name); !bytes.Equal(got, c[1]) {
			t.Errorf("%s after overwrite: %d bytes, want the second object's %d", name, len(got), len(c[1]))
		}
	}
	if got := names(t, s, p); len(got) != len(cases) {
		t.Errorf("List after overwrites = %q, want %d objects", got, len(cases))
	}
}

// Delete removes objects (several at once), and deleting a missing one is
// not an error.
func testDelete(t *testing.T, s storage.Store, p string, o Options) {
	ctx := context.Background()
	for i, n := range []int{5, o.Large + 1, 7} {
		if _, err := s.Put(ctx, fmt.Sprintf("%sd%d", p, i), bytes.NewReader(random(n, uint64(i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, p+"d0", p+"d1"); err != nil {
		t.Fatal(err)
	}
	assertAbsent(t, s, p+"d0")
	assertAbsent(t, s, p+"d1")
	if got := names(t, s, p); !slices.Equal(got, []string{p + "d2"}) {
		t.Errorf("List after Delete = %q, want only %sd2", got, p)
	}
	if err := s.Delete(ctx, p+"never-existed"); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
}

// A store that can leave parts behind reports none after clean Puts and
// a failed one (which cleans up after itself).
func testNoOrphans(t *testing.T, s storage.Store, p string, o Options) {
	orph, ok := s.(storage.Orphans)
	if !ok {
		t.Skip("the store does not implement storage.Orphans")
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, p+"ok", bytes.NewReader(random(o.Large+3, 9))); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Put(ctx, p+"bad", &failingReader{data: random(o.Large+3, 9), err: errors.New("cut")})
	got, err := orph.Orphans(ctx, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Orphans after clean and failed Puts = %q, want none", got)
	}
}
