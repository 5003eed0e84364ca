package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
)

// webhookLog is a local HTTP receiver that records every request: path and
// JSON body, one line each.
type webhookLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *webhookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	l.lines = append(l.lines, r.Method+" "+r.URL.Path+" "+string(b))
	l.mu.Unlock()
}

func (l *webhookLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Backups notify a local webhook receiver of start, success and failure
// (healthchecks.io-style /start and /fail), and e-mail the failure through
// the test Postfix over STARTTLS with its certificate verified against the
// test CA; a notification that cannot be delivered (a certificate that does
// not verify) never changes the job's result.
func TestNotifyWebhookAndEmail(t *testing.T) {
	_, sock, name := itSource(t, "notify", "CREATE TABLE {db}.t (id INT PRIMARY KEY)")
	smtpAddr := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	ca := testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt")
	hooks := &webhookLog{}
	srv := httptest.NewServer(hooks)
	defer srv.Close()
	tag := fmt.Sprintf("n%d", rand.Uint32())
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
notify:
  webhook: {url: "%s/ping/%s", on: [start, success, failure]}
  email: {to: [root@localhost], from: ops@localhost, smtp: "%s", ca_file: %s}
backup:
  jobs:
    - name: good-%s
      mysql: {socket: %s, user: root}
      databases: [%s]
    - name: bad-%s
      mysql: {host: 127.0.0.1, port: 1, user: root, timeout: 5s}
    - name: untrusted-%s
      mysql: {host: 127.0.0.1, port: 1, user: root, timeout: 5s}
      notify: {email: {to: [root@localhost], ca_file: /etc/ssl/certs/ca-certificates.crt}}
`, filepath.Join(t.TempDir(), "b"), srv.URL, tag, smtpAddr, ca, tag, sock, name, tag, tag))

	code, out, stderr := runOps(t, "--config", cfg, "-q", "backup", "run", "--job", "good-"+tag)
	if code != 0 || out != "" || stderr != "" {
		t.Fatalf("good: %d %q %q", code, out, stderr)
	}
	code, _, stderr = runOps(t, "--config", cfg, "-q", "backup", "run", "--job", "bad-"+tag)
	if code != 3 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("bad: %d %q", code, stderr)
	}
	log := hooks.String()
	t.Logf("webhook receiver:\n%s", log)
	lines := strings.Split(log, "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 webhook requests, got:\n%s", log)
	}
	want := []struct{ path, job, result string }{
		{"/ping/" + tag + "/start", "good-" + tag, "start"}, {"/ping/" + tag, "good-" + tag, "success"},
		{"/ping/" + tag + "/start", "bad-" + tag, "start"}, {"/ping/" + tag + "/fail", "bad-" + tag, "failure"},
	}
	for i, w := range want {
		method, rest, _ := strings.Cut(lines[i], " ")
		path, body, _ := strings.Cut(rest, " ")
		var ev map[string]any
		if err := json.Unmarshal([]byte(body), &ev); err != nil || method != "POST" || path != w.path || ev["job"] != w.job || ev["result"] != w.result || ev["kind"] != "backup" {
			t.Errorf("request %d: %s (want %+v)", i, lines[i], w)
		}
		if w.result == "success" && (ev["size"].(float64) <= 0 || ev["backup_id"] == "") {
			t.Errorf("success without size or ID: %s", body)
		}
		if w.result == "failure" && !strings.Contains(fmt.Sprint(ev["error"]), "connect to mysql") {
			t.Errorf("failure without error: %s", body)
		}
	}
	// The e-mail of the failure reached root's mailbox through Postfix.
	msg := waitForMail(t, "Subject: [ops] backup bad-"+tag+": FAILURE")
	if !strings.Contains(msg, "connect to mysql") || !strings.Contains(msg, "From: ops@localhost") {
		t.Errorf("mail:\n%s", msg)
	}
	t.Logf("mail:\n%s", msg)

	// The system's roots do not trust the test CA: the mail is not sent, the error
	// says why (once), and the job's result is its own (3, its error).
	code, _, stderr = runOps(t, "--config", cfg, "-q", "backup", "run", "--job", "untrusted-"+tag)
	if code != 3 || !strings.Contains(stderr, "notification failed") || !strings.Contains(stderr, "x509: certificate signed by unknown authority") ||
		strings.Count(stderr, "\nops: ") != 1 {
		t.Fatalf("untrusted: %d\n%s", code, stderr)
	}
}

// waitForMail polls root's mailbox for a message with the given line (a
// hang guard, not a timing assertion) and returns it.
func waitForMail(t *testing.T, line string) string {
	t.Helper()
	deadline := time.Now().Add(reloadWait)
	for {
		b, _ := os.ReadFile("/var/mail/root")
		if i := strings.Index(string(b), line); i >= 0 {
			start := strings.LastIndex(string(b[:i]), "\nFrom ") + 1
			end := strings.Index(string(b[i:]), "\nFrom ")
			if end < 0 {
				return string(b[start:])
			}
			return string(b[start : i+end])
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail with %q in /var/mail/root", line)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// config check --connect negotiates STARTTLS with each notify e-mail
// server, the certificate verified, and sends nothing.
func TestConfigCheckConnectEmail(t *testing.T) {
	testenv.RequireIT(t)
	smtpAddr := testenv.Getenv("OPS_IT_SMTP_ADDR", "127.0.0.1:2525")
	ca := testenv.Getenv("OPS_IT_SMTP_CA", "/var/lib/ops-test/pki/ca.crt")
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
notify:
  email: {to: [root@localhost], from: ops@localhost, smtp: "%s", ca_file: %s}
`, t.TempDir(), smtpAddr, ca))
	code, out, stderr := runOps(t, "--config", cfg, "config", "check", "--connect")
	if code != 0 || !strings.Contains(out, "ok: notify e-mail: "+smtpAddr+" offers STARTTLS with a verified certificate") {
		t.Fatalf("%d\n%s\n%s", code, out, stderr)
	}
	cfg = writeConfig(t, fmt.Sprintf("notify:\n  email: {to: [root@localhost], from: ops@localhost, smtp: \"%s\", ca_file: /etc/ssl/certs/ca-certificates.crt}\n", smtpAddr))
	code, _, stderr = runOps(t, "--config", cfg, "config", "check", "--connect")
	if code != 1 || !strings.Contains(stderr, ": notify.email: "+smtpAddr+": smtp STARTTLS handshake with 127.0.0.1: tls: failed to verify certificate") {
		t.Fatalf("untrusted: %d\n%s", code, stderr)
	}
}
