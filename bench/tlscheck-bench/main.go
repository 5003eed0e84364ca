// Command tlscheck-bench measures tlscheck.Check throughput (checks per
// second) against one SMTP server; bench/tlscheck.sh drives it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime/pprof"
	"time"

	"github.com/opsteam/ops/tlscheck"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "SMTP server address (ip:port)")
	name := flag.String("name", "localhost", "server name (SNI, TLS_Srv key, CA check)")
	ca := flag.String("ca", "", "CA file (empty: system roots)")
	n := flag.Int("n", 500, "number of checks")
	c := flag.Int("c", 32, "concurrency")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	resolver := flag.String("resolver", "", "validating resolver ADDR:PORT: a TLSA lookup per check, and the requirement DANE")
	flag.Parse()
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	roots, err := tlscheck.LoadCAFile(*ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	targets := make([]string, *n)
	for i := range targets {
		targets[i] = fmt.Sprintf("%s:%d", *name, ap.Port())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	o := tlscheck.Options{
		Targets:     targets,
		Concurrency: *c,
		Probe: tlscheck.ProbeOptions{Roots: roots, Timeout: 30 * time.Second, Helo: "bench.ops.test",
			Pins: map[string]netip.Addr{*name: ap.Addr()}},
	}
	label := "ops-tlscheck"
	if *resolver != "" {
		o.DANE, o.DANEResolver, o.Require, label = true, &tlscheck.Resolver{Addr: *resolver}, "DANE", "ops-tlscheck-dane"
	}
	results, err := tlscheck.Check(ctx, o)
	d := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	pass, failed := 0, 0
	for _, r := range results {
		if r.Verdict == tlscheck.Pass {
			pass++
			continue
		}
		if failed++; failed == 1 {
			fmt.Fprintf(os.Stderr, "first failure: %s %s %v\n", r.Target, r.Error, r.Reasons)
		}
	}
	fmt.Printf(label+" concurrency=%d checks=%d pass=%d seconds=%.3f checks_per_second=%.1f\n",
		*c, *n, pass, d.Seconds(), float64(*n)/d.Seconds())
	if pass != *n {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
