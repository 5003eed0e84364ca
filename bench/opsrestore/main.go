// Command opsrestore is a tiny benchmark driver around mysql.Restore: it
// reads a dump (zstd, gzip or plain) from stdin.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/opsteam/ops/backup/mysql"
)

func main() {
	var (
		m       mysql.Config
		maps    string
		cpuprof string
	)
	flag.StringVar(&m.Host, "host", "", "server host (empty: socket)")
	flag.IntVar(&m.Port, "port", 0, "server port")
	flag.StringVar(&m.Socket, "socket", "", "server socket")
	flag.StringVar(&m.User, "user", "root", "user")
	flag.StringVar(&m.PasswordFile, "password-file", "", "password file")
	flag.StringVar(&maps, "database", "", "SRC=DST[,SRC=DST...]")
	flag.StringVar(&cpuprof, "cpuprofile", "", "write a CPU profile")
	threads := flag.Int("threads", 0, "data connections (0 = default)")
	flag.Parse()
	opts := mysql.RestoreOptions{MySQL: m, Threads: *threads}
	if maps != "" {
		opts.Databases = map[string]string{}
		for _, kv := range strings.Split(maps, ",") {
			k, v, _ := strings.Cut(kv, "=")
			opts.Databases[k] = v
		}
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
	res, err := mysql.Restore(context.Background(), opts, os.Stdin)
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "opsrestore:", err)
		os.Exit(3)
	}
	json.NewEncoder(os.Stderr).Encode(res)
}
