// Command inventory times ops' vCenter inventory collection (one container
// view + one property-collector retrieval) against a running vCenter or
// vcsim. bench/inventory.sh runs it next to a govc loop.
//
//	go run ./bench/inventory -url https://user:pass@127.0.0.1:8989/sdk -n 5
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/opsteam/ops/internal/secret"
	"github.com/opsteam/ops/inventory"
)

func main() {
	raw := flag.String("url", os.Getenv("GOVC_URL"), "vCenter SDK URL with credentials (default $GOVC_URL)")
	n := flag.Int("n", 5, "number of timed collections")
	html := flag.String("html", "", "also write the last report as an HTML page to this file")
	flag.Parse()
	if err := run(*raw, *n, *html); err != nil {
		fmt.Fprintln(os.Stderr, "inventory bench:", err)
		os.Exit(1)
	}
}

func run(raw string, n int, html string) error {
	if n < 1 {
		return fmt.Errorf("-n %d: expected 1 or more", n)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-url %q: expected https://user:pass@host/sdk", raw)
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	u.User = nil
	src := &inventory.VCenterSource{SourceName: "vc", URL: u.String(), User: user, Password: secret.New(pass), Insecure: true, Wait: 5 * time.Minute}
	var times []time.Duration
	var last *inventory.Report
	for i := 0; i < n; i++ {
		start := time.Now()
		r, err := inventory.Collect(context.Background(), inventory.Options{Sources: []inventory.Source{src}})
		el := time.Since(start)
		if err != nil {
			return err
		}
		times = append(times, el)
		last = r
		fmt.Printf("run %d: %d hosts, %d VMs, %d datastores in %.3f s\n", i+1, len(r.Hosts), len(r.VMs), len(r.Datastores), el.Seconds())
	}
	if html != "" && last != nil {
		f, err := os.Create(html)
		if err != nil {
			return err
		}
		if err := inventory.Render(f, last, inventory.FormatHTML, inventory.KindAll); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	slices.Sort(times)
	fmt.Printf("ops collection: min %.3f s, median %.3f s, max %.3f s over %d runs\n",
		times[0].Seconds(), times[len(times)/2].Seconds(), times[len(times)-1].Seconds(), len(times))
	return nil
}
