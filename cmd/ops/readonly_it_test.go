package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/internal/testenv"
)

func newSwiftIT(t *testing.T) swiftIT {
	t.Helper()
	testenv.RequireIT(t)
	if _, err := exec.LookPath("swift"); err != nil {
		t.Fatalf("the swift client is missing (scripts/services.sh start swift): %v", err)
	}
	return swiftIT{
		auth:      testenv.Getenv("OPS_IT_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
		user:      testenv.Getenv("OPS_IT_SWIFT_USER", "test:tester"),
		keyFile:   testenv.Getenv("OPS_IT_SWIFT_KEY_FILE", "/var/lib/ops-test/swift/tester.key"),
		container: fmt.Sprintf("ops_it_ro_%d", rand.Uint32()),
	}
}

// exists reports whether a container exists (HEAD: 204 or 404).
func (s swiftIT) exists(t *testing.T, container string) bool {
	t.Helper()
	key, _ := os.ReadFile(s.keyFile)
	req, _ := http.NewRequest("GET", s.auth, nil)
	req.Header.Set("X-Auth-User", s.user)
	req.Header.Set("X-Auth-Key", strings.TrimSpace(string(key)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("HEAD", resp.Header.Get("X-Storage-Url")+"/"+url.PathEscape(container), nil)
	req.Header.Set("X-Auth-Token", resp.Header.Get("X-Auth-Token"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case 204, 200:
		return true
	case 404:
		return false
	}
	t.Fatalf("HEAD %s: %s", container, resp.Status)
	return false
}

// A mistyped container: list, verify, restore, prune and prune --dry-run
// against the real Swift fail naming it, suggest the real container, and
// create neither it nor its segment container.
func TestReadOnlyCommandsCreateNoContainer(t *testing.T) {
	sw := newSwiftIT(t)
	sw.cli(t, "post", sw.container) // the real container
	t.Cleanup(func() { sw.cli(t, "delete", sw.container) })
	typo := sw.container + "x"
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    offsite: {type: swift, auth_url: %s, user: "%s", key_file: %s, container: %s}
backup:
  jobs:
    - {name: app, target: offsite, mysql: {host: 127.0.0.1}}
`, sw.auth, sw.user, sw.keyFile, typo))
	for _, args := range [][]string{
		{"backup", "list"}, {"backup", "list", "--output", "json"}, {"backup", "verify"}, {"backup", "restore"},
		{"backup", "prune", "--dry-run"}, {"backup", "prune"}, {"backup", "list", "--binlog"},
	} {
		code, out, stderr := runOps(t, append([]string{"--config", cfg}, args...)...)
		want := fmt.Sprintf(`swift container %q does not exist (did you mean %q?)`, typo, sw.container)
		if code != 3 || out != "" || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want 3 and %s", args, code, out, stderr, want)
		}
	}
	for _, c := range []string{typo, typo + "_segments"} {
		if sw.exists(t, c) {
			sw.cli(t, "delete", c)
			t.Errorf("a read-only command created container %s", c)
		}
	}
	// The real container lists fine (empty), and still nothing was created.
	cfgOK := strings.Replace(readFile(t, cfg), "container: "+typo, "container: "+sw.container, 1)
	code, out, stderr := runOps(t, "--config", writeConfig(t, cfgOK), "backup", "list", "--output", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list of the real container: %d %q %s", code, out, stderr)
	}
	if sw.exists(t, sw.container+"_segments") {
		t.Errorf("list created %s_segments", sw.container)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The local target: a mistyped directory is an error naming it, with the
// sibling it was probably meant to be, and it is not created.
func TestReadOnlyCommandsCreateNoDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "backups"), 0o700); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "backup")
	cfg := writeConfig(t, fmt.Sprintf("storage:\n  targets:\n    local: {type: local, path: %s}\n", typo))
	for _, args := range [][]string{{"backup", "list"}, {"backup", "verify"}, {"backup", "restore"}, {"backup", "prune", "--dry-run"}} {
		code, _, stderr := runOps(t, append([]string{"--config", cfg}, args...)...)
		want := fmt.Sprintf(`directory %q does not exist (did you mean %q?)`, typo, filepath.Join(dir, "backups"))
		if code != 3 || !strings.Contains(stderr, want) {
			t.Errorf("%v: code %d, stderr %q; want %s", args, code, stderr, want)
		}
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Errorf("%s was created: %v", typo, err)
	}
}
