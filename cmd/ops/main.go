package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit, not a cap: the garbage collector works harder as
		// the heap nears it, so a dump or restore of any size stays well
		// under 128 MiB of RSS (the pipelines hold a bounded number of
		// buffers; the default GOGC would let garbage double that).
		debug.SetMemoryLimit(softMemoryLimit)
	}
	os.Exit(mainWithSignals(os.Args[1:]))
}

// softMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT says otherwise.
const softMemoryLimit = 96 << 20

// mainWithSignals runs ops with SIGINT/SIGTERM cancelling the one root
// context every command uses.
func mainWithSignals(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer startProfile(os.Stderr)()
	return run(ctx, args, os.Stdout, os.Stderr)
}
