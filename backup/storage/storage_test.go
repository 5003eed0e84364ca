package storage

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/fielderr"
	"github.com/opsteam/ops/internal/secret"
)

func TestTargetValidate(t *testing.T) {
	cases := []struct {
		t     Target
		field string // "" = valid
		msg   string
	}{
		{Target{Type: "local", Path: "/b"}, "", ""},
		{Target{Type: "local"}, "x.path", "needs a path"},
		{Target{Type: "swift", Container: "c"}, "", ""},
		{Target{Type: "swift"}, "x.container", "needs a container"},
		{Target{Type: "swift", Container: "c", AuthVersion: 3}, "", ""},
		{Target{Type: "swift", Container: "c", AuthVersion: 1}, "", ""},
		{Target{Type: "swift", Container: "c", AuthVersion: 4}, "x.auth_version", "expected 0 (detect), 1, 2 or 3"},
		{Target{Type: "swift", Container: "c", AuthVersion: -1}, "x.auth_version", "expected 0"},
		{Target{Type: "swift", Container: "c", SegmentSize: bytesize.MiB}, "", ""},
		{Target{Type: "swift", Container: "c", SegmentSize: bytesize.MiB - 1}, "x.segment_size", "at least 1MiB"},
		{Target{Type: "ftp"}, "x.type", `"ftp": expected swift, s3 or local`},
		{Target{Type: "s3", Bucket: "ops-backups"}, "", ""},
		{Target{Type: "s3"}, "x.bucket", "needs a bucket"},
		{Target{Type: "s3", Bucket: "Ops_Backups"}, "x.bucket", "lowercase letters"},
		{Target{Type: "s3", Bucket: "-ops"}, "x.bucket", "starting and ending"},
		{Target{Type: "s3", Bucket: "ab"}, "x.bucket", "3 to 63"},
		{Target{Type: "s3", Bucket: "b.b", Endpoint: "https://s3.example.net:8443"}, "", ""},
		{Target{Type: "s3", Bucket: "bbb", Endpoint: "s3.example.net"}, "x.endpoint", "scheme://host[:port]"},
		{Target{Type: "s3", Bucket: "bbb", Endpoint: "ftp://s3.example.net"}, "x.endpoint", "http or https"},
		{Target{Type: "s3", Bucket: "bbb", Endpoint: "https://s3.example.net/bucket"}, "x.endpoint", "scheme://host[:port]"},
		{Target{Type: "s3", Bucket: "bbb", PartSize: 5 * bytesize.MiB}, "", ""},
		{Target{Type: "s3", Bucket: "bbb", PartSize: 5*bytesize.MiB - 1}, "x.part_size", "expected 5MiB to 5GiB"},
		{Target{Type: "s3", Bucket: "bbb", PartSize: 5*bytesize.GiB + 1}, "x.part_size", "expected 5MiB to 5GiB"},
		{Target{Type: "s3", Bucket: "bbb", SecretAccessKey: secret.New("k"), SecretAccessKeyFile: "/f"}, "x.secret_access_key_file", "expected one of them"},
	}
	for _, c := range cases {
		err := c.t.Validate("x")
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.t, err)
			}
			continue
		}
		var fe *fielderr.Error
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("%+v: %v, want %s: …%s…", c.t, err, c.field, c.msg)
		}
	}
	if d := DefaultTargets()["local"]; d.Type != "local" || d.Path != "./backups" {
		t.Errorf("default target = %+v", d)
	}
}

func TestContextReaderStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := ContextReader(ctx, strings.NewReader("abcdef"))
	buf := make([]byte, 3)
	if n, err := r.Read(buf); n != 3 || err != nil || string(buf) != "abc" {
		t.Fatalf("Read = %d %q %v", n, buf[:n], err)
	}
	cancel()
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %d, %v", n, err)
	}
	if _, err := io.ReadAll(ContextReader(context.Background(), strings.NewReader("x"))); err != nil {
		t.Fatal(err)
	}
}
