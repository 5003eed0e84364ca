package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Three runs of a declared inventory (a VM added, one removed, one powered
// off) keep three snapshots; `history` lists them newest first, `diff
// --since` compares the oldest in the window with a fresh run.
func TestInventoryHistoryCLI(t *testing.T) {
	dir := t.TempDir()
	decl := filepath.Join(dir, "inventory.yaml")
	hist := filepath.Join(dir, "history")
	prom := filepath.Join(dir, "ops.prom")
	cfg := writeConfig(t, "inventory:\n  sources:\n    - {name: declared, type: file, path: "+decl+"}\n"+
		"  history: {dir: "+hist+", keep: 5}\n")
	runs := []string{
		"vms:\n  - {name: app1, power: \"on\"}\n  - {name: app2, power: \"on\"}\n",
		"vms:\n  - {name: app1, power: \"on\"}\n  - {name: app2, power: \"on\"}\n  - {name: app3, power: \"on\"}\n", // app3 added
		"vms:\n  - {name: app1, power: \"off\"}\n  - {name: app3, power: \"on\"}\n",                                 // app2 removed, app1 off
	}
	for i, body := range runs {
		if err := os.WriteFile(decl, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runOps(t, "--config", cfg, "inventory", "--output", "json", "--metrics-file", prom); code != 0 {
			t.Fatalf("run %d: code %d: %s", i, code, stderr)
		}
	}
	// the last run's gauges: VMs by power, every state present
	b, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		`ops_inventory_vms{power="on"}`: 1, `ops_inventory_vms{power="off"}`: 1, `ops_inventory_vms{power="suspended"}`: 0,
		`ops_inventory_hosts{connection="disconnected"}`: 0, `ops_inventory_findings{severity="error"}`: 0,
		`ops_inventory_snapshot_oldest_age_seconds`: 0,
	} {
		if got := metricValue(string(b), series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	code, out, stderr := runOps(t, "--config", cfg, "inventory", "history", "--output", "json")
	if code != 0 {
		t.Fatalf("history: %d %s", code, stderr)
	}
	var snaps []struct {
		File                string
		VMs, VMsOn, VMsOff  int
		CollectedAt         string `json:"collected_at"`
		Error               string
		SourcesOK           bool `json:"sources_ok"`
		Hosts, Errors, Warn int
	}
	if err := json.Unmarshal([]byte(out), &snaps); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(snaps) != 3 {
		t.Fatalf("want 3 snapshots: %s", out)
	}
	// newest first: the third run (2 VMs, 1 on) then the second (3 VMs)
	if snaps[0].VMs != 2 || snaps[1].VMs != 3 || snaps[2].VMs != 2 || snaps[0].Error != "" || !snaps[0].SourcesOK {
		t.Errorf("history: %s", out)
	}
	code, table, _ := runOps(t, "--config", cfg, "inventory", "history")
	if code != 0 || !strings.HasPrefix(table, "COLLECTED") || strings.Count(table, ".json.gz") != 3 {
		t.Errorf("history table: %d\n%s", code, table)
	}

	// the oldest snapshot in the last hour is the first run
	code, out, stderr = runOps(t, "--config", cfg, "inventory", "diff", "--since", "1h", "--output", "json")
	if code != 1 {
		t.Fatalf("diff --since: code %d, want 1 (they differ): %s %s", code, out, stderr)
	}
	var d struct {
		Differ  bool
		Added   []struct{ Kind, Source, Name string }
		Removed []struct{ Kind, Source, Name string }
		Changed []struct {
			Kind, Source, Name string
			Fields             []struct {
				Field    string
				Old, New any
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Differ || len(d.Added) != 1 || d.Added[0].Name != "app3" || len(d.Removed) != 1 || d.Removed[0].Name != "app2" ||
		len(d.Changed) != 1 || d.Changed[0].Name != "app1" || d.Changed[0].Fields[0].Field != "power" || d.Changed[0].Fields[0].New != "off" {
		t.Errorf("diff --since: %s", out)
	}
	// the same JSON as diff OLD NEW on the snapshot files
	oldest := filepath.Join(hist, snaps[2].File)
	newest := filepath.Join(hist, snaps[0].File)
	code, out2, _ := runOps(t, "inventory", "diff", "--output", "json", oldest, newest)
	if code != 1 || out2 != out {
		t.Errorf("diff OLD NEW: code %d\n%s\nwant\n%s", code, out2, out)
	}
	// a fresh run identical to the newest snapshot: no difference, exit 0
	if err := os.WriteFile(filepath.Join(hist, "inventory-29990101T000000Z.json.gz"), []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runOps(t, "--config", cfg, "inventory", "history")
	if code != 0 || !strings.Contains(out, "inventory-29990101T000000Z.json.gz: ") || !strings.Contains(stderr, "not a readable inventory snapshot") {
		t.Errorf("a corrupt snapshot must be listed and named: %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := runOps(t, "--config", cfg, "inventory", "diff", "--since", "1ns"); code != 2 || !strings.Contains(stderr, "no snapshot kept") {
		t.Errorf("diff --since with an empty window: %d %s", code, stderr)
	}
	if code, _, _ := runOps(t, "--config", cfg, "inventory", "diff", "--since", "1h", oldest, newest); code != 2 {
		t.Errorf("--since with OLD NEW: code %d, want 2", code)
	}
	// the page: the changes since the previous snapshot and the trend
	page := filepath.Join(dir, "inventory.html")
	if code, _, stderr := runOps(t, "--config", cfg, "inventory", "--output", "html", "--report-file", page); code != 0 {
		t.Fatalf("html: %d %s", code, stderr)
	}
	html, _ := os.ReadFile(page)
	for _, want := range []string{"Changes since the previous snapshot", "Nothing changed since the previous snapshot", `<svg class="trend"`, "4 runs</span>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// a history that cannot be written: the report still goes out, exit 3
	blocked := filepath.Join(dir, "a-file")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := writeConfig(t, "inventory:\n  sources:\n    - {name: declared, type: file, path: "+decl+"}\n  history: {dir: "+blocked+"/h}\n")
	if code, out, stderr := runOps(t, "--config", bad, "inventory", "--output", "json"); code != 3 || !strings.Contains(out, "app3") ||
		!strings.Contains(stderr, "inventory history") {
		t.Errorf("unwritable history: code %d, stdout %.80q, stderr %s", code, out, stderr)
	}
	noHist := writeConfig(t, "inventory:\n  sources:\n    - {name: declared, type: file, path: "+decl+"}\n")
	if code, _, stderr := runOps(t, "--config", noHist, "inventory", "history"); code != 2 || !strings.Contains(stderr, "inventory.history.dir") {
		t.Errorf("history without a dir: %d %s", code, stderr)
	}
}
