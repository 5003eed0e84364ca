// Command opsdump is a tiny benchmark driver around mysql.Dump (the real
// CLI is `ops backup run`). It writes the dump to stdout and a JSON result
// to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql"
)

func main() {
	var (
		m       mysql.Config
		opts    mysql.DumpOptions
		dbs     string
		cpuprof string
		verbose bool
	)
	flag.StringVar(&m.Host, "host", "", "server host (empty: socket)")
	flag.IntVar(&m.Port, "port", 0, "server port")
	flag.StringVar(&m.Socket, "socket", "", "server socket")
	flag.StringVar(&m.User, "user", "root", "user")
	flag.StringVar(&m.PasswordFile, "password-file", "", "password file")
	flag.StringVar(&dbs, "databases", "", "comma-separated databases (empty: all)")
	flag.IntVar(&opts.Threads, "threads", 2, "threads")
	comp := flag.String("compression", "zstd", "zstd|gzip|none")
	flag.IntVar(&opts.CompressionLevel, "level", 0, "compression level")
	flag.Int64Var(&opts.ChunkRows, "chunk-rows", 0, "rows per chunk")
	flag.StringVar(&opts.Consistency, "consistency", "auto", "auto|lock|nolock")
	flag.StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile")
	flag.BoolVar(&verbose, "v", false, "log")
	flag.Parse()
	opts.Compression = compress.Method(*comp)
	if dbs != "" {
		opts.Databases = strings.Split(dbs, ",")
	}
	opts.MySQL = m
	if verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cpuprof != "" {
		f, err := os.Create(cpuprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	res, err := mysql.Dump(context.Background(), opts, os.Stdout)
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "opsdump:", err)
		os.Exit(3)
	}
	res.Tables = nil
	json.NewEncoder(os.Stderr).Encode(res)
}
