package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/internal/testenv"
)

type swiftIT struct {
	auth, user, keyFile, container string
}

func (s swiftIT) cli(t *testing.T, args ...string) string {
	t.Helper()
	key, _ := os.ReadFile(s.keyFile)
	cmd := exec.Command("swift", append([]string{"-A", s.auth, "-U", s.user}, args...)...)
	cmd.Env = append(os.Environ(), "ST_KEY="+strings.TrimSpace(string(key))) // never on the command line
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("swift %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// count lists a container over HTTP (the python client takes half a
// second to start, too slow to catch an upload in flight).
func (s swiftIT) count(t *testing.T, container string) int {
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
	req, _ = http.NewRequest("GET", resp.Header.Get("X-Storage-Url")+"/"+url.PathEscape(container)+"?format=json", nil)
	req.Header.Set("X-Auth-Token", resp.Header.Get("X-Auth-Token"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 404 {
		return 0
	}
	var objs []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&objs); err != nil {
		t.Fatalf("listing %s: %s: %v", container, resp.Status, err)
	}
	return len(objs)
}

// A backup of more than 3 × segment_size to the real Swift: stored as a
// Static Large Object, downloaded with the stock swift client and restored
// with `zstd -dc | mysql` into the second server to identical CHECKSUM
// TABLEs; then a kill -9 mid-upload never shows a partial backup, the next
// run succeeds, and prune leaves no orphaned segment.
func TestSwiftBackupSLOAndKill(t *testing.T) {
	testenv.RequireIT(t)
	sw := swiftIT{
		auth:      testenv.Getenv("OPS_IT_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
		user:      testenv.Getenv("OPS_IT_SWIFT_USER", "test:tester"),
		keyFile:   testenv.Getenv("OPS_IT_SWIFT_KEY_FILE", "/var/lib/ops-test/swift/tester.key"),
		container: fmt.Sprintf("ops_it_%d", rand.Uint32()),
	}
	if _, err := exec.LookPath("swift"); err != nil {
		t.Fatalf("the swift client is missing (scripts/services.sh start swift): %v", err)
	}
	db, sock, name := itSource(t, "swift",
		"CREATE TABLE {db}.t (id INT PRIMARY KEY, pad VARCHAR(255), n DOUBLE)",
		// random text compresses about 2:1, so ~12 MB of SQL gives several 1 MiB segments
		"INSERT INTO {db}.t SELECT seq, CONCAT(MD5(RAND()), MD5(RAND()), MD5(RAND())), RAND() FROM {db}.seq_1_to_100000")
	addr2 := testenv.Getenv("OPS_IT_MYSQL2_ADDR", "127.0.0.1:3307")
	db2 := itOpen(t, "root@tcp("+addr2+")/", "scripts/services.sh start mariadb2")
	t.Cleanup(func() {
		db2.Exec("DROP DATABASE IF EXISTS " + name)
		sw.cli(t, "delete", sw.container)
		sw.cli(t, "delete", sw.container+"_segments")
	})
	cfg := writeConfig(t, fmt.Sprintf(`storage:
  targets:
    offsite:
      type: swift
      auth_url: %s
      user: "%s"
      key_file: %s
      container: %s
      segment_size: 1MiB
backup:
  jobs:
    - name: app
      target: offsite
      mysql: {socket: %s, user: root}
      databases: [%s]
      retention: {keep_last: 1}
`, sw.auth, sw.user, sw.keyFile, sw.container, sock, name))

	code, out, stderr := runOps(t, "--config", cfg, "backup", "run")
	if code != 0 {
		t.Fatalf("backup run: %d\n%s\n%s", code, out, stderr)
	}
	_, out, _ = runOps(t, "--config", cfg, "backup", "list", "--output", "json")
	var list []struct {
		ID, Object string
		Size       int64
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("list: %v %s", err, out)
	}
	if list[0].Size <= 3<<20 {
		t.Fatalf("backup is %d bytes, not more than 3 × segment_size", list[0].Size)
	}
	stat := sw.cli(t, "stat", sw.container, list[0].Object)
	if !strings.Contains(stat, "X-Static-Large-Object: True") {
		t.Fatalf("not an SLO:\n%s", stat)
	}
	segs := sw.count(t, sw.container+"_segments")
	if segs < 4 {
		t.Fatalf("%d segments", segs)
	}
	dl := filepath.Join(t.TempDir(), "dump.sql.zst")
	sw.cli(t, "download", sw.container, list[0].Object, "-o", dl)
	load := exec.Command("sh", "-c", fmt.Sprintf("zstd -dc %s | mysql --no-defaults --binary-mode -h %s -P %s -uroot",
		dl, strings.Split(addr2, ":")[0], strings.Split(addr2, ":")[1]))
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("zstd -dc | mysql: %v\n%s", err, out)
	}
	var n1, n2 string
	var c1, c2 sql.NullString
	db.QueryRow("CHECKSUM TABLE "+name+".t").Scan(&n1, &c1)
	db2.QueryRow("CHECKSUM TABLE "+name+".t").Scan(&n2, &c2)
	if !c1.Valid || c1.String != c2.String {
		t.Fatalf("CHECKSUM TABLE differs: %v vs %v", c1, c2)
	}

	// Kill -9 while segments are going up.
	cmd := opsProcess("--config", cfg, "backup", "run")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && sw.count(t, sw.container+"_segments") <= segs {
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if sw.count(t, sw.container+"_segments") <= segs {
		t.Fatal("the killed run uploaded no segment before it was killed")
	}
	_, out, _ = runOps(t, "--config", cfg, "backup", "list", "--all", "--output", "json")
	var all []struct{ ID string }
	json.Unmarshal([]byte(out), &all)
	if len(all) != 1 || all[0].ID != list[0].ID {
		t.Fatalf("after kill -9, list --all = %s", out)
	}
	time.Sleep(1100 * time.Millisecond)
	if code, _, stderr := runOps(t, "--config", cfg, "backup", "run", "--no-prune"); code != 0 {
		t.Fatalf("run after kill: %s", stderr)
	}
	code, out, stderr = runOps(t, "--config", cfg, "backup", "prune", "--grace", "1s")
	if code != 0 || !strings.Contains(out, "remove orphan") {
		t.Fatalf("prune: %d\n%s\n%s", code, out, stderr)
	}
	_, out, _ = runOps(t, "--config", cfg, "backup", "list", "--all", "--output", "json")
	var left []struct{ ID, Object string }
	json.Unmarshal([]byte(out), &left)
	if len(left) != 1 {
		t.Fatalf("after prune: %s", out)
	}
	// Exactly the live backup's objects remain: its stream and manifest,
	// and its own segments.
	if got := sw.count(t, sw.container); got != 2 {
		t.Fatalf("%d objects in %s", got, sw.container)
	}
	live := sw.cli(t, "list", sw.container+"_segments")
	for _, l := range strings.Split(strings.TrimSpace(live), "\n") {
		if !strings.HasPrefix(l, left[0].Object+"/") {
			t.Fatalf("orphaned segment left: %s", l)
		}
	}
}
