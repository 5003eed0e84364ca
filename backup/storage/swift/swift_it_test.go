package swift

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/storagetest"
	"github.com/opsteam/ops/internal/testenv"
)

// The conformance suite against the real Swift AIO started by
// scripts/services.sh, with 1 MiB segments (the smallest the config
// allows) so that the large objects are Static Large Objects.
func TestConformanceSwiftAIO(t *testing.T) {
	testenv.RequireIT(t)
	container := fmt.Sprintf("ops_conformance_%d", rand.Uint32())
	o := Options{
		AuthURL:     testenv.Getenv("OPS_IT_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
		User:        testenv.Getenv("OPS_IT_SWIFT_USER", "test:tester"),
		KeyFile:     testenv.Getenv("OPS_IT_SWIFT_KEY_FILE", "/var/lib/ops-test/swift/tester.key"),
		Container:   container,
		SegmentSize: 1 << 20,
		Getenv:      func(string) string { return "" },
	}
	var last *Store
	t.Cleanup(func() {
		if last == nil {
			return
		}
		ctx := context.Background()
		for _, c := range []string{container + "_segments", container} {
			_ = last.conn.ContainerDelete(ctx, c)
		}
	})
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := New(context.Background(), o)
		if err != nil {
			t.Fatalf("Swift AIO at %s is not reachable (scripts/services.sh start swift): %v", o.AuthURL, err)
		}
		last = s
		return s
	}, storagetest.Options{Large: 3<<20 + 4096})
}
