package testenv

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"
)

// Chromium runs Debian's chromium headless with a fresh profile and the
// given arguments (a page, --dump-dom, --screenshot=…) and returns its
// stdout and stderr (console messages included). A missing browser fails t:
// only integration tests call it (scripts/services.sh installs chromium).
func Chromium(t testing.TB, args ...string) (stdout, stderr string) {
	t.Helper()
	bin := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("chromium is missing (scripts/services.sh start chromium, or apt-get install -y chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second) // a hang guard
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}
