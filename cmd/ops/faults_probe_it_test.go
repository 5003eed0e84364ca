package main

import (
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
	"github.com/opsteam/ops/internal/testenv/faults"
)

// tlscheck probes the test Postfix through toxiproxy: through a slow link
// (latency) the verdict is the usual pass; into a black hole (the timeout
// toxic: not even the greeting comes back) the probe ends at --timeout
// ("could not check: …: timeout after 2s", exit 3), never hangs.
func TestFaultTLSCheckTimeoutIT(t *testing.T) {
	testenv.RequireIT(t)
	ca := testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt")
	p := faults.New(t, testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525"))
	target, pin := "localhost:"+p.Port(), "localhost:"+p.Port()+":127.0.0.1"
	lat := p.Latency(faults.Down, 50, 10)
	if code, out, stderr := runOps(t, "tlscheck", target, "--resolve", pin, "--ca", ca, "--timeout", "5s"); code != 0 {
		t.Fatalf("through a slow link: exit %d\n%s\n%s", code, out, stderr)
	}
	p.Remove(lat)
	p.Timeout(faults.Down, 0) // not even the greeting comes back
	start := time.Now()
	code, out, stderr := runOps(t, "tlscheck", target, "--resolve", pin, "--ca", ca, "--timeout", "2s")
	took := time.Since(start)
	t.Logf("black hole: exit %d after %s\n%s%s", code, took.Round(time.Millisecond), out, stderr)
	if code != 3 || !strings.Contains(out, "could not check: ") || !strings.Contains(out, "greeting: timeout after 2") {
		t.Fatalf("a probe into a black hole: exit %d (want 3: could not check: greeting: timeout after 2…s)", code)
	}
}
