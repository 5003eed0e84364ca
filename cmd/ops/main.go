package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(mainWithSignals(os.Args[1:])) }

// mainWithSignals runs ops with SIGINT/SIGTERM cancelling the one root
// context every command uses.
func mainWithSignals(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer startProfile(os.Stderr)()
	return run(ctx, args, os.Stdout, os.Stderr)
}
