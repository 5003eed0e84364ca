// Command swiftput is a tiny benchmark driver around swift.Store.Put
// (the real CLI is `ops backup run`): it uploads a file (or stdin) to Swift
// and prints one JSON line with the size, time and throughput to stdout.
// The key comes from -key-file or the environment (OS_PASSWORD / ST_KEY),
// never from the command line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/opsteam/ops/backup/storage/swift"
)

func main() {
	var (
		o       swift.Options
		name    string
		del     bool
		verbose bool
	)
	flag.StringVar(&o.AuthURL, "auth", "", "auth URL (default: OS_AUTH_URL / ST_AUTH)")
	flag.StringVar(&o.User, "user", "", "user (default: OS_USERNAME / ST_USER)")
	flag.StringVar(&o.KeyFile, "key-file", "", "file holding the key (default: OS_PASSWORD / ST_KEY)")
	flag.StringVar(&o.Container, "container", "ops-bench", "container")
	flag.Int64Var(&o.SegmentSize, "segment-size", 64<<20, "segment size in bytes")
	flag.IntVar(&o.Concurrency, "concurrency", 4, "segments in flight")
	flag.StringVar(&name, "name", "bench.bin", "object name")
	flag.BoolVar(&del, "delete", false, "delete the object (and its segments) afterwards")
	flag.BoolVar(&verbose, "v", false, "debug log to stderr")
	flag.Parse()
	if verbose {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
	ctx := context.Background()
	s, err := swift.New(ctx, o)
	if err != nil {
		fail(err)
	}
	start := time.Now()
	obj, err := s.Put(ctx, name, in)
	if err != nil {
		fail(err)
	}
	secs := time.Since(start).Seconds()
	if del {
		if err := s.Delete(ctx, name); err != nil {
			fail(err)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"object": obj.Name, "bytes": obj.Size, "segments": len(obj.Segments), "sha256": obj.SHA256,
		"seconds": secs, "mb_per_s": float64(obj.Size) / 1e6 / secs,
	})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "swiftput:", err)
	os.Exit(1)
}
