package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/catalog"
	"github.com/opsteam/ops/backup/storage/local"
	"github.com/opsteam/ops/internal/bytesize"
	"github.com/opsteam/ops/internal/schedule"
	"github.com/opsteam/ops/internal/testenv"
)

// statusInventory declares three firewalls missing a required capability
// (three ERROR findings) and a host in maintenance (one WARNING).
const statusInventory = `hosts:
  - {name: hv1, hypervisor: kvm, connection: connected, power: "on", maintenance: true}
firewalls:
  - {name: fw1, vendor: Acme, capabilities: [stateful]}
  - {name: fw2, vendor: Acme, capabilities: [stateful]}
  - {name: fw3, vendor: Acme, capabilities: []}
`

// ageBackup makes the job's only backup look made d earlier (by cron, days
// ago): its directory takes the ID of that time and its manifest the
// times, ID and object name, signed again with the job's key.
func ageBackup(t *testing.T, target, keyFile, job string, d time.Duration) string {
	t.Helper()
	ctx := t.Context()
	j := backup.DefaultJob()
	j.Name, j.DefaultKeyFile = job, keyFile
	store := local.New(target)
	list, err := backup.ListBackups(ctx, store, j, false)
	if err != nil || len(list) != 1 {
		t.Fatalf("backups of %s: %v %v", job, list, err)
	}
	m := list[0].ManifestData()
	oldID := m.ID
	m.StartedAt, m.FinishedAt = m.StartedAt.Add(-d), m.FinishedAt.Add(-d)
	m.ID = catalog.NewID(m.StartedAt)
	if err := os.Rename(filepath.Join(target, job, oldID), filepath.Join(target, job, m.ID)); err != nil {
		t.Fatal(err)
	}
	m.Object.Name = strings.Replace(m.Object.Name, "/"+oldID+"/", "/"+m.ID+"/", 1)
	for i := range m.Object.Segments {
		m.Object.Segments[i].Name = strings.Replace(m.Object.Segments[i].Name, "/"+oldID+"/", "/"+m.ID+"/", 1)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.WriteManifest(ctx, store, path.Dir(m.Object.Name), m, bytes.TrimRight(key, "\r\n")); err != nil {
		t.Fatal(err)
	}
	if list, err := backup.ListBackups(ctx, store, j, false); err != nil || len(list) != 1 || list[0].ID != m.ID || list[0].Status != catalog.StatusComplete {
		t.Fatalf("the aged backup does not list as complete: %+v %v", list, err)
	}
	return m.ID
}

// statusRow returns the <tr> of one row of the status page's DOM.
func statusRow(t *testing.T, dom, kind, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr class="[^"]*" data-kind="` + kind + `" data-name="` + name + `">.*?</tr>`).FindString(dom)
	if m == "" {
		t.Fatalf("the page shows no row for %s %s:\n%s", kind, name, dom)
	}
	return m
}

// `ops serve`'s status page as headless Chromium renders it, with real
// backups made by one-shot commands (as cron would) on mariadb3: the last
// good backup's ID, time and size; a backup older than twice its schedule
// in red; the archive's lag and recoverable window; the inventory's three
// errors in red although its run succeeded. OPS_SCREENSHOT_DIR keeps
// status.png (1200x800).
func TestServeStatusPageChromiumIT(t *testing.T) {
	testenv.RequireIT(t)
	root := itOpen(t, testenv.Getenv("OPS_IT_MYSQL3_DSN", "root:@tcp(127.0.0.1:3308)/"), "scripts/services.sh start mariadb3")
	db := fmt.Sprintf("status_it_%d", rand.Uint32())
	t.Cleanup(func() { root.Exec("DROP DATABASE IF EXISTS " + db) })
	exec1 := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := root.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	exec1("CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200))",
		"INSERT INTO "+db+".t (v) VALUES "+strings.Repeat("(REPEAT('x', 200)),", 499)+"('last')")

	tmp := t.TempDir()
	target := filepath.Join(tmp, "target")
	decl := filepath.Join(tmp, "inventory.yaml")
	if err := os.WriteFile(decl, []byte(statusInventory), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(testenv.Getenv("OPS_IT_MYSQL3_ADDR", "127.0.0.1:3308"), ":")
	addr := freeAddr(t)
	cfg := writeConfig(t, fmt.Sprintf(`lock_dir: %s
storage:
  targets:
    local: {type: local, path: %s}
backup:
  jobs:
    - name: app
      mysql: {host: %s, port: %s, user: ops_binlog}
      databases: [%s]
      threads: 1
      schedule: "0 3 * * *"
      binlog: {enabled: true, flush_interval: 1s}
    - name: old
      mysql: {host: %s, port: %s, user: ops_binlog}
      databases: [%s]
      threads: 1
      schedule: "@daily"
inventory:
  sources:
    - {name: declared, type: file, path: %s}
  require_firewall_capabilities: [stateful, ips]
  schedule: "@every 1s"
serve:
  listen: %s
`, filepath.Join(tmp, "locks"), target, host, port, db, host, port, db, decl, addr))

	// What cron made: a backup of each job, an archive of app's binary log,
	// and old's backup three days ago.
	for _, args := range [][]string{{"backup", "run", "--job", "app"}, {"backup", "run", "--job", "old"}} {
		if code, out, stderr := runOps(t, append([]string{"--config", cfg}, args...)...); code != 0 {
			t.Fatalf("ops %v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	exec1("INSERT INTO " + db + ".t (v) VALUES ('after the backup')")
	if code, out, stderr := runOps(t, "--config", cfg, "backup", "binlog", "--job", "app", "--once"); code != 0 {
		t.Fatalf("ops backup binlog --once: exit %d\n%s%s", code, out, stderr)
	}
	oldID := ageBackup(t, target, filepath.Join(filepath.Dir(cfg), "keys", "old.key"), "old", 75*time.Hour)
	j := backup.DefaultJob()
	j.Name, j.DefaultKeyFile = "app", filepath.Join(filepath.Dir(cfg), "keys", "app.key")
	apps, err := backup.ListBackups(t.Context(), local.New(target), j, false)
	if err != nil || len(apps) != 1 {
		t.Fatalf("app's backups: %v %v", apps, err)
	}
	app := apps[0]

	cmd, _, exited := startServe(t, cfg)

	// Ready: the inventory ran and serve's archiver reports.
	var st schedule.StatusPage
	deadline := time.Now().Add(90 * time.Second)
	for {
		exec1("INSERT INTO " + db + ".t (v) VALUES ('while serving')")
		if resp, err := http.Get("http://" + addr + "/status.json"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			st = schedule.StatusPage{}
			if json.Unmarshal(body, &st) == nil && statusReady(st) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status page never showed the inventory run and a running archiver: %+v", st)
		}
		select {
		case err := <-exited:
			t.Fatalf("ops serve exited: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
	}

	url := "http://" + addr + "/"
	dom, _ := testenv.Chromium(t, "--dump-dom", url)
	appRow := statusRow(t, dom, "backup", "app")
	for _, want := range []string{`class="row-success"`, `<span class="backup success"><code>` + app.ID + `</code>`,
		app.StartedAt.Local().Format(schedule.TimeLayout), bytesize.Human(app.Size), "fresh: newer than 48h"} {
		if !strings.Contains(appRow, want) {
			t.Errorf("app's row lacks %q:\n%s", want, appRow)
		}
	}
	if !strings.Contains(appRow, ">never<") {
		t.Errorf("app's row should say serve itself never ran it (the backup is cron's):\n%s", appRow)
	}
	oldRow := statusRow(t, dom, "backup", "old")
	for _, want := range []string{`class="row-failure"`, `<span class="backup failure"><code>` + oldID + `</code>`, "3d3h ago", "stale: older than 48h"} {
		if !strings.Contains(oldRow, want) {
			t.Errorf("old's row lacks %q:\n%s", want, oldRow)
		}
	}
	arch := statusRow(t, dom, "binlog", "app")
	for _, want := range []string{`class="row-success"`, `<span class="running">running</span>`, `<td class="window success">`,
		"from backup <code>" + app.ID + "</code> (1 backup(s) can be rolled forward)", `<td class="num lag">`} {
		if !strings.Contains(arch, want) {
			t.Errorf("the archive's row lacks %q:\n%s", want, arch)
		}
	}
	if w := st.Archivers[0].Window; w == nil || w.Backup != app.ID || w.Backups != 1 || w.Until.Before(w.From) || w.UntilPosition == "" {
		t.Errorf("/status.json window %+v, want from backup %s on", w, app.ID)
	}
	inv := statusRow(t, dom, "inventory", "inventory")
	for _, want := range []string{`class="row-failure"`, `<span class="sev-error failure">3 error</span>`, `<span class="sev-warning problem">1 warning</span>`,
		`<span class="success">success</span>`} {
		if !strings.Contains(inv, want) {
			t.Errorf("the inventory's row lacks %q:\n%s", want, inv)
		}
	}

	dir := testenv.Getenv("OPS_SCREENSHOT_DIR", t.TempDir())
	png := filepath.Join(dir, "status.png")
	testenv.Chromium(t, "--screenshot="+png, "--window-size=1200,800", "--hide-scrollbars", url)
	data, err := os.ReadFile(png)
	if err != nil || len(data) < 24 || string(data[1:4]) != "PNG" {
		t.Fatalf("screenshot %s: %v", png, err)
	}
	if w, h := binary.BigEndian.Uint32(data[16:20]), binary.BigEndian.Uint32(data[20:24]); w != 1200 || h != 800 || len(data) < 30_000 {
		t.Errorf("screenshot %s: %dx%d, %d bytes; want 1200x800 and not blank", png, w, h, len(data))
	}
	t.Logf("screenshot: %s", png)

	stopServe(t, cmd, exited)
}

// statusReady: the inventory ran and the archiver reports with a window.
func statusReady(st schedule.StatusPage) bool {
	ran := false
	for _, j := range st.Jobs {
		if j.Kind == "inventory" && j.Runs > 0 && len(j.Findings) > 0 {
			ran = true
		}
	}
	return ran && len(st.Archivers) == 1 && st.Archivers[0].Running && st.Archivers[0].Window != nil
}
