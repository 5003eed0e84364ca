package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opsteam/ops/internal/secret"
	"github.com/opsteam/ops/internal/smtpclient"
)

// Event is one notification. Its JSON is the webhook's body.
type Event struct {
	Kind     string    `json:"kind"`   // "backup"
	Job      string    `json:"job"`    // the job's name
	Result   string    `json:"result"` // start, success or failure
	Host     string    `json:"host"`   // the machine ops runs on
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration"`  // seconds; 0 for start
	Size     int64     `json:"size"`      // bytes stored; 0 unless success
	BackupID string    `json:"backup_id"` // "" for start, and for a failure before the ID was known
	Error    string    `json:"error,omitempty"`
}

// Dispatcher delivers events in the background. Safe for concurrent use;
// Wait waits for the deliveries in flight.
type Dispatcher struct {
	log     *slog.Logger
	client  *http.Client
	backoff []time.Duration // waits between attempts; len+1 attempts
	attempt time.Duration   // bound of one attempt
	helo    string
	wg      sync.WaitGroup

	mu   sync.Mutex
	last map[string]chan struct{} // per channel and destination: done when its latest delivery is

	// waiting, when set (tests), is called by a delivery that has to wait
	// for the one queued before it to the same destination.
	waiting func()
}

// NewDispatcher returns a dispatcher logging failed deliveries to log.
func NewDispatcher(log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	helo, _ := os.Hostname()
	return &Dispatcher{
		log: log, client: &http.Client{}, helo: helo,
		backoff: []time.Duration{time.Second, 4 * time.Second, 15 * time.Second},
		attempt: 20 * time.Second,
	}
}

// SetRetry sets the waits between attempts (one attempt more than waits)
// and the bound of each attempt; for tests.
func (d *Dispatcher) SetRetry(backoff []time.Duration, attempt time.Duration) {
	d.backoff, d.attempt = backoff, attempt
}

// Send delivers ev on every channel of cfg that wants its result, in the
// background: it returns at once. ctx's values are kept, its cancellation
// is not (a failure notification must go out on SIGTERM too).
func (d *Dispatcher) Send(ctx context.Context, cfg Config, ev Event) {
	if ev.Host == "" {
		ev.Host = d.helo
	}
	ctx = context.WithoutCancel(ctx)
	if cfg.Webhook.URL != "" && wants(cfg.Webhook.On, ev.Result) {
		d.queue(ctx, "webhook", string(cfg.Webhook.URL), cfg.Webhook.URL.Redacted(), ev, func(ctx context.Context) (bool, error) {
			return d.postWebhook(ctx, cfg.Webhook, ev)
		})
	}
	if len(cfg.Email.To) > 0 && wants(cfg.Email.On, ev.Result) {
		to := strings.Join(cfg.Email.To, ",")
		d.queue(ctx, "email", to, to, ev, func(ctx context.Context) (bool, error) {
			return d.sendMail(ctx, cfg.Email, ev)
		})
	}
}

// queue delivers in the background, after the deliveries queued before it
// to the same destination: a job's start never arrives after its success.
func (d *Dispatcher) queue(ctx context.Context, channel, key, dest string, ev Event, attempt func(context.Context) (bool, error)) {
	d.mu.Lock()
	if d.last == nil {
		d.last = map[string]chan struct{}{}
	}
	prev, done := d.last[channel+" "+key], make(chan struct{})
	d.last[channel+" "+key] = done
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(done)
		if prev != nil {
			select {
			case <-prev:
			default:
				if d.waiting != nil {
					d.waiting()
				}
				<-prev
			}
		}
		d.deliver(ctx, channel, dest, ev, attempt)
	}()
}

// Wait waits until every delivery in flight is done or ctx ends.
func (d *Dispatcher) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.log.Warn("notifications still being delivered were abandoned", "error", ctx.Err().Error())
	}
}

// deliver runs attempt with retries; attempt reports whether an error is
// worth retrying.
func (d *Dispatcher) deliver(ctx context.Context, channel, dest string, ev Event, attempt func(context.Context) (bool, error)) {
	var err error
	for i := 0; ; i++ {
		actx, cancel := context.WithTimeout(ctx, d.attempt)
		var retry bool
		retry, err = attempt(actx)
		cancel()
		if err == nil {
			d.log.Debug("notification sent", "channel", channel, "to", dest, "job", ev.Job, "result", ev.Result, "attempts", i+1)
			return
		}
		if !retry || i >= len(d.backoff) {
			break
		}
		d.log.Debug("notification failed; retrying", "channel", channel, "to", dest, "in", d.backoff[i].String(), "error", err.Error())
		time.Sleep(d.backoff[i])
	}
	d.log.Error("notification failed", "channel", channel, "to", dest, "job", ev.Job, "result", ev.Result, "error", err.Error())
}

// webhookURL is where an event goes: healthchecks-style suffixes unless
// the style is plain.
func webhookURL(w Webhook, result string) string {
	u := string(w.URL)
	if w.Style == "plain" {
		return u
	}
	base, query, _ := strings.Cut(u, "?")
	suffix := map[string]string{Start: "/start", Failure: "/fail"}[result]
	if suffix == "" {
		return u
	}
	out := strings.TrimSuffix(base, "/") + suffix
	if query != "" {
		out += "?" + query
	}
	return out
}

func (d *Dispatcher) postWebhook(ctx context.Context, w Webhook, ev Event) (retry bool, err error) {
	body, _ := json.Marshal(ev)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL(w, ev.Result), bytes.NewReader(body))
	if err != nil {
		return false, secret.RedactURLs(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ops-notify")
	resp, err := d.client.Do(req)
	if err != nil {
		// The *url.Error quotes the URL with its path and query: the secret.
		return true, secret.RedactURLs(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
	return retry, fmt.Errorf("POST %s: %s", w.URL.Redacted(), resp.Status)
}

func (d *Dispatcher) sendMail(ctx context.Context, e Email, ev Event) (retry bool, err error) {
	roots, err := loadRoots(e.CAFile)
	if err != nil {
		return false, err
	}
	addr := e.SMTP
	if addr == "" {
		addr = DefaultSMTP
	}
	c, err := smtpclient.Dial(ctx, addr, d.helo)
	if err != nil {
		return temporary(err), err
	}
	defer c.Close()
	if _, err := c.StartTLS(ctx, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, d.helo); err != nil {
		return temporary(err), fmt.Errorf("%s: %w", addr, err)
	}
	if _, err := c.Send(e.From, e.To, message(e, ev, time.Now())); err != nil {
		return temporary(err), fmt.Errorf("%s: %w", addr, err)
	}
	_ = c.Quit()
	return false, nil
}

// CheckEmail connects to the e-mail channel's SMTP server and negotiates
// STARTTLS with the certificate verified, without sending anything (for
// config check --connect).
func CheckEmail(ctx context.Context, e Email, helo string) error {
	roots, err := loadRoots(e.CAFile)
	if err != nil {
		return err
	}
	addr := e.SMTP
	if addr == "" {
		addr = DefaultSMTP
	}
	c, err := smtpclient.Dial(ctx, addr, helo)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.StartTLS(ctx, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, helo); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	return c.Quit()
}

// temporary: a 4xx reply or a network error is worth another attempt; a
// 5xx reply, a missing STARTTLS or a certificate that does not verify is not.
func temporary(err error) bool {
	var re *smtpclient.ReplyError
	if errors.As(err, &re) {
		return re.Reply.Temporary()
	}
	var ce *tls.CertificateVerificationError
	return !errors.As(err, &ce) && !errors.Is(err, smtpclient.ErrNoStartTLS)
}

func loadRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil // system roots
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("notify email ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("notify email ca_file %s: no PEM certificate", caFile)
	}
	return pool, nil
}

// message is the e-mail of an event.
func message(e Email, ev Event, now time.Time) []byte {
	clean := func(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
	var id [8]byte
	_, _ = rand.Read(id[:])
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", clean(e.From), clean(strings.Join(e.To, ", ")))
	fmt.Fprintf(&b, "Subject: [ops] %s %s: %s\r\n", clean(ev.Kind), clean(ev.Job), strings.ToUpper(ev.Result))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s.%s@%s>\r\n", now.Format(time.RFC1123Z), now.UTC().Format("20060102T150405"), hex.EncodeToString(id[:]), clean(ev.Host))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n")
	fmt.Fprintf(&b, "%s job %s on %s: %s\r\n\r\n", ev.Kind, ev.Job, ev.Host, ev.Result)
	fmt.Fprintf(&b, "started:   %s\r\n", ev.Started.Format(time.RFC3339))
	if ev.Result != Start {
		fmt.Fprintf(&b, "duration:  %s\r\n", time.Duration(ev.Duration*float64(time.Second)).Round(time.Second))
	}
	if ev.BackupID != "" {
		fmt.Fprintf(&b, "backup id: %s\r\nsize:      %d bytes\r\n", ev.BackupID, ev.Size)
	}
	if ev.Error != "" {
		fmt.Fprintf(&b, "\r\nerror:\r\n%s\r\n", strings.ReplaceAll(ev.Error, "\n", "\r\n"))
	}
	return []byte(b.String())
}
