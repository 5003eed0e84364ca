// Command ops backs up MySQL/MariaDB to Swift or a local directory, checks
// SMTP STARTTLS peers against a sendmail-style policy, and reports
// hypervisor and firewall inventory. See README.md and `ops --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
