package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/opsteam/ops/backup/storage"
	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/backup/storage/storagetest"
	"github.com/opsteam/ops/internal/testenv"
)

// itOptions are the options of Swift's s3api started by scripts/services.sh
// (service s3), for a bucket of the given name.
func itOptions(bucket string) Options {
	return Options{
		Endpoint:            testenv.Getenv("OPS_IT_S3_ENDPOINT", "http://127.0.0.1:8081"),
		AccessKeyID:         testenv.Getenv("OPS_IT_S3_ACCESS_KEY", "test:tester"),
		SecretAccessKeyFile: testenv.Getenv("OPS_IT_S3_SECRET_FILE", "/var/lib/ops-test/s3/secret"),
		Region:              "us-east-1",
		PathStyle:           true,
		Bucket:              bucket,
		PartSize:            MinPartSize,
		Getenv:              func(string) string { return "" },
	}
}

// removeBucket deletes every object, upload and the bucket itself.
func removeBucket(t *testing.T, s *Store) {
	ctx := context.Background()
	if objs, err := s.List(ctx, ""); err == nil {
		for _, o := range objs {
			_ = s.Delete(ctx, o.Name)
		}
	}
	if ups, err := s.Orphans(ctx, "", 0); err == nil {
		_ = s.DeleteOrphans(ctx, ups)
	}
	if _, err := s.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &s.bucket}); err != nil {
		t.Logf("deleting bucket %s: %v", s.bucket, err)
	}
}

// The conformance suite against the real S3 API of Swift (s3api), with
// 5 MiB parts (the protocol's smallest) so that the large objects are
// multipart uploads of 4 parts, read through retry.Wrap as the commands do.
func TestConformanceS3API(t *testing.T) {
	testenv.RequireIT(t)
	bucket := fmt.Sprintf("ops-s3it-conf-%08x", rand.Uint32())
	o := itOptions(bucket)
	var last *Store
	t.Cleanup(func() {
		if last != nil {
			removeBucket(t, last)
		}
	})
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := New(context.Background(), o)
		if err != nil {
			t.Fatalf("the S3 API at %s is not reachable (scripts/services.sh start s3): %v", o.Endpoint, err)
		}
		last = s
		return retry.Wrap(s, s.opts.Retry)
	}, storagetest.Options{Large: 3*MinPartSize + 4096})
}

// Resume against the real s3api, for a single-PUT and a multipart object:
// the rest of the object comes back from the byte reached (Range with
// If-Match on the multipart ETag), and a replaced object is
// storage.ErrChanged.
func TestResumeS3API(t *testing.T) {
	testenv.RequireIT(t)
	s, err := New(context.Background(), itOptions(fmt.Sprintf("ops-s3it-resume-%08x", rand.Uint32())))
	if err != nil {
		t.Fatalf("the S3 API is not reachable (scripts/services.sh start s3): %v", err)
	}
	t.Cleanup(func() { removeBucket(t, s) })
	ctx := context.Background()
	for _, n := range []int{300 << 10, 2*MinPartSize + 777} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7 / 3)
		}
		name := fmt.Sprintf("r/%d", n)
		if _, err := s.Put(ctx, name, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 100000)
		if _, err := io.ReadFull(rc, head); err != nil {
			t.Fatal(err)
		}
		if err := rc.(storage.Resumable).Resume(ctx); err != nil {
			t.Fatalf("%s: Resume: %v", name, err)
		}
		rest, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(append(head, rest...), data) {
			t.Fatalf("%s: resumed read: %v, %d+%d bytes, equal %v", name, err, len(head), len(rest), bytes.Equal(append(head, rest...), data))
		}
		// Replaced between the first read and the resumption.
		rc, err = s.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, head); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, name, bytes.NewReader(append([]byte("x"), data[1:]...))); err != nil {
			t.Fatal(err)
		}
		if err := rc.(storage.Resumable).Resume(ctx); !errors.Is(err, storage.ErrChanged) {
			t.Errorf("%s: Resume of a replaced object = %v, want storage.ErrChanged", name, err)
		}
		rc.Close()
	}
}
