package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type hit struct {
	path string
	ev   Event
}

// receiver is a local webhook receiver that fails the first `fail`
// requests with 503.
func receiver(t *testing.T, fail int) (*httptest.Server, func() []hit) {
	t.Helper()
	var mu sync.Mutex
	var hits []hit
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev Event
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &ev); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("bad request %s %s: %v %s", r.Method, r.URL, err, b)
		}
		hits = append(hits, hit{r.URL.Path, ev})
	}))
	t.Cleanup(srv.Close)
	return srv, func() []hit { mu.Lock(); defer mu.Unlock(); return append([]hit(nil), hits...) }
}

func TestWebhookHealthchecksStyleAndRetry(t *testing.T) {
	srv, hits := receiver(t, 2)
	var logs bytes.Buffer
	d := NewDispatcher(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	d.SetRetry([]time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}, 5*time.Second)
	cfg := Config{Webhook: Webhook{URL: URL(srv.URL + "/ping/secret-uuid"), On: []string{Start, Success, Failure}}}
	started := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	d.Send(context.Background(), cfg, Event{Kind: "backup", Job: "app", Result: Start, Started: started})
	d.Wait(context.Background())
	d.Send(context.Background(), cfg, Event{Kind: "backup", Job: "app", Result: Success, Started: started, Duration: 12.5, Size: 4096, BackupID: "20261204T020000Z"})
	d.Send(context.Background(), cfg, Event{Kind: "backup", Job: "db", Result: Failure, Started: started, Error: "connect refused"})
	d.Wait(context.Background())
	got := map[string]hit{}
	for _, h := range hits() {
		got[h.path] = h
	}
	if len(got) != 3 {
		t.Fatalf("hits %+v", hits())
	}
	if h := got["/ping/secret-uuid/start"]; h.ev.Result != Start || h.ev.Job != "app" || !h.ev.Started.Equal(started) || h.ev.Host == "" {
		t.Errorf("start: %+v", h)
	}
	if h := got["/ping/secret-uuid"]; h.ev.Result != Success || h.ev.Size != 4096 || h.ev.BackupID != "20261204T020000Z" || h.ev.Duration != 12.5 {
		t.Errorf("success: %+v", h)
	}
	if h := got["/ping/secret-uuid/fail"]; h.ev.Result != Failure || h.ev.Error != "connect refused" {
		t.Errorf("failure: %+v", h)
	}
	if !strings.Contains(logs.String(), "retrying") || strings.Contains(logs.String(), "secret-uuid") {
		t.Errorf("logs (a retry, no secret):\n%s", logs.String())
	}
}

func TestWebhookFailureIsLoggedRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	defer srv.Close()
	var logs bytes.Buffer
	d := NewDispatcher(slog.New(slog.NewTextHandler(&logs, nil)))
	d.SetRetry([]time.Duration{time.Millisecond}, time.Second)
	cfg := Config{Webhook: Webhook{URL: URL(srv.URL + "/hook/tok3n?key=s3cret"), Style: "plain"}}
	d.Send(context.Background(), cfg, Event{Job: "app", Result: Success}) // on: [failure] by default: not sent
	d.Send(context.Background(), cfg, Event{Job: "app", Result: Failure})
	d.Wait(context.Background())
	l := logs.String()
	if strings.Count(l, "notification failed") != 1 || !strings.Contains(l, "404") || strings.Contains(l, "tok3n") || strings.Contains(l, "s3cret") {
		t.Errorf("logs:\n%s", l)
	}
}

func TestURLRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"https://hc-ping.com/5f3e-uuid":                 "https://hc-ping.com/***",
		"https://user:pw@example.net/hooks/x?token=abc": "https://***@example.net/***?***",
		"http://127.0.0.1:8080":                         "http://127.0.0.1:8080",
		"":                                              "",
		"::nonsense":                                    "***",
	} {
		if got := URL(in).Redacted(); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestMergeAndValidate(t *testing.T) {
	g := Config{Webhook: Webhook{URL: "https://g/x", On: []string{Failure}}, Email: Email{To: []string{"ops@example.org"}, From: "ops@h", SMTP: "mx:25"}}
	j := Config{Email: Email{To: []string{"dba@example.org"}}}
	m := Merge(g, j)
	if m.Webhook.URL != "https://g/x" || m.Email.To[0] != "dba@example.org" || m.Email.From != "ops@h" || m.Email.SMTP != "mx:25" {
		t.Errorf("merge: %+v", m)
	}
	bad := []Config{
		{Webhook: Webhook{On: []string{"finish"}}},
		{Webhook: Webhook{URL: "ftp://x/y"}},
		{Email: Email{To: []string{"not an address"}}},
		{Email: Email{SMTP: "nohostport"}},
		{Webhook: Webhook{Style: "slack"}},
	}
	for _, c := range bad {
		if err := c.Validate("notify"); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (&Config{Email: Email{To: []string{"a@b"}}}).CheckComplete("notify"); err == nil {
		t.Error("no from: accepted")
	}
}

func TestMessage(t *testing.T) {
	msg := string(message(Email{From: "ops@h", To: []string{"a@b", "c@d"}},
		Event{Kind: "backup", Job: "app", Result: Failure, Host: "db1", Started: time.Unix(0, 0).UTC(), Duration: 61, Error: "x\ny"}, time.Unix(0, 0)))
	for _, want := range []string{"From: ops@h\r\n", "To: a@b, c@d\r\n", "Subject: [ops] backup app: FAILURE\r\n", "\r\n\r\nbackup job app on db1: failure", "duration:  1m1s", "error:\r\nx\r\ny\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

// Deliveries to one destination keep their order, even when the first one
// is slow: a start never arrives after the success.
// The race is forced: the receiver holds the start delivery until either
// the success delivery reaches it (the order is lost: it is recorded first)
// or the dispatcher says the success delivery waits for the start one.
// No timing: with the wait on the previous delivery gone, every run fails.
func TestOrderPerDestination(t *testing.T) {
	var mu sync.Mutex
	var got []string
	record := func(r string) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	}
	successArrived, successWaits := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var ev Event
		_ = json.NewDecoder(r.Body).Decode(&ev)
		switch ev.Result {
		case Start:
			select {
			case <-successArrived:
			case <-successWaits:
			}
			record(ev.Result)
		case Success:
			record(ev.Result)
			close(successArrived)
		}
	}))
	defer srv.Close()
	d := NewDispatcher(nil)
	d.waiting = func() { close(successWaits) }
	cfg := Config{Webhook: Webhook{URL: URL(srv.URL), On: []string{Start, Success}}}
	d.Send(context.Background(), cfg, Event{Result: Start})
	d.Send(context.Background(), cfg, Event{Result: Success})
	d.Wait(context.Background())
	if strings.Join(got, ",") != "start,success" {
		t.Fatalf("order %v, want start,success", got)
	}
}

func TestMergeInheritsCAForTheSameServer(t *testing.T) {
	g := Config{Email: Email{To: []string{"a@b"}, From: "ops@h", SMTP: "mx:25", CAFile: "/ca.pem"}}
	if m := Merge(g, Config{Email: Email{To: []string{"c@d"}}}); m.Email.CAFile != "/ca.pem" {
		t.Errorf("same server: %+v", m.Email)
	}
	if m := Merge(g, Config{Email: Email{To: []string{"c@d"}, SMTP: "other:25"}}); m.Email.CAFile != "" {
		t.Errorf("another server: %+v", m.Email)
	}
}

// A webhook whose receiver is down (a closed port) or hangs (accepts and
// never answers, until the attempt's bound): the ERROR line names the
// receiver as scheme://host/*** and never its path, query or password,
// which net/http's *url.Error quotes (the password masked, the path and
// query as they are).
func TestWebhookErrorHidesTheURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	_ = l.Close()
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		_ = hang.Close()
		<-accepted
		for _, c := range held {
			_ = c.Close()
		}
	})
	for name, c := range map[string]struct{ addr, url string }{
		"down":          {down, "http://" + down + "/ping/SECRET-UUID?token=T0KEN"},
		"down,password": {down, "http://user:PASSW0RD@" + down + "/ping/SECRET-UUID?token=T0KEN"},
		"down,escaped":  {down, "http://" + down + "/ping/SECRET%7eUUID?token=T0KEN%20x"},
		"hangs":         {hang.Addr().String(), "http://user:PASSW0RD@" + hang.Addr().String() + "/ping/SECRET-UUID?token=T0KEN"},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			d := NewDispatcher(slog.New(slog.NewTextHandler(&logs, nil)))
			d.SetRetry(nil, 200*time.Millisecond)
			d.Send(context.Background(), Config{Webhook: Webhook{URL: URL(c.url), On: []string{Start}}}, Event{Job: "app", Result: Start})
			d.Wait(context.Background())
			l := logs.String()
			if !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "http://"+c.addr+"/***") {
				t.Errorf("no ERROR line naming http://%s/***:\n%s", c.addr, l)
			}
			for _, s := range []string{"SECRET", "T0KEN", "PASSW0RD", "user"} {
				if strings.Contains(l, s) {
					t.Errorf("the log carries %q:\n%s", s, l)
				}
			}
		})
	}
}
