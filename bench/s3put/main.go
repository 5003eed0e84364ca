// Command s3put is a tiny benchmark driver around s3.Store (the real CLI
// is `ops backup run`): it uploads a file (or stdin) to an S3 bucket with
// Put, or with -get reads an object back to stdout, and prints one JSON
// line with the size, time and throughput to stderr (put: stdout). The
// secret comes from -secret-file or AWS_SECRET_ACCESS_KEY, never from the
// command line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/backup/storage/s3"
)

func main() {
	var (
		o       s3.Options
		name    string
		get     bool
		verbose bool
	)
	flag.StringVar(&o.Endpoint, "endpoint", "", "scheme://host[:port] (empty: AWS)")
	flag.StringVar(&o.Region, "region", "us-east-1", "region")
	flag.StringVar(&o.Bucket, "bucket", "ops-bench", "bucket (created when missing)")
	flag.StringVar(&o.AccessKeyID, "access-key", "", "access key ID (default AWS_ACCESS_KEY_ID)")
	flag.StringVar(&o.SecretAccessKeyFile, "secret-file", "", "file holding the secret (default AWS_SECRET_ACCESS_KEY)")
	flag.BoolVar(&o.PathStyle, "path-style", true, "path-style URLs")
	flag.Int64Var(&o.PartSize, "part-size", s3.DefaultPartSize, "part size in bytes")
	flag.IntVar(&o.Concurrency, "concurrency", s3.DefaultConcurrency, "parts in flight")
	flag.StringVar(&name, "name", "bench.bin", "object name")
	flag.BoolVar(&get, "get", false, "read the object to stdout instead of uploading")
	flag.BoolVar(&verbose, "v", false, "debug log to stderr")
	flag.Parse()
	debug.SetMemoryLimit(96 << 20) // the soft limit cmd/ops sets
	if verbose {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx := context.Background()
	s, err := s3.New(ctx, o)
	if err != nil {
		fail(err)
	}
	start := time.Now()
	if get {
		rc, err := retry.Wrap(s, retry.Policy{}).Open(ctx, name)
		if err != nil {
			fail(err)
		}
		n, err := io.Copy(os.Stdout, rc)
		rc.Close()
		if err != nil {
			fail(err)
		}
		secs := time.Since(start).Seconds()
		_ = json.NewEncoder(os.Stderr).Encode(map[string]any{"object": name, "bytes": n, "seconds": secs, "mb_per_s": float64(n) / 1e6 / secs})
		return
	}
	var in io.Reader = os.Stdin
	if flag.NArg() == 1 && flag.Arg(0) != "-" {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fail(err)
		}
		defer f.Close()
		in = f
	}
	obj, err := s.Put(ctx, name, in)
	if err != nil {
		fail(err)
	}
	secs := time.Since(start).Seconds()
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"object": obj.Name, "bytes": obj.Size, "sha256": obj.SHA256, "seconds": secs, "mb_per_s": float64(obj.Size) / 1e6 / secs,
	})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "s3put:", err)
	os.Exit(1)
}
