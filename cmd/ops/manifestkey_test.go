package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsteam/ops/backup"
	"github.com/opsteam/ops/backup/compress"
	"github.com/opsteam/ops/backup/mysql/dump"
	"github.com/opsteam/ops/backup/storage/local"
)

// keyBed is a config with a local target and job "app", and a way to
// store a backup of it without a server.
type keyBed struct {
	cfg, dir string
}

func newKeyBed(t *testing.T) *keyBed {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ops.yaml")
	body := fmt.Sprintf("storage:\n  targets:\n    local: {type: local, path: %s}\nbackup:\n  jobs:\n    - name: app\n      target: local\n", filepath.Join(dir, "b"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &keyBed{cfg: cfg, dir: dir}
}

// backup stores one backup of job app, with the manifest key in keyFile
// ("" = none; created when missing).
func (b *keyBed) backup(t *testing.T, keyFile string) {
	t.Helper()
	job := backup.DefaultJob()
	job.Name, job.DefaultKeyFile = "app", keyFile
	dump := func(_ context.Context, o dump.DumpOptions, w io.Writer) (*dump.DumpResult, error) {
		c, err := o.Compression.NewCodec(0, 1)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		frame, _ := c.Compress(nil, []byte("CREATE DATABASE IF NOT EXISTS `app`;\nUSE `app`;\n"))
		_, err = w.Write(frame)
		return &dump.DumpResult{Databases: []string{"app"}, Compression: compress.Zstd}, err
	}
	if _, err := backup.RunBackup(context.Background(), backup.RunOptions{Job: job, Store: local.New(filepath.Join(b.dir, "b")), Dump: dump}); err != nil {
		t.Fatal(err)
	}
}

// Without the job's manifest key, verify (and restore) refuse a backup
// with exit 2 unless --trust-unauthenticated-manifest; with the key that
// the first backup created beside the config, the backup verifies.
func TestVerifyNeedsTheManifestKeyOrTheFlag(t *testing.T) {
	b := newKeyBed(t)
	b.backup(t, "")
	code, out, stderr := runOps(t, "--config", b.cfg, "backup", "verify", "--job", "app")
	if code != 2 || !strings.HasPrefix(out, "UNAUTHENTICATED app ") || !strings.Contains(stderr, "--trust-unauthenticated-manifest") {
		t.Fatalf("verify without a key: %d\n%s\n%s", code, out, stderr)
	}
	code, _, stderr = runOps(t, "--config", b.cfg, "backup", "restore", "--job", "app")
	if code != 2 || !strings.Contains(stderr, "not authenticated") {
		t.Fatalf("restore without a key: %d\n%s", code, stderr)
	}
	code, out, stderr = runOps(t, "--config", b.cfg, "backup", "verify", "--job", "app", "--trust-unauthenticated-manifest")
	if code != 0 || !strings.HasPrefix(out, "OK app ") || !strings.Contains(stderr, "not authenticated") {
		t.Fatalf("verify with --trust-unauthenticated-manifest: %d\n%s\n%s", code, out, stderr)
	}

	key := filepath.Join(b.dir, "keys", "app.key") // the default beside ops.yaml
	b.backup(t, key)
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("default key: %v %v", st, err)
	}
	code, out, stderr = runOps(t, "--config", b.cfg, "backup", "verify", "--job", "app")
	if code != 0 || !strings.HasPrefix(out, "OK app ") {
		t.Fatalf("verify of the newest backup with the default key: %d\n%s\n%s", code, out, stderr)
	}
	code, out, _ = runOps(t, "--config", b.cfg, "backup", "list", "--job", "app", "--all", "--output", "json")
	if code != 0 || strings.Count(out, `"status": "untrusted"`) != 1 || strings.Count(out, `"authenticated": true`) != 1 {
		t.Fatalf("list: the old backup (no MAC) is untrusted now that a key exists, the new one authenticated: %d\n%s", code, out)
	}
	var list []map[string]any
	_ = json.Unmarshal([]byte(out), &list)
	oldID := list[len(list)-1]["id"].(string)
	// The backup from before the key: refused, unless the risk is accepted.
	code, out, _ = runOps(t, "--config", b.cfg, "backup", "verify", "--job", "app", "--backup", oldID)
	if code != 1 || !strings.HasPrefix(out, "UNTRUSTED app ") {
		t.Fatalf("verify of the backup from before the key: %d\n%s", code, out)
	}
	code, out, stderr = runOps(t, "--config", b.cfg, "backup", "verify", "--job", "app", "--backup", oldID, "--trust-unauthenticated-manifest")
	if code != 0 || !strings.HasPrefix(out, "OK app "+oldID) {
		t.Fatalf("verify --trust-unauthenticated-manifest of the backup from before the key: %d\n%s\n%s", code, out, stderr)
	}
	// A manifest with a wrong MAC is refused whatever the flag.
	mp := filepath.Join(b.dir, "b", list[0]["manifest"].(string))
	data, _ := os.ReadFile(mp)
	data = []byte(strings.Replace(string(data), `"mac": "hmac-sha256:`, `"mac": "hmac-sha256:00`, 1))
	if err := os.WriteFile(mp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runOps(t, "--config", b.cfg, "backup", "verify", "--job", "app", "--backup", list[0]["id"].(string), "--trust-unauthenticated-manifest")
	if code != 1 || !strings.HasPrefix(out, "UNTRUSTED app ") {
		t.Fatalf("verify --trust-unauthenticated-manifest of a manifest with a wrong MAC: %d\n%s", code, out)
	}
}

// config check names the default key file when it will be created, and
// warns about a job that can have none.
func TestConfigCheckManifestKey(t *testing.T) {
	job := backup.DefaultJob()
	if msg, warn := job.KeyStatus(); !warn || !strings.Contains(msg, "not authenticated") {
		t.Errorf("no key file at all: %q %v", msg, warn)
	}
	job.DefaultKeyFile = filepath.Join(t.TempDir(), "keys", "default.key")
	if msg, warn := job.KeyStatus(); warn || !strings.Contains(msg, "created at the first backup") {
		t.Errorf("default key to create: %q %v", msg, warn)
	}
	if defaultKeyFile("/etc/ops/ops.yaml", "app") != "/etc/ops/keys/app.key" {
		t.Errorf("default key for /etc/ops/ops.yaml: %s", defaultKeyFile("/etc/ops/ops.yaml", "app"))
	}
	t.Setenv("XDG_CONFIG_HOME", "/x/cfg")
	if got := defaultKeyFile("", "app"); got != "/x/cfg/ops/keys/app.key" {
		t.Errorf("default key without a config file: %s", got)
	}
}
