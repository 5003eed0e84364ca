package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// A backup run by ops serve notifies like a one-shot run: its start and its
// failure reach the webhook, and the run's error stays the job's own.
func TestScheduledBackupNotifies(t *testing.T) {
	hooks := &webhookLog{}
	srv := httptest.NewServer(hooks)
	defer srv.Close()
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    local: {type: local, path: %s}
notify:
  webhook: {url: "%s/hc/key", on: [start, success, failure]}
backup:
  jobs:
    - name: nightly
      mysql: {host: 127.0.0.1, port: 1, user: root, timeout: 5s}
      schedule: "@daily"
`, filepath.Join(t.TempDir(), "b"), srv.URL))
	rt, err := loadRuntime(newStreams(&syncBuffer{}, &syncBuffer{}), loadOptions{file: cfg})
	if err != nil {
		t.Fatal(err)
	}
	jobs := rt.scheduledJobs(nil)
	if len(jobs) != 1 {
		t.Fatalf("jobs %v", jobs)
	}
	if _, err := jobs[0].Run(context.Background()); err == nil || !strings.Contains(err.Error(), "connect to mysql") {
		t.Fatalf("run: %v", err)
	}
	rt.waitNotifications()
	log := hooks.String()
	if !strings.HasPrefix(log, "POST /hc/key/start {") || !strings.Contains(log, "\nPOST /hc/key/fail {") ||
		!strings.Contains(log, `"job":"nightly","result":"failure"`) || strings.Count(log, "\n") != 1 {
		t.Fatalf("webhook log:\n%s", log)
	}
}
