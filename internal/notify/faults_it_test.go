package notify

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
	"github.com/opsteam/ops/internal/testenv/faults"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// E-mail through the test Postfix behind toxiproxy: over a slow link
// (latency 50 ms each way) the mail is delivered; to a black hole (the
// timeout toxic: the greeting never comes, the connection never closes)
// each attempt ends at its bound and the failure is logged once the
// attempts are spent: Wait returns, nothing blocks.
func TestFaultSMTPBlackholeIT(t *testing.T) {
	testenv.RequireIT(t)
	p := faults.New(t, testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525"))
	cfg := Config{Email: Email{To: []string{"root@localhost"}, From: "ops@localhost", SMTP: p.Addr,
		On: []string{Success}, CAFile: testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt")}}
	send := func() (string, time.Duration) {
		var logs lockedBuf
		d := NewDispatcher(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		d.SetRetry([]time.Duration{100 * time.Millisecond}, 2*time.Second)
		start := time.Now()
		d.Send(context.Background(), cfg, Event{Kind: "backup", Job: "faults", Result: Success, Started: start})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
		defer cancel()
		d.Wait(ctx)
		return logs.String(), time.Since(start)
	}
	p.Latency(faults.Down, 50, 10)
	p.Latency(faults.Up, 50, 10)
	logs, took := send()
	t.Logf("slow link: %s", took.Round(time.Millisecond))
	if !strings.Contains(logs, "notification sent") {
		t.Fatalf("over a slow link the mail was not sent:\n%s", logs)
	}
	p.Timeout(faults.Down, 0)
	logs, took = send()
	t.Logf("black hole: %s\n%s", took.Round(time.Millisecond), logs)
	if !strings.Contains(logs, "notification failed") || strings.Contains(logs, "abandoned") ||
		strings.Count(logs, "notification failed; retrying") != 1 {
		t.Fatalf("to a black hole: want two bounded attempts, then the failure logged:\n%s", logs)
	}
}

// A webhook behind toxiproxy (in front of an in-process receiver: no
// service needed): over a slow link the event is posted; into a black hole
// (the request is swallowed, no answer ever comes) each attempt ends at its
// bound and the failure is logged once the attempts are spent: Wait
// returns, nothing blocks the job.
func TestFaultWebhookBlackhole(t *testing.T) {
	srv, hits := receiver(t, 0)
	p := faults.New(t, strings.TrimPrefix(srv.URL, "http://"))
	cfg := Config{Webhook: Webhook{URL: URL("http://" + p.Addr + "/ping/faults"), On: []string{Success}}}
	send := func() (string, time.Duration) {
		var logs lockedBuf
		d := NewDispatcher(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		d.SetRetry([]time.Duration{100 * time.Millisecond}, time.Second)
		start := time.Now()
		d.Send(context.Background(), cfg, Event{Kind: "backup", Job: "faults", Result: Success, Started: start})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
		defer cancel()
		d.Wait(ctx)
		return logs.String(), time.Since(start)
	}
	p.Latency(faults.Down, 50, 10)
	p.Latency(faults.Up, 50, 10)
	logs, took := send()
	t.Logf("slow link: %s", took.Round(time.Millisecond))
	if len(hits()) != 1 || !strings.Contains(logs, "notification sent") {
		t.Fatalf("over a slow link the webhook was not posted (%d hits):\n%s", len(hits()), logs)
	}
	p.Timeout(faults.Up, 0) // the request is swallowed on its way
	logs, took = send()
	t.Logf("black hole: %s\n%s", took.Round(time.Millisecond), logs)
	if !strings.Contains(logs, "notification failed") || strings.Count(logs, "notification failed; retrying") != 1 {
		t.Fatalf("into a black hole: want two bounded attempts, then the failure logged:\n%s", logs)
	}
	if len(hits()) != 1 {
		t.Errorf("the black-holed posts reached the receiver: %d hits", len(hits()))
	}
}
